"""Dashboards, panels, template variables and alert rules as small typed values, and their Grafana JSON.

The catalog (`gridmon.dashboards.catalog`) is written with these; `gridmon dashboards build` turns it into the
dashboard JSON and alerting provisioning files under `dashboards/` that Grafana loads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

PanelKind = Literal["timeseries", "barchart", "stat", "table"]
DATASOURCE_TYPE = "grafana-clickhouse-datasource"
DATASOURCE_UID = "gridmon-clickhouse"
DATASOURCE = {"type": DATASOURCE_TYPE, "uid": DATASOURCE_UID}
FOLDER_UID = "gridmon"
FOLDER_TITLE = "gridmon"
SCHEMA_VERSION = 39
GRID_WIDTH = 24
# The plugin's query format enum: how the backend shapes the result frame.
FORMAT_TIMESERIES = 0
FORMAT_TABLE = 1
# Panels carry this key when an empty result is normal (e.g. no open outage): `check` does not fail on them.
MAY_BE_EMPTY_KEY = "gridmonMayBeEmpty"


@dataclass(frozen=True)
class Link:
    """A data link on a table column: `url` may use `${__value.raw}` and `${__data.fields.NAME}`."""

    column: str
    title: str
    url: str


@dataclass(frozen=True)
class Panel:
    """One panel: SQL for the ClickHouse plugin; time series SQL returns `time`, labels, then values."""

    title: str
    kind: PanelKind
    sql: str
    unit: str = ""
    width: int = 12
    height: int = 8
    description: str = ""
    may_be_empty: bool = False
    stacked: bool = False
    decimals: int | None = None
    links: tuple[Link, ...] = ()
    thresholds: tuple[tuple[float, str], ...] = ()


@dataclass(frozen=True)
class Variable:
    """A query template variable; `multi` ones offer All and are used as `${name:singlequote}`."""

    name: str
    label: str
    sql: str
    multi: bool = True


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    panels: tuple[Panel, ...]
    variables: tuple[Variable, ...] = ()
    time_from: str = "now-1h"
    tags: tuple[str, ...] = ("gridmon",)


@dataclass(frozen=True)
class AlertRule:
    """A Grafana-managed rule: `sql` returns label columns and one numeric `value` per series."""

    uid: str
    title: str
    sql: str
    threshold: float
    summary: str
    window_s: int = 300
    pending: str = "1m"
    severity: str = "warning"
    no_data_ok: bool = True
    labels: dict[str, str] = field(default_factory=dict)


def dashboard_json(dashboard: Dashboard) -> dict[str, Any]:
    """The Grafana dashboard model (schemaVersion 39) of `dashboard`."""
    return {
        "uid": dashboard.uid,
        "title": dashboard.title,
        "description": dashboard.description,
        "tags": list(dashboard.tags),
        "timezone": "utc",
        "editable": True,
        "graphTooltip": 1,
        "refresh": "30s",
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "time": {"from": dashboard.time_from, "to": "now"},
        "timepicker": {},
        "annotations": {"list": []},
        "links": [
            {
                "type": "dashboards",
                "tags": ["gridmon"],
                "asDropdown": True,
                "title": "gridmon",
                "keepTime": True,
                "includeVars": False,
                "targetBlank": False,
                "icon": "external link",
                "tooltip": "",
                "url": "",
            }
        ],
        "templating": {"list": [_variable_json(variable) for variable in dashboard.variables]},
        "panels": _panels_json(dashboard.panels),
    }


def _variable_json(variable: Variable) -> dict[str, Any]:
    return {
        "type": "query",
        "name": variable.name,
        "label": variable.label,
        "datasource": dict(DATASOURCE),
        "query": variable.sql,
        "definition": variable.sql,
        "refresh": 2,  # on time range change: the lists follow the data
        "includeAll": variable.multi,
        "multi": variable.multi,
        "sort": 1,
        "current": {},
        "options": [],
        "hide": 0,
    }


def _panels_json(panels: tuple[Panel, ...]) -> list[dict[str, Any]]:
    placed: list[dict[str, Any]] = []
    x = y = row_height = 0
    for number, panel in enumerate(panels, start=1):
        if x + panel.width > GRID_WIDTH:
            x, y, row_height = 0, y + row_height, 0
        placed.append(_panel_json(number, panel, {"x": x, "y": y, "w": panel.width, "h": panel.height}))
        x += panel.width
        row_height = max(row_height, panel.height)
    return placed


def _panel_json(number: int, panel: Panel, grid_pos: dict[str, int]) -> dict[str, Any]:
    timeseries = panel.kind == "timeseries"
    target = {
        "refId": "A",
        "datasource": dict(DATASOURCE),
        "editorType": "sql",
        "queryType": "timeseries" if timeseries else "table",
        "format": FORMAT_TIMESERIES if timeseries else FORMAT_TABLE,
        "rawSql": panel.sql.strip(),
    }
    defaults: dict[str, Any] = {"unit": panel.unit, "color": {"mode": "palette-classic"}, "links": []}
    if panel.decimals is not None:
        defaults["decimals"] = panel.decimals
    if panel.thresholds:
        defaults["thresholds"] = {
            "mode": "absolute",
            "steps": [{"color": "green", "value": None}]
            + [{"color": color, "value": value} for value, color in panel.thresholds],
        }
    result: dict[str, Any] = {
        "id": number,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "gridPos": grid_pos,
        "datasource": dict(DATASOURCE),
        "targets": [target],
        "fieldConfig": {"defaults": defaults, "overrides": [_link_override(link) for link in panel.links]},
        "options": _panel_options(panel),
    }
    if panel.may_be_empty:
        result[MAY_BE_EMPTY_KEY] = True
    return result


def _link_override(link: Link) -> dict[str, Any]:
    return {
        "matcher": {"id": "byName", "options": link.column},
        "properties": [{"id": "links", "value": [{"title": link.title, "url": link.url}]}],
    }


def _panel_options(panel: Panel) -> dict[str, Any]:
    legend = {"displayMode": "list", "placement": "bottom", "showLegend": True}
    if panel.kind == "timeseries":
        return {"legend": legend, "tooltip": {"mode": "multi", "sort": "desc"}}
    if panel.kind == "barchart":
        return {
            "legend": legend,
            "stacking": "normal" if panel.stacked else "none",
            "orientation": "auto",
            "xTickLabelRotation": -30,
            "showValue": "auto",
        }
    if panel.kind == "stat":
        return {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value",
            "graphMode": "none",
            "textMode": "value_and_name",
            "justifyMode": "auto",
        }
    return {"showHeader": True, "cellHeight": "sm", "footer": {"show": False}}


def alert_rule_json(rule: AlertRule, folder_uid: str = FOLDER_UID, group: str = "gridmon") -> dict[str, Any]:
    """The rule in the shape both file provisioning and the provisioning HTTP API take."""
    return {
        "uid": rule.uid,
        "title": rule.title,
        "folderUID": folder_uid,
        "ruleGroup": group,
        "condition": "C",
        "data": [
            {
                "refId": "A",
                "datasourceUid": DATASOURCE_UID,
                "relativeTimeRange": {"from": rule.window_s, "to": 0},
                "model": {
                    "refId": "A",
                    "editorType": "sql",
                    "queryType": "table",
                    "format": FORMAT_TABLE,
                    "rawSql": rule.sql.strip(),
                    "datasource": dict(DATASOURCE),
                },
            },
            _expression(
                "B", {"type": "reduce", "expression": "A", "reducer": "last", "settings": {"mode": "dropNN"}}
            ),
            _expression(
                "C",
                {
                    "type": "threshold",
                    "expression": "B",
                    "conditions": [{"evaluator": {"type": "gt", "params": [rule.threshold]}}],
                },
            ),
        ],
        "noDataState": "OK" if rule.no_data_ok else "NoData",
        "execErrState": "Error",
        "for": rule.pending,
        "annotations": {"summary": rule.summary},
        "labels": {"team": "grid-operations", "severity": rule.severity, **rule.labels},
        "isPaused": False,
    }


def _expression(ref_id: str, model: dict[str, Any]) -> dict[str, Any]:
    return {
        "refId": ref_id,
        "datasourceUid": "__expr__",
        "relativeTimeRange": {"from": 0, "to": 0},
        "model": {"refId": ref_id, "datasource": {"type": "__expr__", "uid": "__expr__"}, **model},
    }
