"""`gridmon config`: print the effective settings with secrets masked."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from gridmon.settings import load_settings


def show_config(
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
) -> None:
    """Print the effective settings (environment and .env), secrets masked."""
    settings = load_settings()
    shown = settings.masked()
    console = Console()
    if as_json:
        console.print_json(data={k: None if v is None else str(v) for k, v in shown.items()})
        return
    table = Table("variable", "value", title="gridmon settings")
    for name, value in shown.items():
        table.add_row(f"GRIDMON_{name.upper()}", "" if value is None else str(value))
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("config")(show_config)
