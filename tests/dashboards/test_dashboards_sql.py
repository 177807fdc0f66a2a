"""Every panel's and alert rule's SQL, macros expanded as Grafana would, runs on real chdb over data written
through gridmon's own sink, and panels show what the data holds."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gridmon.dashboards import (
    ALL,
    MacroError,
    QueryOutcome,
    TimeRange,
    load_alert_rules,
    load_dashboards,
    newest_data_time,
    run_alert_rules,
    run_dashboard,
)
from gridmon.dashboards.macros import expand

DASHBOARDS = Path(__file__).resolve().parents[2] / "dashboards"


@pytest.fixture(scope="module")
def outcomes(grid_client: Any) -> dict[tuple[str, str], QueryOutcome]:
    end = newest_data_time(grid_client)
    window = TimeRange.ending(end, 3600)
    results = [o for d in load_dashboards(DASHBOARDS) for o in run_dashboard(grid_client, d, window)]
    results += run_alert_rules(grid_client, load_alert_rules(DASHBOARDS), end)
    return {(o.dashboard, o.title): o for o in results}


def test_every_panel_and_alert_query_runs_and_has_data(outcomes: dict[tuple[str, str], QueryOutcome]) -> None:
    problems = {key: o.problem for key, o in outcomes.items() if o.problem}
    assert problems == {}
    assert len(outcomes) >= 30
    empty = {key for key, o in outcomes.items() if o.empty and o.kind != "alert"}
    assert empty <= {("gridmon-pipeline", "Consumer lag")}  # nothing writes pipeline_metrics in this dataset


def test_panels_show_what_the_data_holds(outcomes: dict[tuple[str, str], QueryOutcome], dataset: Any) -> None:
    open_outages = outcomes[("gridmon-overview", "Open outages")]
    assert open_outages.rows == (
        (1, dataset.open_outage_customers_out),
    )  # latest version of the open outage only
    frequency = outcomes[("gridmon-overview", "System frequency")].rows[0][0]
    assert 59.95 < frequency < 60.05
    dip = outcomes[("gridmon-pmu", "Frequency")]
    assert dip.columns[:2] == ("time", "device") and min(row[2] for row in dip.rows) < 59.95
    active = outcomes[("gridmon-outages", "Active outages")]
    assert [row[0] for row in active.rows] == ["O-open"] and "repair" in active.rows[0][-1]
    advice = outcomes[("gridmon-outages", "Switching advice")]
    assert [row[3] for row in advice.rows if row[0] == "O-open"][0].startswith("1. open")
    reasons = {row[1] for row in outcomes[("gridmon-pipeline", "Dead letters by topic and reason")].rows}
    assert reasons == {"invalid_range", "duplicate", "decode"}
    angles = outcomes[("gridmon-pmu", "Phase A angle difference to the reference")]
    assert all(-180 <= row[2] <= 180 for row in angles.rows)
    by_severity = outcomes[("gridmon-anomalies", "Open anomalies")]
    assert by_severity.rows == ((1, 0, 0),)


def test_alert_queries_fire_on_the_open_outage_and_anomaly(grid_client: Any, dataset: Any) -> None:
    # Evaluated just after the trip: the zonal outage is new and the critical anomaly is open.
    trip = datetime.fromtimestamp((dataset.end_ns - 6 * 60 * 10**9) / 1e9, tz=UTC)
    results = {o.title: o for o in run_alert_rules(grid_client, load_alert_rules(DASHBOARDS), trip)}
    assert [row[-1] for row in results["New zonal outage (A)"].rows] == [1]
    assert [row[-1] for row in results["Critical anomaly (A)"].rows] == [1]
    assert results["Customers out over threshold (A)"].rows[0][-1] == dataset.open_outage_customers_out


def test_a_broken_panel_is_reported(grid_client: Any) -> None:
    dashboard = {
        "uid": "broken",
        "templating": {"list": []},
        "panels": [
            {"type": "table", "title": "typo", "targets": [{"rawSql": "SELECT nope FROM outages"}]},
            {"type": "table", "title": "empty", "targets": [{"rawSql": "SELECT id FROM outages WHERE 0"}]},
            {"type": "timeseries", "title": "no time", "targets": [{"rawSql": "SELECT 1 AS v"}]},
        ],
    }
    window = TimeRange.ending(datetime.now(UTC), 600)
    problems = [o.problem for o in run_dashboard(grid_client, dashboard, window)]
    assert "nope" in problems[0] or "Unknown" in problems[0]
    assert problems[1].startswith("no data")
    assert "time" in problems[2]


WINDOW = TimeRange(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 1, tzinfo=UTC), 15)


def test_macros_expand_like_the_clickhouse_plugin() -> None:
    start, end = int(WINDOW.start.timestamp()), int(WINDOW.end.timestamp())
    sql = "SELECT $__timeInterval(ts) AS time FROM t WHERE $__timeFilter(ts) AND x < $__interval_s"
    assert expand(sql, WINDOW) == (
        "SELECT toStartOfInterval(toDateTime(ts), INTERVAL 15 second) AS time FROM t "
        f"WHERE ts >= toDateTime({start}) AND ts <= toDateTime({end}) AND x < 15"
    )
    assert (
        expand("$__fromTime $__toTime_ms", WINDOW)
        == f"toDateTime({start}) fromUnixTimestamp64Milli({end}000)"
    )
    nested = expand("$__timeFilter(fromUnixTimestamp64Nano(start_ns))", WINDOW)
    assert nested.startswith("fromUnixTimestamp64Nano(start_ns) >= toDateTime(")


def test_template_variables_and_conditional_all() -> None:
    sql = "WHERE $__conditionalAll(zone IN (${zone:singlequote}), $zone) AND device = ${pmu:singlequote}"
    assert expand(sql, WINDOW, {"zone": [ALL], "pmu": ["P1"]}) == "WHERE 1=1 AND device = 'P1'"
    assert expand(sql, WINDOW, {"zone": ["Z1", "it's"], "pmu": ["P1"]}) == (
        "WHERE zone IN ('Z1','it\\'s') AND device = 'P1'"
    )
    with pytest.raises(MacroError, match="unknown template variable"):
        expand("SELECT $nope", WINDOW)
    with pytest.raises(MacroError, match="unknown macro"):
        expand("SELECT $__nope(x)", WINDOW)
