"""Create or update gridmon's data source, folder, dashboards, alert rules, contact point and notification
policy in a running Grafana through its HTTP API (grafana-client), writing only what differs: idempotent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from grafana_client.api import GrafanaApi
from grafana_client.client import GrafanaClientError, GrafanaException

from gridmon.dashboards.catalog import NOTIFICATION_POLICY, contact_point
from gridmon.dashboards.errors import ProvisionError
from gridmon.dashboards.files import datasource_definition
from gridmon.dashboards.model import FOLDER_TITLE, FOLDER_UID

NOT_FOUND = 404


@dataclass(frozen=True)
class ClickHouseTarget:
    """Where Grafana's data source reaches ClickHouse (as seen from Grafana), as a read-only user."""

    host: str
    user: str
    password: str
    database: str = "gridmon"
    port: int = 8123


@dataclass
class ProvisionReport:
    """What a run did: `created`/`updated` list `kind:uid`; an idempotent second run leaves both empty."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)


def connect_grafana(url: str, token: str | None) -> Any:
    """A client for `url` (may hold user:password) with a service-account token when given."""
    return GrafanaApi.from_url(url, credential=token or None, timeout=30.0)


def provision(
    grafana: Any,
    dashboards: list[dict[str, Any]],
    rules: list[dict[str, Any]],
    clickhouse: ClickHouseTarget,
    webhook_url: str,
) -> ProvisionReport:
    """Make Grafana hold exactly these objects; fields Grafana adds itself (ids, versions) are ignored."""
    report = ProvisionReport()
    try:
        _datasource(grafana, clickhouse, report)
        _folder(grafana, report)
        for dashboard in dashboards:
            _dashboard(grafana, dashboard, report)
        for rule in rules:
            _alert_rule(grafana, rule, report)
        _contact_point(grafana, contact_point(webhook_url), report)
        _policy(grafana, report)
    except GrafanaException as exc:
        raise ProvisionError(
            f"Grafana refused a request ({exc.status_code}): {exc}; check --url and that the --token belongs to a "
            "service account with the Admin role"
        ) from exc
    except OSError as exc:
        raise ProvisionError(f"cannot reach Grafana: {exc}; check --url") from exc
    return report


def _get(call: Callable[[], Any]) -> Any | None:
    try:
        return call()
    except GrafanaClientError as exc:
        if exc.status_code == NOT_FOUND:
            return None
        raise


def _differs(current: Any, desired: Any) -> bool:
    """True when a desired value is missing or different; keys Grafana adds itself (ids, versions, defaults
    inside query models) are not compared, at any depth."""
    if isinstance(desired, Mapping):
        return not isinstance(current, Mapping) or any(
            key not in current or _differs(current[key], value) for key, value in desired.items()
        )
    if isinstance(desired, list):
        return (
            not isinstance(current, list)
            or len(current) != len(desired)
            or any(_differs(c, d) for c, d in zip(current, desired, strict=True))
        )
    return bool(current != desired)


def _apply(
    report: ProvisionReport,
    name: str,
    current: Any,
    desired: Mapping[str, Any],
    create: Callable[[], Any],
    update: Callable[[], Any],
) -> None:
    if current is None:
        create()
        report.created.append(name)
    elif _differs(current, desired):
        update()
        report.updated.append(name)
    else:
        report.unchanged.append(name)


def _datasource(grafana: Any, target: ClickHouseTarget, report: ProvisionReport) -> None:
    desired = datasource_definition(target.host, target.user, target.database, target.port)
    uid = desired["uid"]
    current = _get(lambda: grafana.datasource.get_datasource_by_uid(uid))
    # The password is write-only in Grafana: it is sent on create and whenever something else changes.
    body = desired | {"secureJsonData": {"password": target.password}}
    _apply(
        report,
        f"datasource:{uid}",
        current,
        desired,
        lambda: grafana.datasource.create_datasource(body),
        lambda: grafana.datasource.update_datasource_by_uid(uid, body),
    )


def _folder(grafana: Any, report: ProvisionReport) -> None:
    current = _get(lambda: grafana.folder.get_folder(FOLDER_UID))
    _apply(
        report,
        f"folder:{FOLDER_UID}",
        current,
        {"uid": FOLDER_UID, "title": FOLDER_TITLE},
        lambda: grafana.folder.create_folder(FOLDER_TITLE, uid=FOLDER_UID),
        lambda: grafana.folder.update_folder(FOLDER_UID, title=FOLDER_TITLE, overwrite=True),
    )


def _dashboard(grafana: Any, dashboard: dict[str, Any], report: ProvisionReport) -> None:
    uid = dashboard["uid"]
    found = _get(lambda: grafana.dashboard.get_dashboard(uid))
    current = None if found is None else found.get("dashboard", {})
    desired = {key: value for key, value in dashboard.items() if key not in ("id", "version")}
    in_folder = found is not None and found.get("meta", {}).get("folderUid") == FOLDER_UID
    body = {
        "dashboard": desired | {"id": None},
        "folderUid": FOLDER_UID,
        "overwrite": True,
        "message": "gridmon dashboards provision",
    }
    if current is not None and not in_folder:
        grafana.dashboard.update_dashboard(body)
        report.updated.append(f"dashboard:{uid}")
        return
    _apply(
        report,
        f"dashboard:{uid}",
        current,
        desired,
        lambda: grafana.dashboard.update_dashboard(body),
        lambda: grafana.dashboard.update_dashboard(body),
    )


def _alert_rule(grafana: Any, rule: dict[str, Any], report: ProvisionReport) -> None:
    uid = rule["uid"]
    current = _get(lambda: grafana.alertingprovisioning.get_alertrule(uid))
    body = rule | {"orgID": 1}
    _apply(
        report,
        f"alert-rule:{uid}",
        current,
        rule,
        lambda: grafana.alertingprovisioning.create_alertrule(body),
        lambda: grafana.alertingprovisioning.update_alertrule(uid, body),
    )


def _contact_point(grafana: Any, point: dict[str, Any], report: ProvisionReport) -> None:
    existing = grafana.alertingprovisioning.get_contactpoints(name=point["name"]) or []
    current = next((item for item in existing if item.get("uid") == point["uid"]), None)
    _apply(
        report,
        f"contact-point:{point['uid']}",
        current,
        point,
        lambda: grafana.alertingprovisioning.create_contactpoint(point),
        lambda: grafana.alertingprovisioning.update_contactpoint(point["uid"], point),
    )


def _policy(grafana: Any, report: ProvisionReport) -> None:
    current = grafana.alertingprovisioning.get_notification_policy_tree()
    if _differs(current or {}, NOTIFICATION_POLICY):
        grafana.alertingprovisioning.set_notification_policy_tree(dict(NOTIFICATION_POLICY))
        report.updated.append("policy:root")
    else:
        report.unchanged.append("policy:root")
