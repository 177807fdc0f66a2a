"""How far each stage got per (topic, partition): lets the demo, tests and benchmarks wait for 'caught up'."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gridmon.ingest.messages import RawMessage


@dataclass
class Progress:
    """Next offset to process per (topic, partition), and message/reading counters."""

    next_offset: dict[tuple[str, int], int] = field(default_factory=dict)
    messages: int = 0
    readings: int = 0
    dead_letters: int = 0
    opted_out: int = 0  # interval reads of opted-out customers, left out on purpose (docs/privacy.md)
    batches: int = 0
    busy_seconds: float = 0.0  # time spent processing batches
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def record(
        self,
        messages: Sequence[RawMessage],
        readings: int,
        dead_letters: int,
        seconds: float = 0.0,
        opted_out: int = 0,
    ) -> None:
        for message in messages:
            key = (message.topic, message.partition)
            if message.offset + 1 > self.next_offset.get(key, 0):
                self.next_offset[key] = message.offset + 1
        self.messages += len(messages)
        self.readings += readings
        self.dead_letters += dead_letters
        self.opted_out += opted_out
        self.batches += 1
        self.busy_seconds += seconds
        self._changed.set()

    def caught_up(self, end_offsets: dict[tuple[str, int], int]) -> bool:
        return all(self.next_offset.get(tp, 0) >= end for tp, end in end_offsets.items() if end > 0)

    async def wait_caught_up(self, end_offsets: dict[tuple[str, int], int], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.caught_up(end_offsets):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                behind = {
                    f"{t}[{p}]": end - self.next_offset.get((t, p), 0)
                    for (t, p), end in end_offsets.items()
                    if self.next_offset.get((t, p), 0) < end
                }
                raise TimeoutError(
                    f"pipeline did not catch up in {timeout_s:.0f}s; messages behind: {behind}"
                )
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 1.0))


def end_offsets(consumer: Any, topics: Sequence[str]) -> dict[tuple[str, int], int]:
    """The next offset after the last message of every partition of `topics` (a confluent-kafka Consumer).

    The high watermark alone is not trusted: Tansu 0.6 answers ListOffsets(latest) with the base offset of
    the last record batch + 1 (see docs/tansu.md), so we read from there to the end. On Kafka this reads one
    message per partition.
    """
    from confluent_kafka import TopicPartition

    metadata = consumer.list_topics(timeout=10)
    ends: dict[tuple[str, int], int] = {}
    for topic in topics:
        for partition in metadata.topics[topic].partitions:
            _low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            ends[(topic, partition)] = _read_to_end(
                consumer, TopicPartition(topic, partition, high - 1), high
            )
    return ends


def _read_to_end(consumer: Any, start: Any, high: int, first_wait_s: float = 10.0) -> int:
    """Read from `start` (a message that exists) until the partition has nothing more to give."""
    if high <= 0:
        return 0
    consumer.assign([start])
    end, seen_any = high, False
    deadline = time.monotonic() + first_wait_s
    while True:
        messages = consumer.consume(10_000, timeout=0.5)
        offsets = [m.offset() for m in messages if m.error() is None]
        if offsets:
            seen_any = True
            end = max(end, max(offsets) + 1)
        elif seen_any or time.monotonic() > deadline:
            return end
