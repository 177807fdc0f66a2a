"""The worker's batch consumer on the real embedded broker: whole batches, order, commit only after the stage."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from confluent_kafka import TopicPartition

from gridmon.ingest.messages import RawMessage
from gridmon.kafka.clients import make_consumer, make_producer
from gridmon.pipeline.consumer import BatchConsumer
from gridmon.pipeline.runner import prepare_topics
from gridmon.settings import Settings

MESSAGES = 6_000


def _produce(settings: Settings, topic: str, count: int) -> None:
    producer = make_producer(settings, settings.kafka_bootstrap or "")
    for number in range(count):
        producer.produce(topic, key=f"pmu-{number % 16}".encode(), value=str(number).encode())
        if number % 1000 == 0:
            producer.poll(0)
    assert producer.flush(30) == 0


def _committed(settings: Settings, group: str, topic: str) -> dict[int, int]:
    consumer = make_consumer(settings, settings.kafka_bootstrap or "", group_id=group)
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        asked = [TopicPartition(topic, partition) for partition in partitions]
        return {tp.partition: tp.offset for tp in consumer.committed(asked, timeout=10)}
    finally:
        consumer.close()


def _consumer(
    settings: Settings, handler: object, group: str, max_messages: int, max_bytes: int | None = None
) -> BatchConsumer:
    topic = settings.topic("grid.pmu")
    return BatchConsumer(
        settings,
        settings.kafka_bootstrap or "",
        {topic: handler},  # type: ignore[dict-item]
        group_id=group,
        max_messages=max_messages,
        window_s=0.3,
        max_bytes=max_bytes,
    )


def test_batches_are_large_ordered_and_committed_after_the_stage(settings: Settings) -> None:
    prepare_topics(settings, settings.kafka_bootstrap or "")
    topic = settings.topic("grid.pmu")
    group = settings.topic("batch-test")
    _produce(settings, topic, MESSAGES)
    batches: list[int] = []
    seen: dict[int, list[int]] = {}
    release = asyncio.Event()

    async def stage(messages: Sequence[RawMessage]) -> None:
        batches.append(len(messages))
        for message in messages:  # calls come in batch order (the next may start before this one returns)
            seen.setdefault(message.partition, []).append(message.offset)
        if len(batches) == 1:
            await release.wait()  # the first batch is "being stored": nothing may be committed yet

    async def run() -> dict[int, int]:
        consumer = _consumer(settings, stage, group, max_messages=5_000)
        await consumer.start()
        try:
            while not batches:
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.5)  # later batches may finish; no commit may pass the unfinished first one
            during = await asyncio.to_thread(_committed, settings, group, topic)
            release.set()
            while sum(len(offsets) for offsets in seen.values()) < MESSAGES:
                await asyncio.sleep(0.1)
        finally:
            await consumer.stop()
        return during

    committed_while_storing = asyncio.run(run())
    assert all(offset < 0 for offset in committed_while_storing.values()), committed_while_storing
    assert max(batches) > 1_000  # Faust's take_events gave ~450 whatever the maximum
    for partition, offsets in seen.items():
        assert offsets == list(range(len(offsets))), f"partition {partition} out of order or doubled"
    assert sum(len(offsets) for offsets in seen.values()) == MESSAGES
    after = _committed(settings, group, topic)
    assert {p: after[p] for p in seen} == {p: len(offsets) for p, offsets in seen.items()}


def test_a_restarted_consumer_resumes_after_the_last_handled_batch(settings: Settings) -> None:
    prepare_topics(settings, settings.kafka_bootstrap or "")
    topic = settings.topic("grid.pmu")
    group = settings.topic("batch-resume")
    _produce(settings, topic, 2_000)
    handled: list[tuple[int, int]] = []

    async def stage(messages: Sequence[RawMessage]) -> None:
        handled.extend((m.partition, m.offset) for m in messages)

    async def consume_until(total: int) -> None:
        consumer = _consumer(settings, stage, group, max_messages=500)
        await consumer.start()
        try:
            while len(handled) < total:
                await asyncio.sleep(0.05)
        finally:
            await consumer.stop()

    asyncio.run(consume_until(2_000))
    _produce(settings, topic, 1_000)
    asyncio.run(consume_until(3_000))
    assert len(handled) == 3_000
    assert len(set(handled)) == 3_000  # nothing handled twice across the restart


def test_big_messages_make_batches_bounded_in_bytes(settings: Settings) -> None:
    """A head-end message carries thousands of reads: a batch of 10,000 of them would be gigabytes decoded."""
    prepare_topics(settings, settings.kafka_bootstrap or "")
    topic = settings.topic("grid.pmu")
    producer = make_producer(settings, settings.kafka_bootstrap or "")
    for number in range(300):
        producer.produce(topic, key=b"head-end", value=str(number).encode().ljust(20_000))
    assert producer.flush(30) == 0
    batches: list[list[int]] = []

    async def stage(messages: Sequence[RawMessage]) -> None:
        batches.append([int(message.value or b"0") for message in messages])

    async def run() -> None:
        consumer = _consumer(settings, stage, settings.topic("bytes-test"), 10_000, max_bytes=100_000)
        await consumer.start()
        try:
            while sum(map(len, batches)) < 300:
                await asyncio.sleep(0.05)
        finally:
            await consumer.stop()

    asyncio.run(run())
    assert [n for batch in batches for n in batch] == list(range(300))  # one partition (one key): in order
    first, *rest = map(len, batches)
    assert first <= 64  # before the size of the messages is known, one fetch asks for 64 at most
    assert rest and max(rest) <= 6  # then 100 kB of 20 kB messages (+ one): not 300 in one batch
