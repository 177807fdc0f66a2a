"""Publishing gridmon's output records (dead letters, anomalies, outages, routed events) to Kafka.

Records are queued in librdkafka as they are produced; `flush` is awaited before the input batch is
acknowledged, so an output is never lost behind a committed input offset.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import msgspec

from gridmon.errors import BrokerError
from gridmon.kafka.clients import make_producer
from gridmon.settings import Settings

_encode = msgspec.json.Encoder().encode


class OutputPublisher:
    """One confluent-kafka producer per worker for every output topic."""

    def __init__(self, settings: Settings, bootstrap: str) -> None:
        self.settings = settings
        self._producer = make_producer(settings, bootstrap, **{"compression.type": "lz4"})
        self._errors: list[str] = []

    def publish(self, topic: str, records: Iterable[tuple[str, Any]]) -> int:
        """Queue (key, record) pairs on the catalog topic `topic`; returns how many were queued."""
        full_name = self.settings.topic(topic)
        count = 0
        for key, record in records:
            value = record if isinstance(record, bytes) else _encode(record)
            self._produce(full_name, key.encode(), value)
            count += 1
        self._producer.poll(0)
        return count

    def _produce(self, topic: str, key: bytes, value: bytes) -> None:
        while True:
            try:
                self._producer.produce(topic, key=key, value=value, on_delivery=self._on_delivery)
                return
            except BufferError:  # local queue full: let librdkafka drain, then retry
                self._producer.poll(0.05)

    def _on_delivery(self, error: Any, message: Any) -> None:
        if error is not None:
            self._errors.append(f"{message.topic()}: {error}")

    def close(self) -> None:
        """Deliver what is queued and let the producer go (before the broker it talks to stops)."""
        self._producer.flush(10)
        self._producer = None

    async def flush(self, timeout_s: float = 30.0) -> None:
        """Wait until every queued record is acknowledged by the broker."""
        remaining = await asyncio.to_thread(self._producer.flush, timeout_s)
        if remaining or self._errors:
            errors, self._errors = self._errors, []
            raise BrokerError(
                f"{remaining} output records not delivered in {timeout_s:.0f}s; errors: {errors[:3]}"
            )
