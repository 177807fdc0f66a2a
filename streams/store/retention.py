"""How long ClickHouse keeps each table: raw PMU days, meter reads per the privacy policy, rollups years.

The migrations create the tables with the default policy below. `gridmon db retention` (or `apply_retention`)
sets the TTLs from `GRIDMON_RETENTION_<NAME>_DAYS` variables, e.g. `GRIDMON_RETENTION_METER_DAYS=90`; rows
older than that are dropped at the next merge (whole daily partitions, so deletion is cheap).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from clickhouse_connect.driver.exceptions import ClickHouseError

from gridmon.errors import ConfigError, StorageError
from gridmon.store.client import first_line

ENV_PREFIX = "GRIDMON_RETENTION_"
TTL_DAYS = re.compile(r"TTL .*?toIntervalDay\((\d+)\)")


@dataclass(frozen=True)
class RetentionPolicy:
    """Days to keep, per group of tables. `meter_days` is the privacy policy for meter reads."""

    pmu_days: int = 14
    sensor_days: int = 365
    scada_days: int = 365
    meter_days: int = 730
    dead_letter_days: int = 90
    metrics_days: int = 90
    rollup_1s_days: int = 365
    rollup_1m_days: int = 1825
    rollup_1h_days: int = 3650

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RetentionPolicy:
        """The policy with `GRIDMON_RETENTION_<FIELD>` overrides (e.g. GRIDMON_RETENTION_METER_DAYS)."""
        environ = os.environ if environ is None else environ
        values: dict[str, int] = {}
        for item in fields(cls):
            variable = ENV_PREFIX + item.name.upper()
            if variable in environ:
                values[item.name] = _days(variable, environ[variable])
        return cls(**values)

    def table_days(self) -> dict[str, int]:
        """Table → days to keep (every table that has a TTL)."""
        days = {
            "pmu_readings": self.pmu_days,
            "sensor_readings": self.sensor_days,
            "scada_events": self.scada_days,
            "meter_events": self.meter_days,
            "dead_letters": self.dead_letter_days,
            "pipeline_metrics": self.metrics_days,
            "pmu_1s": self.rollup_1s_days,
        }
        for kind in ("pmu", "sensor", "meter", "scada"):
            days[f"{kind}_1m"] = self.rollup_1m_days
            days[f"{kind}_1h"] = self.rollup_1h_days
        return days


# The TTL expression of each table: the time column it counts from.
TTL_COLUMN = {"dead_letters": "toDateTime(received_at)", "pipeline_metrics": "toDateTime(ts)"}


def ttl_expression(table: str, days: int) -> str:
    column = TTL_COLUMN.get(table, "ts" if table.endswith(("_1s", "_1m", "_1h")) else "toDateTime(ts)")
    return f"{column} + INTERVAL {int(days)} DAY"


def apply_retention(client: Any, policy: RetentionPolicy) -> dict[str, int]:
    """Set every table's TTL to the policy; returns the tables changed with their new days."""
    current = current_retention(client)
    changed: dict[str, int] = {}
    for table, days in policy.table_days().items():
        if current.get(table) == days:
            continue
        try:
            client.command(f"ALTER TABLE {table} MODIFY TTL {ttl_expression(table, days)}")
        except ClickHouseError as exc:
            raise StorageError(
                f"cannot set the retention of {table} to {days} days: {first_line(exc)}; "
                "run `gridmon db migrate` first"
            ) from exc
        changed[table] = days
    return changed


def current_retention(client: Any) -> dict[str, int]:
    """Table → days its TTL keeps now, read from the table definitions."""
    rows = client.query(
        "SELECT name, create_table_query FROM system.tables WHERE database = currentDatabase()"
    ).result_rows
    kept: dict[str, int] = {}
    for name, create in rows:
        match = TTL_DAYS.search(create)
        if match:
            kept[name] = int(match.group(1))
    return kept


def _days(variable: str, text: str) -> int:
    try:
        days = int(text)
    except ValueError:
        raise ConfigError(f"{variable}: expected a whole number of days, got {text!r}") from None
    if not 1 <= days <= 36500:
        raise ConfigError(f"{variable}: expected 1..36500 days, got {days}")
    return days
