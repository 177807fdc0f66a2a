"""The `gridmon` command line: one typer sub-application per command group, each in its own module."""

from __future__ import annotations

import importlib
import sys

import typer
from rich.console import Console

from gridmon.errors import GridmonError

app = typer.Typer(
    name="gridmon",
    help="Streaming monitor for electricity distribution grids.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
err_console = Console(stderr=True)

# (module, attribute, name): a group module exposes a typer app; a command module exposes a function.
# Registration is lazy per module so that `gridmon config` does not import Faust or River.
GROUPS: list[tuple[str, str]] = [
    ("gridmon.cli.config_cmd", "register"),
    ("gridmon.cli.broker_cmd", "register"),
    ("gridmon.cli.topics_cmd", "register"),
    ("gridmon.cli.worker_cmd", "register"),
    ("gridmon.cli.demo_cmd", "register"),
    ("gridmon.cli.status_cmd", "register"),
    ("gridmon.cli.replay_cmd", "register"),
    ("gridmon.cli.adapt_cmd", "register"),
    ("gridmon.cli.simulate_cmd", "register"),
    ("gridmon.cli.anomalies_cmd", "register"),
    ("gridmon.cli.outages_cmd", "register"),
    ("gridmon.cli.grid_cmd", "register"),
    ("gridmon.cli.db_cmd", "register"),
    ("gridmon.cli.query_cmd", "register"),
    ("gridmon.cli.bench_cmd", "register"),
    ("gridmon.cli.dashboards_cmd", "register"),
    ("gridmon.cli.privacy_cmd", "register"),
    ("gridmon.cli.store_cmd", "register"),
]


_registered: list[str] = []  # the groups already on `app`: registering twice would add every command twice


def _register_all() -> None:
    """Add every command group to `app` once (tests that drive the CLI call this too)."""
    for module_name, attribute in GROUPS:
        if module_name in _registered:
            continue
        module = importlib.import_module(module_name)
        getattr(module, attribute)(app)
        _registered.append(module_name)


@app.callback()
def _root() -> None:
    """Streaming monitor for electricity distribution grids."""


def main() -> None:
    """Entry point: run the CLI and turn GridmonError into one clear line and exit code 2."""
    _register_all()
    try:
        app()
    except GridmonError as exc:
        err_console.print(f"[bold red]error:[/] {exc}")
        sys.exit(2)
