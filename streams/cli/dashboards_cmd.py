"""`gridmon dashboards build|check|render|provision`: Grafana dashboards and alert rules as code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from gridmon.errors import ConfigError
from gridmon.timeparse import HELP, ns_to_datetime, parse_duration, parse_instant

dashboards_app = typer.Typer(
    help="Grafana dashboards and alert rules: build, check, render, provision.", no_args_is_help=True
)
console = Console()
DIR_HELP = "the dashboards folder (default: ./dashboards, else the one beside the package)"
SPAN_HELP = "window length, e.g. 15m, 1h, 7d"
END_HELP = f"window end: latest (the newest data), or {HELP}"


def register(app: typer.Typer) -> None:
    app.add_typer(dashboards_app, name="dashboards")


@dashboards_app.command("build")
def build_command(
    directory: Path = typer.Option(None, "--dir", help=DIR_HELP),
    check_only: bool = typer.Option(False, "--check", help="change nothing; fail if a file is out of date"),
) -> None:
    """Write the dashboard JSON and provisioning files from the catalog (only files that changed)."""
    from gridmon.dashboards import build, default_root, stale_files

    root = directory or default_root()
    if check_only:
        stale = stale_files(root)
        if stale:
            raise ConfigError(f"out of date: {', '.join(map(str, stale))}; run `gridmon dashboards build`")
        console.print(f"every file under {root} matches the catalog")
        return
    written = build(root)
    for path in written:
        console.print(f"wrote {path}")
    if not written:
        console.print(f"{root} is up to date")


@dashboards_app.command("check")
def check_command(
    directory: Path = typer.Option(None, "--dir", help=DIR_HELP),
    span: str = typer.Option("1h", "--range", help=SPAN_HELP),
    end: str = typer.Option("latest", "--end", help=END_HELP),
) -> None:
    """Expand the macros and run every panel's and alert rule's SQL against ClickHouse; fail on any problem."""
    from gridmon.dashboards import PanelCheckError

    outcomes, _, _ = _run_all(directory, span, end)
    table = Table("dashboard", "panel", "rows", "ms", "result")
    for outcome in outcomes:
        result = f"[red]{outcome.problem}[/]" if outcome.problem else "[green]ok[/]"
        if not outcome.problem and outcome.empty:
            result = "[yellow]ok (no data, may be empty)[/]"
        table.add_row(
            outcome.dashboard, outcome.title, str(len(outcome.rows)), f"{outcome.seconds * 1000:.0f}", result
        )
    console.print(table)
    failed = [outcome for outcome in outcomes if outcome.problem]
    if failed:
        lines = "; ".join(f"{o.dashboard} / {o.title}: {o.problem}" for o in failed)
        raise PanelCheckError(f"{len(failed)} of {len(outcomes)} queries failed: {lines}")
    console.print(f"{len(outcomes)} panel and alert queries ok")


@dashboards_app.command("render")
def render_command(
    directory: Path = typer.Option(None, "--dir", help=DIR_HELP),
    out: Path = typer.Option(None, "--out", help="output folder (default: <GRIDMON_DATA_DIR>/dashboards)"),
    span: str = typer.Option("1h", "--range", help=SPAN_HELP),
    end: str = typer.Option("latest", "--end", help=END_HELP),
) -> None:
    """Draw every panel to PNG and write a static HTML page per dashboard, plus index.html."""
    from gridmon.dashboards import render_dashboard, write_index
    from gridmon.settings import get_settings

    outcomes, dashboards, time_range = _run_all(directory, span, end, alerts=False)
    folder = out or get_settings().data_dir / "dashboards"
    for dashboard in dashboards:
        mine = [outcome for outcome in outcomes if outcome.dashboard == dashboard["uid"]]
        render_dashboard(dashboard, mine, folder, time_range)
    index = write_index(dashboards, folder, time_range)
    problems = sum(1 for outcome in outcomes if outcome.problem)
    console.print(
        f"wrote {index} ({len(dashboards)} dashboards, {len(outcomes)} panels, {problems} with problems)"
    )


@dashboards_app.command("provision")
def provision_command(
    url: str = typer.Option(
        ..., "--url", envvar="GRAFANA_URL", help="Grafana base URL, e.g. http://grafana:3000"
    ),
    token: str = typer.Option(None, "--token", envvar="GRAFANA_TOKEN", help="service account token (Admin)"),
    directory: Path = typer.Option(None, "--dir", help=DIR_HELP),
    clickhouse_host: str = typer.Option(
        "clickhouse", envvar="CLICKHOUSE_HOST", help="ClickHouse host as Grafana sees it"
    ),
    clickhouse_port: int = typer.Option(8123, help="ClickHouse HTTP port"),
    clickhouse_user: str = typer.Option(
        "grafana", envvar="GRAFANA_CLICKHOUSE_USER", help="read-only ClickHouse user"
    ),
    clickhouse_password: str = typer.Option("", envvar="GRAFANA_CLICKHOUSE_PASSWORD", help="its password"),
    webhook_url: str = typer.Option(
        ..., envvar="ALERT_WEBHOOK_URL", help="where the contact point posts alerts"
    ),
) -> None:
    """Create or update the data source, folder, dashboards, alert rules, contact point and policy."""
    from gridmon.dashboards import (
        ClickHouseTarget,
        connect_grafana,
        default_root,
        load_alert_rules,
        load_dashboards,
        provision,
    )
    from gridmon.settings import get_settings

    root = directory or default_root()
    target = ClickHouseTarget(
        clickhouse_host,
        clickhouse_user,
        clickhouse_password,
        get_settings().clickhouse_database,
        clickhouse_port,
    )
    report = provision(
        connect_grafana(url, token), load_dashboards(root), load_alert_rules(root), target, webhook_url
    )
    for name in report.created:
        console.print(f"created {name}")
    for name in report.updated:
        console.print(f"updated {name}")
    console.print(
        f"{len(report.unchanged)} unchanged" + ("" if report.changed else ": Grafana was up to date")
    )


def _run_all(
    directory: Path | None, span: str, end: str, alerts: bool = True
) -> tuple[list[Any], list[Any], Any]:
    from gridmon.dashboards import (
        TimeRange,
        default_root,
        load_alert_rules,
        load_dashboards,
        newest_data_time,
        run_alert_rules,
        run_dashboard,
    )
    from gridmon.settings import get_settings
    from gridmon.store.client import connect

    span_s = parse_duration(span, "--range") / 1e9  # bad input fails before ClickHouse is opened
    end_ns = None if end == "latest" else parse_instant(end, "--end")
    root = directory or default_root()
    dashboards = load_dashboards(root)
    client = connect(get_settings())
    end_time = newest_data_time(client) if end_ns is None else ns_to_datetime(end_ns)
    time_range = TimeRange.ending(end_time, span_s)
    outcomes = [
        outcome for dashboard in dashboards for outcome in run_dashboard(client, dashboard, time_range)
    ]
    if alerts:
        outcomes += run_alert_rules(client, load_alert_rules(root), end_time)
    return outcomes, dashboards, time_range
