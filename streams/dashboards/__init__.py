"""Grafana dashboards and alert rules as code: build the files, check the SQL, render a preview, provision.

`gridmon dashboards build|check|render|provision`; the files Grafana loads live in the top-level `dashboards/`.
"""

from gridmon.dashboards.check import QueryOutcome, newest_data_time, run_alert_rules, run_dashboard
from gridmon.dashboards.errors import DashboardError, MacroError, PanelCheckError, ProvisionError
from gridmon.dashboards.files import build, default_root, load_alert_rules, load_dashboards, stale_files
from gridmon.dashboards.macros import ALL, TimeRange, expand
from gridmon.dashboards.provision import ClickHouseTarget, ProvisionReport, connect_grafana, provision
from gridmon.dashboards.render import render_dashboard, write_index

__all__ = [
    "ALL",
    "ClickHouseTarget",
    "DashboardError",
    "MacroError",
    "PanelCheckError",
    "ProvisionError",
    "ProvisionReport",
    "QueryOutcome",
    "TimeRange",
    "build",
    "connect_grafana",
    "default_root",
    "expand",
    "load_alert_rules",
    "load_dashboards",
    "newest_data_time",
    "provision",
    "render_dashboard",
    "run_alert_rules",
    "run_dashboard",
    "stale_files",
    "write_index",
]
