"""Run every panel's and alert rule's SQL against ClickHouse, as Grafana would, and say which ones fail.

A panel fails on a ClickHouse error, a malformed result (time series without `time` first) or no data
unless it is marked may-be-empty; an alert rule fails on an error or a result without a `value` column.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver.exceptions import ClickHouseError

from gridmon.dashboards.errors import DashboardError, MacroError
from gridmon.dashboards.macros import ALL, TimeRange, expand
from gridmon.dashboards.model import MAY_BE_EMPTY_KEY
from gridmon.store.client import first_line

# Event time of the readings, and processing time of the state tables: a replay (the demo) writes minutes of
# event time in seconds, and panels of both kinds should fall in the window.
NEWEST_DATA = """
SELECT max(newest) FROM (
    SELECT toDateTime(max(ts)) AS newest FROM pmu_1s
    UNION ALL SELECT toDateTime(max(ts)) FROM sensor_1m
    UNION ALL SELECT toDateTime(max(ts)) FROM meter_1m
    UNION ALL SELECT toDateTime(max(inserted_at)) FROM outages
    UNION ALL SELECT toDateTime(max(inserted_at)) FROM anomalies
    UNION ALL SELECT toDateTime(max(received_at)) FROM dead_letters
)
"""


@dataclass(frozen=True)
class QueryOutcome:
    """One panel or alert query: its result (or error) and whether `check` accepts it."""

    dashboard: str  # dashboard uid, or "alerts"
    title: str
    kind: str  # panel type, or "alert"
    sql: str  # as sent to ClickHouse
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[Any, ...], ...] = ()
    error: str = ""
    may_be_empty: bool = False
    seconds: float = 0.0
    unit: str = ""

    @property
    def empty(self) -> bool:
        if not self.rows:
            return True
        # A stat over no rows still returns one row of NaN/NULL: that is no data too.
        return self.kind == "stat" and all(_missing(value) for row in self.rows for value in row)

    @property
    def problem(self) -> str:
        """Why this outcome fails the check ('' when it passes)."""
        if self.error:
            return self.error
        if self.kind == "alert":
            return "" if "value" in self.columns else "an alert query must return a numeric `value` column"
        if (
            self.kind == "timeseries"
            and self.rows
            and (self.columns[:1] != ("time",) or not _is_time(self.rows[0][0]))
        ):
            return "a time series panel must return `time` (a DateTime) as its first column"
        if self.empty and not self.may_be_empty:
            return "no data (mark the panel may-be-empty if that is normal)"
        return ""


def newest_data_time(client: Any) -> datetime:
    """The newest event time in the rollups, or now when they are empty (a window anchored on real data)."""
    newest = client.query(NEWEST_DATA).result_rows[0][0]
    if newest is None or newest.timestamp() <= 0:
        return datetime.now(UTC)
    return datetime.fromtimestamp(math.floor(newest.timestamp()) + 1, tz=UTC)


def run_dashboard(client: Any, dashboard: dict[str, Any], time_range: TimeRange) -> list[QueryOutcome]:
    """Resolve the template variables (All, or the first value), then run every panel."""
    uid = str(dashboard.get("uid", "?"))
    values = resolve_variables(client, dashboard, time_range)
    return [_run_panel(client, uid, panel, time_range, values) for panel in _panels(dashboard)]


def resolve_variables(client: Any, dashboard: dict[str, Any], time_range: TimeRange) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for variable in dashboard.get("templating", {}).get("list", []):
        name = variable["name"]
        sql = variable["query"] if isinstance(variable["query"], str) else variable["query"].get("rawSql", "")
        try:
            options = [str(row[0]) for row in client.query(expand(sql, time_range, values)).result_rows]
        except (ClickHouseError, MacroError) as exc:
            raise DashboardError(
                f"template variable ${name} of {dashboard.get('uid')}: {first_line(exc)}"
            ) from exc
        if variable.get("includeAll") or variable.get("multi"):
            values[name] = [ALL]
        elif options:
            values[name] = options[:1]
        else:
            raise DashboardError(
                f"template variable ${name} of {dashboard.get('uid')} has no values: load data first"
            )
    return values


def _panels(dashboard: dict[str, Any]) -> Iterable[dict[str, Any]]:
    for panel in dashboard.get("panels", []):
        if panel.get("type") == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def _run_panel(
    client: Any, uid: str, panel: dict[str, Any], time_range: TimeRange, values: dict[str, list[str]]
) -> QueryOutcome:
    target = panel["targets"][0]
    return _run(
        client,
        QueryOutcome(
            dashboard=uid,
            title=panel.get("title", ""),
            kind=panel["type"],
            sql=target.get("rawSql", ""),
            may_be_empty=bool(panel.get(MAY_BE_EMPTY_KEY, False)),
            unit=panel.get("fieldConfig", {}).get("defaults", {}).get("unit", ""),
        ),
        time_range,
        values,
    )


def run_alert_rules(client: Any, rules: Sequence[dict[str, Any]], end: datetime) -> list[QueryOutcome]:
    """Run each rule's data query over its own relative window ending at `end`."""
    outcomes = []
    for rule in rules:
        for query in rule["data"]:
            if query.get("datasourceUid") == "__expr__":
                continue
            window_s = query.get("relativeTimeRange", {}).get("from", 600)
            outcome = QueryOutcome(
                "alerts", f"{rule['title']} ({query['refId']})", "alert", query["model"]["rawSql"]
            )
            outcomes.append(_run(client, outcome, TimeRange.ending(end, window_s), {}))
    return outcomes


def _run(
    client: Any, outcome: QueryOutcome, time_range: TimeRange, values: dict[str, list[str]]
) -> QueryOutcome:
    started = time.perf_counter()
    try:
        sql = expand(outcome.sql, time_range, values)
    except MacroError as exc:
        return replace(outcome, error=str(exc))
    try:
        result = client.query(sql)
    except ClickHouseError as exc:
        return replace(outcome, sql=sql, error=first_line(exc), seconds=time.perf_counter() - started)
    columns = tuple(result.column_names) or _columns_of(client, sql)
    return replace(
        outcome,
        sql=sql,
        columns=columns,
        rows=tuple(tuple(row) for row in result.result_rows),
        seconds=time.perf_counter() - started,
    )


def _columns_of(client: Any, sql: str) -> tuple[str, ...]:
    """Column names of a query (an empty result from chdb carries none)."""
    return tuple(str(row[0]) for row in client.query(f"DESCRIBE TABLE ({sql})").result_rows)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _is_time(value: Any) -> bool:
    return isinstance(value, datetime)
