"""Send a simulator's batches to Kafka at real time, ×N or as fast as possible, and count what was sent.

Pacing follows event time: a batch is sent when the run's clock (start + elapsed wall time × speed) reaches its
`until_ns`. Counts per kind (messages and readings) are what the demo reconciles with ClickHouse.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gridmon.errors import BrokerError
from gridmon.records import KINDS
from gridmon.settings import Settings
from gridmon.simulate.traffic import Batch, Simulator


@dataclass
class PublishCounts:
    """Messages and readings sent per kind, and how long it took."""

    messages: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    readings: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    bytes: int = 0
    wall_seconds: float = 0.0

    def add(self, batch: Batch) -> None:
        for kind, counted in batch.counts().items():
            self.messages[kind] += counted["messages"]
            self.readings[kind] += counted["readings"]
        self.bytes += sum(len(value) for _, _, value in batch.messages)

    def as_dict(self) -> dict[str, Any]:
        return {
            "messages": dict(self.messages),
            "readings": dict(self.readings),
            "bytes": self.bytes,
            "wall_seconds": round(self.wall_seconds, 3),
        }


class _Deliveries:
    """Counts broker acknowledgements; the first failure is kept to raise after the flush."""

    def __init__(self) -> None:
        self.failed = 0
        self.first_error: str | None = None

    def __call__(self, error: Any, _message: Any) -> None:
        if error is not None:
            self.failed += 1
            self.first_error = self.first_error or str(error)


def publish(
    simulator: Simulator,
    producer: Any,
    settings: Settings,
    speed: float | None = None,
    *,
    progress: bool = True,
    on_batch: Callable[[Batch], None] | None = None,
) -> PublishCounts:
    """Produce every batch; `speed` None = as fast as possible, 1 = real time, N = N× real time."""
    if speed is not None and speed <= 0:
        raise ValueError(f"speed must be positive or None (as fast as possible), got {speed}")
    topics = {f"grid.{kind}": settings.topic(f"grid.{kind}") for kind in KINDS}
    counts = PublishCounts()
    deliveries = _Deliveries()
    started = time.monotonic()
    with _ProgressBar(progress, simulator) as advance:
        for batch in simulator.batches():
            _pace(simulator, batch, speed, started)
            for topic, key, value in batch.messages:
                _produce(producer, topics[topic], key, value, deliveries)
            producer.poll(0)
            counts.add(batch)
            if on_batch is not None:
                on_batch(batch)
            advance(batch, counts)
    remaining = producer.flush(60)
    counts.wall_seconds = time.monotonic() - started
    if remaining or deliveries.failed:
        raise BrokerError(
            f"{deliveries.failed + remaining} messages were not acknowledged by Kafka "
            f"({deliveries.first_error or 'flush timed out'}); check the broker and run again"
        )
    return counts


def _pace(simulator: Simulator, batch: Batch, speed: float | None, started: float) -> None:
    if speed is None:
        return
    due = started + max(0, min(batch.until_ns, simulator.end_ns) - simulator.start_ns) / 1e9 / speed
    wait = due - time.monotonic()
    if wait > 0:
        time.sleep(wait)


def _produce(producer: Any, topic: str, key: bytes, value: bytes, on_delivery: _Deliveries) -> None:
    """Produce, waiting for room when the client's local queue is full (backpressure, not an error)."""
    while True:
        try:
            producer.produce(topic, value=value, key=key, on_delivery=on_delivery)
            return
        except BufferError:
            producer.poll(0.05)


class _ProgressBar:
    """A rich progress bar over event time (no-op when disabled)."""

    def __init__(self, enabled: bool, simulator: Simulator) -> None:
        self.enabled = enabled
        self.simulator = simulator
        self.bar: Any = None

    def __enter__(self) -> Callable[[Batch, PublishCounts], None]:
        if not self.enabled:
            return lambda _batch, _counts: None
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(
            TextColumn("[bold]simulate[/] {task.description}"),
            BarColumn(),
            TextColumn("{task.fields[sent]}"),
            TimeElapsedColumn(),
        )
        self.bar.start()
        total = self.simulator.end_ns - self.simulator.start_ns
        task = self.bar.add_task(self.simulator.scenario.name, total=total, sent="")

        def advance(batch: Batch, counts: PublishCounts) -> None:
            done = min(batch.until_ns, self.simulator.end_ns) - self.simulator.start_ns
            sent = sum(counts.readings.values())
            self.bar.update(task, completed=done, sent=f"{sent:,} readings")

        return advance

    def __exit__(self, *exc_info: object) -> None:
        if self.bar is not None:
            self.bar.stop()
