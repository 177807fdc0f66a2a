"""Readings waiting to be published, per kind: a batch goes out at `batch_size` readings or after a delay.

Message-driven adapters (MQTT, NATS) receive one reading at a time; this turns them into envelopes.
"""

from __future__ import annotations

import time
from typing import Any

from gridmon.adapters.publisher import EnvelopePublisher
from gridmon.records import Kind


class PendingReadings:
    def __init__(self, source: str, batch_size: int = 500, max_delay_s: float = 0.2) -> None:
        self.source = source
        self.batch_size = batch_size
        self.max_delay_s = max_delay_s
        self._pending: dict[Kind, list[Any]] = {}
        self._count = 0
        self._since = 0.0

    def add(self, kind: Kind, readings: list[Any]) -> None:
        if not self._pending:
            self._since = time.monotonic()
        self._pending.setdefault(kind, []).extend(readings)
        self._count += len(readings)

    def wait_s(self, idle_s: float = 3600.0) -> float:
        """How long the adapter may wait for the next message before the batch is due."""
        if not self._pending:
            return idle_s
        return max(0.001, self._since + self.max_delay_s - time.monotonic())

    def due(self) -> bool:
        return self._count >= self.batch_size or (
            self._count > 0 and time.monotonic() - self._since >= self.max_delay_s
        )

    def flush(self, publisher: EnvelopePublisher) -> None:
        """Publish one envelope per kind, keyed by the device when the batch holds only one."""
        pending, self._pending, self._count = self._pending, {}, 0
        for kind, readings in pending.items():
            devices = {reading.device for reading in readings}
            key = next(iter(devices)) if len(devices) == 1 else self.source
            publisher.publish(kind, readings, key, self.source)
            newest = max(_ts_ns(reading.ts) for reading in readings)
            last = publisher.health.last_event_ns
            publisher.health.last_event_ns = newest if last is None else max(last, newest)


def _ts_ns(ts: Any) -> int:
    return ts if isinstance(ts, int) else int(ts.timestamp() * 1e9)
