"""`gridmon demo` end to end on the embedded parts: the report has exactly the agreed keys, every reading is
accounted for, and the score is computed against the simulator's ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gridmon.demo.report import REPORT_KEYS
from gridmon.demo.run import DemoOptions, run_demo
from gridmon.settings import Settings
from gridmon.store.client import connect


@pytest.mark.timeout(600)
def test_demo_report_schema_accounting_and_score(settings: Settings, tmp_path: Path) -> None:
    report_path = tmp_path / "report.json"
    options = DemoOptions(
        size="small", scenario="mixed", seed=3, duration_s=240, report_path=report_path, sandbox=False
    )
    report = run_demo(options, settings)
    assert json.loads(report_path.read_text()) == report
    assert tuple(report) == REPORT_KEYS
    assert set(report["events"]) == {"pmu", "sensor", "meter", "scada"}
    assert report["stored"] + report["dead_letter"] == sum(report["events"].values())
    assert report["stored"] > 0.98 * sum(report["events"].values())
    truth = report["ground_truth"]
    assert truth and {"id", "kind", "device", "zone", "start", "end"} == set(truth[0])
    score = report["score"]
    assert score["faults"] == len(truth)
    assert score["detected"] + score["missed"] == score["faults"]
    assert score["detected"] >= 0.7 * score["faults"]
    for outage in report["outages"]:
        assert outage["scope"] in ("individual", "street", "zonal")
        assert set(outage) == {"id", "device", "zone", "scope", "start", "end", "customers", "confirmed_by"}
    for anomaly in report["anomalies"]:
        assert set(anomaly) == {
            "id",
            "detector",
            "device",
            "zone",
            "metric",
            "start",
            "end",
            "severity",
            "score",
        }
    assert {"zone", "saifi", "saidi", "caidi", "maifi"} <= set(report["reliability"][0])
    metrics = (
        connect(settings)
        .query(
            "SELECT stage, max(value) FROM pipeline_metrics WHERE metric = 'readings_per_s' GROUP BY stage"
        )
        .result_rows
    )
    assert dict(metrics).get("ingest.pmu", 0) > 0, "the health dashboard's throughput metric is written"
    charts = report_path.parent / "charts"
    assert {p.name for p in charts.glob("*.png")} == {
        "frequency_voltage.png",
        "outages.png",
        "customers_out.png",
    }
