"""The baseline a worker is compared with: a raw confluent-kafka consumer (`consume(n)`) plus orjson per message,
on the same broker and topics, in the same run. It stores nothing and validates nothing: an upper bound."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING, TopicPartition

from gridmon.kafka.clients import make_consumer
from gridmon.settings import Settings

FETCH_MESSAGES = 1_000


def raw_consume_rate(settings: Settings, bootstrap: str, topics: Sequence[str], total: int) -> float:
    """Messages per second to consume and parse `total` messages, timed from the end of the first fetch.

    Partitions are assigned, not subscribed: a consumer group join would only add the broker's join delay.
    """
    consumer = make_consumer(settings, bootstrap, group_id=f"bench-baseline-{uuid.uuid4().hex[:8]}")
    consumer.assign(_all_partitions(consumer, topics))
    try:
        return _timed_consume(consumer, total)
    finally:
        consumer.close()


def _all_partitions(consumer: Any, topics: Sequence[str]) -> list[Any]:
    metadata = consumer.list_topics(timeout=10)
    return [
        TopicPartition(topic, partition, OFFSET_BEGINNING)
        for topic in topics
        for partition in metadata.topics[topic].partitions
    ]


def _timed_consume(consumer: Any, total: int, timeout_s: float = 300.0) -> float:
    seen = timed = 0
    first_at = last_at = 0.0
    deadline = time.monotonic() + timeout_s
    while seen < total and time.monotonic() < deadline:
        messages = consumer.consume(num_messages=FETCH_MESSAGES, timeout=1.0)
        for message in messages:
            if message.error() is None:
                orjson.loads(message.value())
        seen += len(messages)
        if messages and not first_at:
            first_at = time.perf_counter()  # connection set-up and the first fetch are not counted
        elif messages:
            timed += len(messages)
            last_at = time.perf_counter()
    if seen < total or not timed:
        raise RuntimeError(f"the baseline consumer read {seen} of {total} messages in {timeout_s:.0f} s")
    return timed / (last_at - first_at)
