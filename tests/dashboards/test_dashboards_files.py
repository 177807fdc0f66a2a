"""The committed dashboard JSON and provisioning files match the catalog and hold a strict structure; the
rendered preview opens in a real headless Chromium and shows the panels."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from matplotlib import image

from gridmon.dashboards import (
    TimeRange,
    load_dashboards,
    newest_data_time,
    render_dashboard,
    run_dashboard,
    stale_files,
    write_index,
)
from gridmon.dashboards.files import Layout

DASHBOARDS = Path(__file__).resolve().parents[2] / "dashboards"
# No JSON schema of Grafana's dashboard model is installable from PyPI: this is the subset gridmon uses, strict.
TARGET = {
    "type": "object",
    "required": ["refId", "datasource", "editorType", "queryType", "format", "rawSql"],
    "properties": {
        "datasource": {"const": {"type": "grafana-clickhouse-datasource", "uid": "gridmon-clickhouse"}},
        "editorType": {"const": "sql"},
        "format": {"enum": [0, 1]},
        "queryType": {"enum": ["timeseries", "table"]},
        "rawSql": {"type": "string", "pattern": "^SELECT"},
    },
}
GRID_POS = {
    "type": "object",
    "required": ["x", "y", "w", "h"],
    "properties": {k: {"type": "integer", "minimum": 0, "maximum": 24} for k in "xywh"},
    "additionalProperties": False,
}
PANEL = {
    "type": "object",
    "required": ["id", "type", "title", "gridPos", "datasource", "targets", "fieldConfig", "options"],
    "properties": {
        "id": {"type": "integer", "minimum": 1},
        "type": {"enum": ["timeseries", "barchart", "stat", "table"]},
        "title": {"type": "string", "minLength": 1},
        "gridPos": GRID_POS,
        "targets": {"type": "array", "minItems": 1, "items": TARGET},
        "fieldConfig": {"type": "object", "required": ["defaults", "overrides"]},
    },
}
VARIABLE = {
    "type": "object",
    "required": ["type", "name", "datasource", "query", "refresh", "multi", "includeAll"],
    "properties": {
        "type": {"const": "query"},
        "name": {"pattern": "^[a-z_]+$"},
        "query": {"pattern": "^SELECT"},
    },
}
DASHBOARD = {
    "type": "object",
    "required": ["uid", "title", "tags", "schemaVersion", "time", "templating", "panels", "timezone"],
    "properties": {
        "uid": {"type": "string", "pattern": "^gridmon-[a-z]+$", "maxLength": 40},
        "schemaVersion": {"type": "integer", "minimum": 36},
        "time": {"type": "object", "required": ["from", "to"]},
        "templating": {"type": "object", "required": ["list"], "properties": {"list": {"items": VARIABLE}}},
        "panels": {"type": "array", "minItems": 3, "items": PANEL},
    },
}


def test_committed_files_match_the_catalog() -> None:
    assert stale_files(DASHBOARDS) == []


def test_dashboards_follow_the_model() -> None:
    dashboards = load_dashboards(DASHBOARDS)
    assert {d["uid"] for d in dashboards} >= {
        "gridmon-overview", "gridmon-outages", "gridmon-anomalies", "gridmon-pmu", "gridmon-pipeline"
    }  # fmt: skip
    for dashboard in dashboards:
        jsonschema.validate(dashboard, DASHBOARD)
        panels = dashboard["panels"]
        assert len({p["id"] for p in panels}) == len(panels)
        cells = set()
        for panel in panels:
            pos = panel["gridPos"]
            assert pos["x"] + pos["w"] <= 24
            area = {
                (x, y)
                for x in range(pos["x"], pos["x"] + pos["w"])
                for y in range(pos["y"], pos["y"] + pos["h"])
            }
            assert not area & cells, f"{dashboard['uid']}: {panel['title']} overlaps another panel"
            cells |= area
            expected = 0 if panel["type"] == "timeseries" else 1
            assert panel["targets"][0]["format"] == expected


def test_template_variables_cover_feeder_zone_device() -> None:
    names = {v["name"] for d in load_dashboards(DASHBOARDS) for v in d["templating"]["list"]}
    assert {"feeder", "zone", "device"} <= names


def test_alerting_provisioning_files() -> None:
    layout = Layout(DASHBOARDS)
    rules_file = yaml.safe_load(layout.rules.read_text())
    group = rules_file["groups"][0]
    assert group["folder"] == "gridmon" and group["interval"] == "1m"
    titles = {rule["title"] for rule in group["rules"]}
    assert titles == {"New zonal outage", "Customers out over threshold", "Critical anomaly", "Pipeline lag",
                      "Dead-letter rate"}  # fmt: skip
    for rule in group["rules"]:
        refs = [query["refId"] for query in rule["data"]]
        assert refs == ["A", "B", "C"] and rule["condition"] == "C"
        assert rule["data"][0]["datasourceUid"] == "gridmon-clickhouse"
        assert rule["data"][2]["model"]["type"] == "threshold"
        assert rule["noDataState"] in ("OK", "NoData") and rule["execErrState"] == "Error"
        assert rule["labels"]["severity"] in ("critical", "warning")
    notifications = yaml.safe_load(layout.notifications.read_text())
    receiver = notifications["contactPoints"][0]["receivers"][0]
    assert receiver["type"] == "webhook" and receiver["settings"]["url"] == "${ALERT_WEBHOOK_URL}"
    policy = notifications["policies"][0]
    assert policy["receiver"] == notifications["contactPoints"][0]["name"]
    assert "alertname" in policy["group_by"]
    assert _minutes(policy["group_interval"]) >= 5 and _minutes(policy["repeat_interval"]) >= 60
    for route in policy["routes"]:
        assert _minutes(route["repeat_interval"]) >= 60
    datasource = yaml.safe_load(layout.datasource.read_text())["datasources"][0]
    assert datasource["secureJsonData"]["password"].startswith("${")  # from the environment only
    provider = yaml.safe_load(layout.provider.read_text())["providers"][0]
    assert provider["type"] == "file" and provider["folderUid"] == "gridmon"


def _minutes(duration: str) -> float:
    return float(duration[:-1]) * {"s": 1 / 60, "m": 1, "h": 60}[duration[-1]]


def test_preview_opens_in_headless_chromium(grid_client: Any, tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("headless Chromium is needed for the preview test: apt-get install -y chromium")
    end = newest_data_time(grid_client)
    window = TimeRange.ending(end, 3600)
    dashboards = load_dashboards(DASHBOARDS)
    overview = next(d for d in dashboards if d["uid"] == "gridmon-overview")
    outcomes = run_dashboard(grid_client, overview, window)
    page = render_dashboard(overview, outcomes, tmp_path / "preview", window)
    write_index([overview], tmp_path / "preview", window)
    assert len(list((tmp_path / "preview").glob("gridmon-overview-*.png"))) == len(overview["panels"])
    shot = tmp_path / "overview.png"
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'chromium'}", "--hide-scrollbars", "--window-size=1400,1000",
         f"--screenshot={shot}", page.as_uri()],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    pixels = image.imread(shot)
    assert pixels.shape[:2] == (1000, 1400)
    # The stat values are drawn in Grafana blue (#1f60c4) and the panels on white: both must be on the page.
    blue = (abs(pixels[..., 0] - 0x1F / 255) < 0.08) & (abs(pixels[..., 2] - 0xC4 / 255) < 0.08)
    white = pixels[..., :3].min(axis=-1) > 0.99
    assert blue.sum() > 500 and white.mean() > 0.3
