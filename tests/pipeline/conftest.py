"""Fixtures of the takeover and alarm-continuity tests: the grid they run on and a fresh store per test."""

from __future__ import annotations

from typing import Any

import pytest

from gridmon.grid import GridModel
from gridmon.grid.generate import generate
from gridmon.settings import Settings
from gridmon.store.client import connect
from gridmon.store.migrations import migrate


@pytest.fixture(scope="module")
def model() -> GridModel:
    return generate("small", seed=1)


@pytest.fixture
def client(settings: Settings) -> Any:
    """The session's ClickHouse with no anomaly, outage or checkpoint left by an earlier test."""
    client = connect(settings)
    migrate(client)
    client.command("TRUNCATE TABLE IF EXISTS anomalies")
    client.command("TRUNCATE TABLE IF EXISTS outages")
    client.command("TRUNCATE TABLE IF EXISTS state_checkpoints")
    return client
