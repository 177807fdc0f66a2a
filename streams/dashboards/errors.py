"""Errors of the dashboards package: one family under GridmonError.

DashboardError
 ├── MacroError        a panel's SQL uses a macro or variable that cannot be expanded
 ├── PanelCheckError   panels failed against ClickHouse (the message lists every failure)
 └── ProvisionError    Grafana refused or could not be reached
"""

from __future__ import annotations

from gridmon.errors import GridmonError


class DashboardError(GridmonError):
    """Dashboards, alert rules or their provisioning cannot be used."""


class MacroError(DashboardError):
    """SQL with a macro or template variable that cannot be expanded."""


class PanelCheckError(DashboardError):
    """One or more panels or alert rules failed when run against ClickHouse."""


class ProvisionError(DashboardError):
    """Grafana could not be reached or refused a request."""
