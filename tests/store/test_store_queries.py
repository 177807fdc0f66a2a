"""Named queries on real data: right rows, latest states only, parameters bound (never spliced), and the CLI."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from store_batches import BASE_NS, PMU_COLUMNS, pmu_batch
from typer.testing import CliRunner

from gridmon.cli import _register_all, app
from gridmon.errors import ConfigError
from gridmon.settings import Settings, get_settings
from gridmon.store.dimensions import load_dimensions
from gridmon.store.queries import parse_time, run_query
from gridmon.store.sink import BatchSink, OffsetRange

ANOMALY_COLUMNS = ["id", "version", "device", "zone", "feeder", "metric", "detector", "category", "severity",
                   "state", "start_ns", "end_ns", "score", "value", "parent_outage", "group", "schema"]  # fmt: skip
DEAD_LETTER_COLUMNS = ["reason", "detail", "source_topic", "partition", "offset", "received_ns", "device",
                       "original", "schema"]  # fmt: skip


def anomaly(id: str, version: int, severity: str, state: str, score: float) -> list[Any]:
    return [id, version, "pmu-0-0", "Z1", "F1", "freq_hz", "limits", "grid", severity, state, BASE_NS, None,
            score, 49.0, None, None, "gridmon.anomaly/1"]  # fmt: skip


def write(client: Any, table: str, names: list[str], rows: list[list[Any]], first: int = 0) -> None:
    columns = [list(values) for values in zip(*rows, strict=True)]
    ranges = [OffsetRange("q", 0, first, first + len(rows))]
    asyncio.run(BatchSink(client, table, names).write(columns, ranges))


@pytest.fixture
def data(client: Any, topic: str) -> Any:
    batch = pmu_batch(topic, 0, 0, 59)  # two PMUs, 60 frames each, 33 ms apart
    asyncio.run(
        BatchSink(client, "pmu_readings", PMU_COLUMNS).write(
            [batch[n] for n in PMU_COLUMNS],
            [OffsetRange(topic, 0, 0, 59)],
            batch["_partition"],
            batch["_offset"],
        )
    )
    load_dimensions(
        client,
        [{"device": "pmu-0-0", "kind": "pmu", "feeder": "F1", "zone": "Z1"}],
        [("Z1", "F1", "B1", "breaker", 120), ("Z2", "F1", "B2", "breaker", 30)],
    )
    write(client, "anomalies", ANOMALY_COLUMNS, [
        anomaly("a1", 1, "warning", "open", 2.0), anomaly("a1", 2, "critical", "closed", 9.0),
        anomaly("a2", 1, "major", "open", 5.0), anomaly("a3", 1, "major", "open", 7.0),
    ])  # fmt: skip
    letter = ["schema", "missing freq_hz", "grid.pmu", 0, 7, BASE_NS, "pmu-9", b"{}", "gridmon.dead_letter/1"]
    write(client, "dead_letters", DEAD_LETTER_COLUMNS, [letter], first=7)
    write(client, "dead_letters", DEAD_LETTER_COLUMNS, [letter], first=5)  # redelivered in another batch
    return client


def window(**extra: str) -> dict[str, str]:
    start = datetime.fromtimestamp(BASE_NS / 1e9, tz=UTC).isoformat()
    return {"start": start, "end": "now", **extra}


def test_device_latest_and_readings(data: Any) -> None:
    latest = run_query(data, "device_latest", {"device": "pmu-0-0"})
    assert [row[0] for row in latest.rows] == ["pmu"]
    assert latest.rows[0][1].timestamp() == pytest.approx((BASE_NS + 59 * 33_333_333) / 1e9)
    assert latest.rows[0][3:] == ("Z1", "F1")
    readings = run_query(data, "device_readings", window(device="pmu-0-1", limit="10"))
    assert len(readings.rows) == 10
    times = [row[readings.column_names.index("ts")] for row in readings.rows]
    assert times == sorted(times, reverse=True)
    assert "_offset" not in readings.column_names


def test_pmu_trend_reads_the_rollup(data: Any) -> None:
    trend = run_query(data, "pmu_trend", window(device="pmu-0-0", step="1s"))
    assert sum(row[1] for row in trend.rows) == 60
    assert trend.rows[0][2] == pytest.approx(50.0)  # freq_min of the first second


def test_top_anomalies_use_the_latest_version(data: Any) -> None:
    top = run_query(data, "top_anomalies", window())
    assert [(row[0], row[5], row[6]) for row in top.rows] == [
        ("a1", "critical", "closed"), ("a3", "major", "open"), ("a2", "major", "open")
    ]  # fmt: skip
    open_only = run_query(data, "top_anomalies", window(state="open"))
    assert [row[0] for row in open_only.rows] == ["a3", "a2"]


def test_zone_summary_and_dead_letters(data: Any) -> None:
    zones = run_query(data, "zone_summary", window())
    by_zone = {row[0]: dict(zip(zones.column_names, row, strict=True)) for row in zones.rows}
    assert by_zone["Z1"]["customers"] == 120 and by_zone["Z1"]["devices"] == 1
    assert (by_zone["Z1"]["anomalies"], by_zone["Z1"]["open_anomalies"]) == (3, 2)
    assert by_zone["Z2"]["anomalies"] == 0
    letters = run_query(data, "dead_letters_by_reason", window())
    assert letters.rows == [
        ("schema", "grid.pmu", 1, 1, "missing freq_hz")
    ]  # the redelivered copy is not counted


def test_values_are_bound_never_spliced(data: Any) -> None:
    assert run_query(data, "device_latest", {"device": "x' OR 1=1 --"}).rows == []
    with pytest.raises(ConfigError, match="no parameter"):
        run_query(data, "device_latest", {"device": "a", "table": "system.users"})
    with pytest.raises(ConfigError, match="one of pmu, sensor"):
        run_query(data, "device_readings", {"device": "a", "kind": "system.users"})
    with pytest.raises(ConfigError, match="needs --param device"):
        run_query(data, "device_latest", {})


def test_parse_time() -> None:
    now = 1_800_000_000 * 10**9
    assert parse_time("now", now_ns=now) == now
    assert parse_time("-15m", now_ns=now) == now - 900 * 10**9
    assert parse_time("2026-01-01T00:00:00") == 1_767_225_600 * 10**9
    assert parse_time("2026-01-01T01:00:00+01:00") == 1_767_225_600 * 10**9
    with pytest.raises(ConfigError, match="ISO 8601"):
        parse_time("yesterday")


def test_cli_query_and_db(data: Any, store_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDMON_DATA_DIR", str(store_settings.data_dir))
    monkeypatch.setenv("GRIDMON_CLICKHOUSE_DATABASE", store_settings.clickhouse_database)
    get_settings.cache_clear()
    _register_all()  # the whole command line, once (registering a group again would add its commands twice)
    try:
        runner = CliRunner()
        result = runner.invoke(
            app, ["query", "top_anomalies", "-p", f"start={window()['start']}", "-f", "json"]
        )
        assert result.exit_code == 0, result.output
        assert [row["id"] for row in json.loads(result.output)] == ["a1", "a3", "a2"]
        as_csv = runner.invoke(app, ["query", "open_outages", "--format", "csv"])
        assert as_csv.output.splitlines()[0].startswith("id,feeder,device")
        status = runner.invoke(app, ["db", "status"])
        assert status.exit_code == 0 and "0004_rollups" in status.output and "pending" not in status.output
        assert "schema is up to date" in runner.invoke(app, ["db", "migrate"]).output
    finally:
        get_settings.cache_clear()
