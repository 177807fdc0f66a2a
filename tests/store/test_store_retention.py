"""Retention: the policy comes from GRIDMON_RETENTION_* and becomes each table's TTL; old meter reads go."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np
import pytest

from gridmon.errors import ConfigError
from gridmon.store.retention import RetentionPolicy, apply_retention, current_retention
from gridmon.store.sink import BatchSink, OffsetRange

DAY_NS = 86_400 * 10**9


def test_policy_from_environment() -> None:
    policy = RetentionPolicy.from_env(
        {"GRIDMON_RETENTION_METER_DAYS": "90", "GRIDMON_RETENTION_PMU_DAYS": "7"}
    )
    assert (policy.meter_days, policy.pmu_days, policy.sensor_days) == (90, 7, RetentionPolicy().sensor_days)
    with pytest.raises(ConfigError, match="GRIDMON_RETENTION_METER_DAYS"):
        RetentionPolicy.from_env({"GRIDMON_RETENTION_METER_DAYS": "forever"})


def test_migrations_create_the_default_policy(client: Any) -> None:
    assert current_retention(client) == RetentionPolicy().table_days()
    assert apply_retention(client, RetentionPolicy()) == {}  # nothing to change


def test_meter_reads_older_than_the_privacy_policy_are_dropped(client: Any) -> None:
    names = ["device", "ts", "event", "kwh", "voltage_v", "interval_s", "sent_ns", "_topic", "_partition",
             "_offset"]  # fmt: skip
    now = time.time_ns()
    ts = np.array([now - 40 * DAY_NS, now - 20 * DAY_NS, now - 1 * DAY_NS], dtype=np.int64)
    columns = [["m1", "m2", "m3"], ts, ["interval"] * 3, np.full(3, 0.5), np.full(3, 230.0), np.full(3, 900),
               np.zeros(3, dtype=np.int64), ["grid.meter"] * 3, np.zeros(3, dtype=np.int32), np.arange(3)]  # fmt: skip
    asyncio.run(BatchSink(client, "meter_events", names).write(columns, [OffsetRange("grid.meter", 0, 0, 2)]))

    changed = apply_retention(client, RetentionPolicy(meter_days=30))
    assert changed == {"meter_events": 30}
    assert current_retention(client)["meter_events"] == 30
    client.command("OPTIMIZE TABLE meter_events FINAL")
    kept = client.query("SELECT device FROM meter_events ORDER BY device").result_rows
    assert kept == [("m2",), ("m3",)]
