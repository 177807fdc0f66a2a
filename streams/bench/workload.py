"""The traffic a benchmark sends: the simulator on a generated grid, produced as fast as possible or paced.

Runs in a process of its own (like a real field gateway), so generating traffic never steals the worker's GIL.
`sent_ns` is stamped when a chunk is handed to Kafka, after pacing: latency is measured from that moment.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from gridmon.grid.generate import generate
from gridmon.kafka.clients import make_producer
from gridmon.settings import Settings
from gridmon.simulate import Simulator
from gridmon.simulate.realities import Rates


@dataclass(frozen=True)
class Workload:
    """A generated grid (`small` ≈1k, `medium` ≈50k, `large` ≈1M meters) and a scenario on it.

    AMI intervals are one minute (not 15) so that meter reads flow within a short run.
    """

    size: str = "medium"
    scenario: str = "mixed"
    seed: int = 1
    meter_interval_s: int = 60

    def simulator(self, event_seconds: float, start_ns: int, chunk_s: float) -> Simulator:
        return Simulator(
            generate(self.size, seed=self.seed),
            self.scenario,
            seed=self.seed,
            start_ns=start_ns,
            duration_s=event_seconds,
            rates=Rates(meter_interval_s=self.meter_interval_s),
            chunk_s=chunk_s,
            sent_clock="wall",
        )


@dataclass(frozen=True)
class TrafficSpec:
    """What one producer run sends: `event_seconds` of traffic starting at `start_ns`, at `speed`× real time
    (None: as fast as the producer goes)."""

    settings: Settings
    bootstrap: str
    workload: Workload
    event_seconds: float
    start_ns: int
    speed: float | None = None
    chunk_s: float = 0.25
    # generate every chunk before sending (stamping `sent_ns` at send time): a latency measurement must not
    # share the machine's cores with the simulator (it costs about as much CPU as the worker it feeds)
    pregenerate: bool = False


@dataclass(frozen=True)
class TrafficSent:
    messages: int
    readings: int
    wall_s: float


def send_traffic(spec: TrafficSpec) -> TrafficSent:
    """Produce every chunk; a paced run sleeps until a chunk is due, then stamps and sends it."""
    simulator = spec.workload.simulator(spec.event_seconds, spec.start_ns, spec.chunk_s)
    producer = make_producer(spec.settings, spec.bootstrap)
    topics = {
        name: spec.settings.topic(name) for name in ("grid.pmu", "grid.sensor", "grid.meter", "grid.scada")
    }
    batches: Iterator[Any] = iter(list(simulator.batches())) if spec.pregenerate else simulator.batches()
    messages = readings = 0
    started = time.monotonic()
    for index in itertools.count():
        if spec.speed is not None:
            _sleep_until(started + index * spec.chunk_s / spec.speed)
        batch = next(batches, None)
        if batch is None:
            break
        for topic, key, value in batch.messages:
            _produce(producer, topics[topic], key, _stamped(value) if spec.pregenerate else value)
        producer.poll(0)
        messages += len(batch.messages)
        readings += sum(batch.readings)
    if producer.flush(120):
        raise RuntimeError("the benchmark producer could not deliver its messages in 120 s")
    return TrafficSent(messages, readings, time.monotonic() - started)


_SENT_NS = re.compile(rb'"sent_ns":\d{19}')


def _stamped(value: bytes) -> bytes:
    """The envelope with `sent_ns` set to now (19 digits until 2286, so the JSON keeps its length)."""
    return _SENT_NS.sub(b'"sent_ns":%d' % time.time_ns(), value, count=1)


def _sleep_until(due: float) -> None:
    wait = due - time.monotonic()
    if wait > 0:
        time.sleep(wait)


def _produce(producer: Any, topic: str, key: bytes, value: bytes) -> None:
    while True:
        try:
            producer.produce(topic, value=value, key=key)
            return
        except BufferError:  # local queue full: backpressure, wait for the broker
            producer.poll(0.05)
