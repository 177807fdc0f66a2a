"""Fixtures for adapter tests: gridmon topics on the session's embedded broker, and a topic reader."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import msgspec
import pytest

from gridmon.ingest.messages import RawMessage
from gridmon.kafka.admin import apply_topics
from gridmon.kafka.catalog import load_catalog
from gridmon.kafka.clients import make_admin, make_consumer, make_producer
from gridmon.records import DeadLetter
from gridmon.settings import Settings

TopicReader = Callable[..., list[Any]]


@pytest.fixture
def topics(settings: Settings) -> Settings:
    """The settings, with every catalog topic created under the test's unique prefix."""
    specs = [spec for spec in load_catalog().values() if spec.name.startswith("grid.")]
    apply_topics(make_admin(settings, settings.kafka_bootstrap or ""), settings, specs)
    return settings


@pytest.fixture
def producer(topics: Settings) -> Any:
    return make_producer(topics, topics.kafka_bootstrap or "", **{"linger.ms": 1})


@pytest.fixture
def read_topic(topics: Settings) -> TopicReader:
    """read_topic(name, until=callable(values)->bool, timeout_s, raw) → decoded values (or RawMessages) of a topic."""

    def read(
        name: str, until: Callable[[list[Any]], bool], timeout_s: float = 20.0, raw: bool = False
    ) -> list[Any]:
        from confluent_kafka import OFFSET_BEGINNING, TopicPartition

        consumer = make_consumer(topics, topics.kafka_bootstrap or "", f"test-{uuid.uuid4().hex[:8]}")
        topic = topics.topic(name)
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        # assign, not subscribe: no group rebalance to wait for, every partition from the start
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        values: list[Any] = []
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline and not until(values):
                for message in consumer.consume(500, 0.5):
                    if message.error() is None:
                        values.append(_raw(message) if raw else _decode(name, message.value()))
        finally:
            consumer.close()
        return values

    return read


def _raw(message: Any) -> RawMessage:
    return RawMessage(message.topic(), message.partition(), message.offset(), message.value(), message.key())


def _decode(name: str, value: bytes) -> Any:
    if name == "grid.deadletter":
        return msgspec.json.decode(value, type=DeadLetter)
    return msgspec.json.decode(value)
