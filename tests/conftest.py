"""Shared fixtures: one real embedded broker per test session, unique topic names per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from gridmon.kafka.embedded import EmbeddedBroker
from gridmon.settings import Settings, load_settings

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    log = tmp_path_factory.mktemp("broker") / "broker.log"
    with EmbeddedBroker(log_path=log) as running:
        yield running


@pytest.fixture
def topic_prefix() -> str:
    """A prefix that makes every catalog topic unique to the test."""
    return f"t{uuid.uuid4().hex[:10]}."


@pytest.fixture
def settings(tmp_path: Path, broker: EmbeddedBroker, topic_prefix: str) -> Settings:
    return load_settings(
        kafka_bootstrap=broker.bootstrap,
        data_dir=tmp_path / "gridmon",
        topic_prefix=topic_prefix,
        partitions=2,
    )
