"""Store fixtures: a client on the session's one embedded ClickHouse, in a fresh migrated database per test."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from gridmon.settings import Settings, load_settings
from gridmon.store.client import connect
from gridmon.store.migrations import migrate


@pytest.fixture
def store_settings(session_data_dir: Path, clickhouse_database: str) -> Settings:
    """The session's chdb and a database of the test's own (no broker needed)."""
    return load_settings(data_dir=session_data_dir, clickhouse_database=clickhouse_database)


@pytest.fixture
def bare_client(store_settings: Settings) -> Any:
    """A client on an empty database."""
    return connect(store_settings)


@pytest.fixture
def client(bare_client: Any) -> Any:
    """A client on a database with every migration applied."""
    migrate(bare_client)
    return bare_client


@pytest.fixture
def topic() -> str:
    return f"grid.pmu.{uuid.uuid4().hex[:8]}"
