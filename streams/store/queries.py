"""Named, parameterized queries for people (`gridmon query NAME --param k=v`): values are always bound as
ClickHouse parameters; the only formatted identifiers come from fixed whitelists (table per kind, rollup step).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from clickhouse_connect.driver.exceptions import ClickHouseError

from gridmon.errors import ConfigError, StorageError
from gridmon.store.client import first_line
from gridmon.store.reliability import reliability_indices
from gridmon.store.tables import RAW_TABLES
from gridmon.timeparse import parse_instant

PMU_STEPS = {"1s": "pmu_1s", "1m": "pmu_1m", "1h": "pmu_1h"}


@dataclass(frozen=True)
class Param:
    """One parameter: `kind` is `str`, `int`, `time` (ISO 8601, no zone = UTC; `now`; `-15m`) or a choice."""

    name: str
    kind: str = "str"
    default: str | None = None
    choices: tuple[str, ...] = ()
    help: str = ""


@dataclass(frozen=True)
class QueryResult:
    column_names: list[str]
    rows: list[tuple[Any, ...]]


@dataclass(frozen=True)
class NamedQuery:
    name: str
    description: str
    sql: str  # may contain {table} / {rollup}: formatted from the whitelists only
    params: tuple[Param, ...] = ()
    run: Callable[[Any, dict[str, Any]], QueryResult] | None = field(default=None, compare=False)


WINDOW = (Param("start", "time", "-24h", help="window start"), Param("end", "time", "now", help="window end"))

QUERIES: dict[str, NamedQuery] = {}


def register(query: NamedQuery) -> NamedQuery:
    QUERIES[query.name] = query
    return query


register(NamedQuery(
    "device_latest",
    "latest reading of a device in every kind of data it sends, with its place in the grid",
    """
    SELECT kind, latest AS ts, reading,
           (SELECT any(zone) FROM devices WHERE device = {device:String}) AS zone,
           (SELECT any(feeder) FROM devices WHERE device = {device:String}) AS feeder
    FROM (
        SELECT 'pmu' AS kind, max(ts) AS latest,
               toString(argMax(tuple(freq_hz, rocof_hz_s, va, vb, vc, status), ts)) AS reading
        FROM pmu_readings WHERE device = {device:String} HAVING count() > 0
        UNION ALL SELECT 'sensor', max(ts), toString(argMax(tuple(voltage_v, current_a, temperature_c, thd_pct), ts))
        FROM sensor_readings WHERE device = {device:String} HAVING count() > 0
        UNION ALL SELECT 'meter', max(ts), toString(argMax(tuple(event, kwh, voltage_v, interval_s), ts))
        FROM meter_events WHERE device = {device:String} HAVING count() > 0
        UNION ALL SELECT 'scada', max(ts), toString(argMax(tuple(point, event, value, phase), ts))
        FROM scada_events WHERE device = {device:String} HAVING count() > 0
    )
    ORDER BY kind
    """,
    (Param("device", help="device id"),),
))  # fmt: skip

register(NamedQuery(
    "device_readings",
    "raw readings of a device over a window (newest first)",
    """
    SELECT * EXCEPT (_topic, _partition, _offset) FROM {table}
    WHERE device = {device:String}
      AND ts >= fromUnixTimestamp64Nano({start:Int64}, 'UTC') AND ts < fromUnixTimestamp64Nano({end:Int64}, 'UTC')
    ORDER BY ts DESC LIMIT {limit:UInt32}
    """,
    (Param("device"), Param("kind", "choice", "pmu", tuple(RAW_TABLES)), *WINDOW, Param("limit", "int", "1000")),
))  # fmt: skip

register(NamedQuery(
    "pmu_trend",
    "frequency, ROCOF and voltages of a PMU per step from the rollups (fast over months)",
    """
    SELECT ts, sum(samples) AS samples, min(freq_min) AS freq_min, max(freq_max) AS freq_max,
           avgMerge(freq_avg) AS freq_avg, max(rocof_abs_max) AS rocof_abs_max,
           min(va_min) AS va_min, max(va_max) AS va_max, avgMerge(va_avg) AS va_avg
    FROM {rollup}
    WHERE device = {device:String}
      AND ts >= toDateTime(intDiv({start:Int64}, 1000000000), 'UTC')
      AND ts < toDateTime(intDiv({end:Int64}, 1000000000), 'UTC')
    GROUP BY ts ORDER BY ts
    """,
    (Param("device"), Param("step", "choice", "1m", tuple(PMU_STEPS)), *WINDOW),
))  # fmt: skip

register(NamedQuery(
    "zone_summary",
    "per zone: customers, devices, anomalies and outages in the window, customers out now",
    """
    SELECT z.zone AS zone, z.feeder AS feeder, z.customers AS customers,
           ifNull(d.devices, 0) AS devices, ifNull(a.anomalies, 0) AS anomalies,
           ifNull(a.open_anomalies, 0) AS open_anomalies, ifNull(o.outages, 0) AS outages,
           ifNull(o.customers_out, 0) AS customers_out_now
    FROM zones AS z
    LEFT JOIN (SELECT zone, count() AS devices FROM devices GROUP BY zone) AS d ON d.zone = z.zone
    LEFT JOIN (
        SELECT zone, countIf(start_ns >= {start:Int64} AND start_ns < {end:Int64}) AS anomalies,
               countIf(state = 'open') AS open_anomalies
        FROM anomalies FINAL GROUP BY zone
    ) AS a ON a.zone = z.zone
    LEFT JOIN (
        SELECT zone, countIf(start_ns >= {start:Int64} AND start_ns < {end:Int64}) AS outages,
               sumIf(customers_out, state NOT IN ('restored', 'momentary')) AS customers_out
        FROM outages FINAL GROUP BY zone
    ) AS o ON o.zone = z.zone
    WHERE {zone:String} = '' OR z.zone = {zone:String}
    ORDER BY customers_out_now DESC, open_anomalies DESC, anomalies DESC, zone
    LIMIT {limit:UInt32}
    """,
    (Param("zone", default="", help="one zone; empty = every zone"), *WINDOW, Param("limit", "int", "100")),
))  # fmt: skip

register(NamedQuery(
    "top_anomalies",
    "the most severe, highest-scoring anomalies that started in the window (their latest state)",
    """
    SELECT id, device, zone, metric, detector, severity, state, score, value,
           fromUnixTimestamp64Nano(start_ns, 'UTC') AS started
    FROM anomalies FINAL
    WHERE start_ns >= {start:Int64} AND start_ns < {end:Int64}
      AND ({state:String} = '' OR state = {state:String})
    ORDER BY indexOf(['critical', 'major', 'warning', 'info'], severity), score DESC
    LIMIT {limit:UInt32}
    """,
    (*WINDOW, Param("state", default="", help="open, closed or suppressed; empty = all"),
     Param("limit", "int", "20")),
))  # fmt: skip

register(NamedQuery(
    "open_outages",
    "outages not restored yet, largest first",
    """
    SELECT id, feeder, device, zone, scope, state, customers, customers_out, confirmed_by,
           fromUnixTimestamp64Nano(start_ns, 'UTC') AS started
    FROM outages FINAL
    WHERE state NOT IN ('restored', 'momentary')
    ORDER BY customers_out DESC, start_ns
    LIMIT {limit:UInt32}
    """,
    (Param("limit", "int", "100"),),
))  # fmt: skip

register(NamedQuery(
    "dead_letters_by_reason",
    "dead letters in the window per reason and topic, with an example",
    """
    SELECT reason, source_topic, count() AS letters, uniqExact(device) AS devices, any(detail) AS example
    FROM dead_letters FINAL
    WHERE received_ns >= {start:Int64} AND received_ns < {end:Int64}
    GROUP BY reason, source_topic ORDER BY letters DESC
    """,
    WINDOW,
))  # fmt: skip


def _reliability(client: Any, values: dict[str, Any]) -> QueryResult:
    rows = reliability_indices(client, values["start"], values["end"])
    names = ["level", "area", "customers", "saifi", "saidi_min", "caidi_min", "maifi", "sustained_events"]
    return QueryResult(
        names,
        [
            (
                r.level,
                r.area,
                r.customers_served,
                round(r.saifi, 4),
                round(r.saidi_min, 2),
                round(r.caidi_min, 2),
                round(r.maifi, 4),
                r.sustained_events,
            )
            for r in rows
        ],  # fmt: skip
    )


register(NamedQuery(
    "reliability",
    "IEEE 1366 SAIFI, SAIDI, CAIDI, MAIFI per system, feeder and zone for outages starting in the window",
    "",
    (Param("start", "time", "-30d"), Param("end", "time", "now")),
    run=_reliability,
))  # fmt: skip


def run_query(client: Any, name: str, raw_params: Mapping[str, str] | None = None) -> QueryResult:
    """Run a named query with `raw_params` (strings, as typed by a user); unknown names/params are errors."""
    query = QUERIES.get(name)
    if query is None:
        raise ConfigError(f"unknown query {name!r}: choose one of {', '.join(sorted(QUERIES))}")
    values = bind(query, raw_params or {})
    if query.run is not None:
        return query.run(client, values)
    sql = query.sql.replace("{table}", RAW_TABLES.get(values.get("kind", ""), "pmu_readings"))
    sql = sql.replace("{rollup}", PMU_STEPS.get(values.get("step", ""), "pmu_1m"))
    bound = {key: value for key, value in values.items() if key not in ("kind", "step")}
    try:
        result = client.query(sql, parameters=bound)
    except ClickHouseError as exc:
        raise StorageError(
            f"query {name} failed: {first_line(exc)}; run `gridmon db migrate` if a table is missing"
        ) from exc
    names = list(result.column_names) or _column_names(client, sql, bound)
    return QueryResult(names, [tuple(row) for row in result.result_rows])


def _column_names(client: Any, sql: str, parameters: dict[str, Any]) -> list[str]:
    """chdb returns no column names with an empty result: ask ClickHouse what the query would return."""
    described = client.query(f"DESCRIBE ({sql})", parameters=parameters).result_rows
    return [row[0] for row in described]


def bind(query: NamedQuery, raw: Mapping[str, str]) -> dict[str, Any]:
    """Check and convert the user's parameters; every parameter without a default is required."""
    known = {param.name: param for param in query.params}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ConfigError(
            f"query {query.name} has no parameter {', '.join(unknown)}; it takes: {', '.join(known)}"
        )
    values: dict[str, Any] = {}
    for param in query.params:
        text = raw.get(param.name, param.default)
        if text is None:
            raise ConfigError(
                f"query {query.name} needs --param {param.name}=... ({param.help or param.kind})"
            )
        values[param.name] = convert(param, text)
    return values


def convert(param: Param, text: str) -> Any:
    if param.kind == "int":
        if not (text.isascii() and text.isdigit()):  # isdigit alone accepts '²', which int() refuses
            raise ConfigError(f"--param {param.name}: expected a whole number, got {text!r}")
        return int(text)
    if param.kind == "time":
        return parse_time(text, param.name)
    if param.kind == "choice" and text not in param.choices:
        raise ConfigError(f"--param {param.name}: expected one of {', '.join(param.choices)}, got {text!r}")
    return text


def parse_time(text: str, name: str = "time", now_ns: int | None = None) -> int:
    """A time parameter as epoch ns, read as every command reads a time (`gridmon.timeparse`)."""
    return parse_instant(text, f"--param {name}", now_ns)
