"""The files Grafana loads: dashboard JSON and provisioning YAML under `dashboards/`, written from the catalog.

`build` writes them; `load_*` read them back, so check, render and provision work on what is deployed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from gridmon.dashboards.catalog import (
    ALERT_RULES,
    DASHBOARDS,
    NOTIFICATION_POLICY,
    WEBHOOK_URL_ENV,
    contact_point,
)
from gridmon.dashboards.errors import DashboardError
from gridmon.dashboards.model import (
    DATASOURCE_TYPE,
    DATASOURCE_UID,
    FOLDER_TITLE,
    FOLDER_UID,
    alert_rule_json,
    dashboard_json,
)

RULE_GROUP = "gridmon"
RULE_GROUP_INTERVAL = "1m"
GRAFANA_DASHBOARDS_PATH = "/var/lib/grafana/dashboards/gridmon"
# File-provisioned rules carry their folder and group on the group, not on each rule.
API_ONLY_RULE_KEYS = ("folderUID", "ruleGroup")


@dataclass(frozen=True)
class Layout:
    """Where each file lives under the dashboards folder."""

    root: Path

    @property
    def dashboards(self) -> Path:
        return self.root / "json"

    @property
    def datasource(self) -> Path:
        return self.root / "provisioning" / "datasources" / "gridmon-clickhouse.yaml"

    @property
    def provider(self) -> Path:
        return self.root / "provisioning" / "dashboards" / "gridmon.yaml"

    @property
    def rules(self) -> Path:
        return self.root / "provisioning" / "alerting" / "gridmon-rules.yaml"

    @property
    def notifications(self) -> Path:
        return self.root / "provisioning" / "alerting" / "gridmon-notifications.yaml"


def default_root() -> Path:
    """`./dashboards` when it exists (a checkout or the image's workdir), else the one beside the package."""
    here = Path("dashboards")
    if (here / "json").is_dir():
        return here
    return Path(__file__).resolve().parents[2] / "dashboards"


def rendered_files(root: Path) -> dict[Path, str]:
    """Every file `build` writes, path → text, from the catalog."""
    layout = Layout(root)
    files = {
        layout.dashboards / f"{dashboard.uid}.json": json.dumps(dashboard_json(dashboard), indent=2) + "\n"
        for dashboard in DASHBOARDS
    }
    files[layout.datasource] = _yaml(datasource_provisioning())
    files[layout.provider] = _yaml(provider_provisioning())
    files[layout.rules] = _yaml(rules_provisioning())
    files[layout.notifications] = _yaml(notifications_provisioning())
    return files


def build(root: Path) -> list[Path]:
    """Write every file whose text changed; returns the ones written."""
    written = []
    for path, text in rendered_files(root).items():
        if path.exists() and path.read_text() == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written


def stale_files(root: Path) -> list[Path]:
    """Files that differ from the catalog (edited by hand, or the catalog changed without a build)."""
    return [
        path for path, text in rendered_files(root).items() if not path.exists() or path.read_text() != text
    ]


def datasource_provisioning() -> dict[str, Any]:
    # Grafana expands ${VAR} in provisioning files: the read-only user's password stays in the environment.
    return {
        "apiVersion": 1,
        "datasources": [
            datasource_definition(
                "${CLICKHOUSE_HOST}", "${GRAFANA_CLICKHOUSE_USER}", "${CLICKHOUSE_DATABASE}"
            )
            | {"secureJsonData": {"password": "${GRAFANA_CLICKHOUSE_PASSWORD}"}, "editable": False}
        ],
    }


def datasource_definition(host: str, user: str, database: str, port: int = 8123) -> dict[str, Any]:
    """The ClickHouse data source (plugin v4 fields) over HTTP, as a read-only user."""
    return {
        "name": "gridmon ClickHouse",
        "type": DATASOURCE_TYPE,
        "uid": DATASOURCE_UID,
        "access": "proxy",
        "isDefault": True,
        "jsonData": {
            "host": host,
            "port": port,
            "protocol": "http",
            "secure": False,
            "username": user,
            "defaultDatabase": database,
        },
    }


def provider_provisioning() -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": "gridmon",
                "folder": FOLDER_TITLE,
                "folderUid": FOLDER_UID,
                "type": "file",
                "disableDeletion": True,
                "allowUiUpdates": False,  # the files are the truth; edit the catalog and rebuild
                "updateIntervalSeconds": 60,
                "options": {"path": GRAFANA_DASHBOARDS_PATH},
            }
        ],
    }


def rules_provisioning() -> dict[str, Any]:
    rules = []
    for rule in ALERT_RULES:
        body = alert_rule_json(rule, FOLDER_UID, RULE_GROUP)
        rules.append({key: value for key, value in body.items() if key not in API_ONLY_RULE_KEYS})
    return {
        "apiVersion": 1,
        "groups": [
            {
                "orgId": 1,
                "name": RULE_GROUP,
                "folder": FOLDER_TITLE,
                "interval": RULE_GROUP_INTERVAL,
                "rules": rules,
            }
        ],
    }


def notifications_provisioning() -> dict[str, Any]:
    point = contact_point("${" + WEBHOOK_URL_ENV + "}")
    receiver = {key: value for key, value in point.items() if key != "name"}
    return {
        "apiVersion": 1,
        "contactPoints": [{"orgId": 1, "name": point["name"], "receivers": [receiver]}],
        "policies": [{"orgId": 1, **NOTIFICATION_POLICY}],
    }


def load_dashboards(root: Path) -> list[dict[str, Any]]:
    """Every dashboard JSON under `root/json`, sorted by file name."""
    folder = Layout(root).dashboards
    paths = sorted(folder.glob("*.json"))
    if not paths:
        raise DashboardError(f"no dashboard JSON in {folder}: run `gridmon dashboards build` or pass --dir")
    try:
        return [json.loads(path.read_text()) for path in paths]
    except json.JSONDecodeError as exc:
        raise DashboardError(f"invalid dashboard JSON in {folder}: {exc}") from exc


def load_alert_rules(root: Path) -> list[dict[str, Any]]:
    """The rules of every group of the alerting provisioning file, each with its folder and group."""
    path = Layout(root).rules
    if not path.exists():
        raise DashboardError(f"no alert rules at {path}: run `gridmon dashboards build` or pass --dir")
    document = yaml.safe_load(path.read_text())
    return [
        {**rule, "folderUID": FOLDER_UID, "ruleGroup": group["name"]}
        for group in document.get("groups", [])
        for rule in group.get("rules", [])
    ]


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings (the SQL) as literal blocks, so the files read like the catalog."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _represent_str)


def _yaml(document: dict[str, Any]) -> str:
    header = (
        "# Generated by `gridmon dashboards build` from gridmon/dashboards/catalog.py: edit that, not this.\n"
    )
    return header + yaml.dump(document, Dumper=_BlockDumper, sort_keys=False, width=120, allow_unicode=True)
