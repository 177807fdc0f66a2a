"""Publish mapped readings as gridmon envelopes (one Kafka message per batch) and adapter dead letters.

Delivery is confirmed by the producer's callbacks and counted in the adapter's health; librdkafka keeps
retrying while the broker is away, and `flush()` on shutdown waits for what was already accepted.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import msgspec

from gridmon.adapters.health import AdapterHealth
from gridmon.records import DeadLetter, DeadLetterReason, Envelope, Kind
from gridmon.settings import Settings

_ENVELOPE_OVERHEAD = 256


def adapter_dead_letter(
    reason: DeadLetterReason,
    detail: str,
    endpoint: str,
    original: bytes,
    sequence: int,
    device: str | None = None,
) -> DeadLetter:
    """A dead letter for field data that never reached Kafka: the source is the field endpoint URI."""
    return DeadLetter(
        reason=reason,
        detail=detail,
        source_topic=endpoint,
        partition=-1,
        offset=sequence,
        received_ns=time.time_ns(),
        device=device,
        original=original[:4096],
    )


class EnvelopePublisher:
    """Encodes and produces envelopes and dead letters through one confluent-kafka Producer."""

    def __init__(self, settings: Settings, producer: Any, health: AdapterHealth) -> None:
        self.settings = settings
        self.producer = producer
        self.health = health
        self.max_bytes = settings.max_message_bytes - _ENVELOPE_OVERHEAD
        self._dead_letter_topic = settings.topic("grid.deadletter")

    def publish(self, kind: Kind, readings: Sequence[Any], key: str, source: str) -> int:
        """Produce `readings` as one envelope (split in halves if too big); returns envelopes produced."""
        if not readings:
            return 0
        payload = msgspec.json.encode(
            Envelope(
                readings=list(readings), source=source, sent_ns=time.time_ns(), schema=f"gridmon.{kind}/1"
            )
        )
        if len(payload) > self.max_bytes and len(readings) > 1:
            half = len(readings) // 2
            return self.publish(kind, readings[:half], key, source) + self.publish(
                kind, readings[half:], key, source
            )
        self.producer.produce(
            self.settings.topic(f"grid.{kind}"), payload, key=key.encode(), on_delivery=self._delivered
        )
        self.producer.poll(0)
        self.health.envelopes_published += 1
        self.health.readings_published += len(readings)
        return 1

    def dead_letter(self, letter: DeadLetter, readings: int = 1) -> None:
        """Produce a dead letter, keyed by device when known, and count the readings it stands for."""
        key = (letter.device or letter.source_topic).encode()
        self.producer.produce(self._dead_letter_topic, msgspec.json.encode(letter), key=key)
        self.producer.poll(0)
        self.health.count_dead_letter(letter.reason, readings)

    def _delivered(self, error: Any, message: Any) -> None:
        if error is None:
            self.health.envelopes_delivered += 1
            return
        self.health.delivery_failures += 1
        self.health.last_error = f"Kafka delivery to {message.topic()} failed: {error}"

    def poll(self) -> None:
        self.producer.poll(0)

    def flush(self, timeout_s: float = 30.0) -> int:
        """Wait for outstanding deliveries; returns how many are still not confirmed."""
        return int(self.producer.flush(timeout_s))
