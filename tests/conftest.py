"""Shared fixtures: one real embedded broker and one embedded ClickHouse per session; unique names per test."""

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


@pytest.fixture(scope="session")
def session_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data dir per test session: chdb can open only one data path per process."""
    return tmp_path_factory.mktemp("gridmon")


@pytest.fixture
def topic_prefix() -> str:
    """A prefix that makes every catalog topic unique to the test."""
    return f"t{uuid.uuid4().hex[:10]}."


@pytest.fixture
def clickhouse_database() -> str:
    """A database of its own for each test, inside the session's one embedded ClickHouse."""
    return f"test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def settings(
    session_data_dir: Path, broker: EmbeddedBroker, topic_prefix: str, clickhouse_database: str
) -> Settings:
    """Settings for a test: the session broker and chdb, unique topics and a unique database."""
    return load_settings(
        kafka_bootstrap=broker.bootstrap,
        data_dir=session_data_dir,
        topic_prefix=topic_prefix,
        partitions=2,
        clickhouse_database=clickhouse_database,
    )
