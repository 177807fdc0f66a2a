"""`gridmon privacy pseudonym|reveal|opt-out`: find a meter's pseudonym in anomalies and outages, look up the
real meter behind a pseudonym (admin only), check the opt-out list against the grid model (docs/privacy.md)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from gridmon.errors import ConfigError
from gridmon.security.pseudonym import pseudonymise
from gridmon.settings import get_settings

privacy_app = typer.Typer(help="Meter pseudonyms and the opt-out list (see docs/privacy.md).")
console = Console()


@privacy_app.command("pseudonym")
def pseudonym(meters: list[str] = typer.Argument(..., help="real meter ids")) -> None:
    """The pseudonym of each meter, as anomalies and outages show it (needs GRIDMON_PSEUDONYM_KEY)."""
    from gridmon.security.privacy import pseudonym_key

    key = pseudonym_key(get_settings())
    table = Table("meter", "pseudonym")
    for meter, alias in zip(meters, pseudonymise(key, meters), strict=True):
        table.add_row(meter, alias)
    console.print(table)


@privacy_app.command("reveal")
def reveal(pseudonyms: list[str] = typer.Argument(..., help="pseudonyms such as p-3f2a…")) -> None:
    """The real meter behind each pseudonym (ClickHouse user with the gridmon_admin role)."""
    from gridmon.security.privacy import reveal as reveal_meters
    from gridmon.store.client import connect

    found = reveal_meters(connect(get_settings()), pseudonyms)
    table = Table("pseudonym", "meter")
    for alias in pseudonyms:
        table.add_row(alias, found.get(alias, "[red]unknown[/] (no worker published it)"))
    console.print(table)
    if len(found) < len(set(pseudonyms)):
        raise typer.Exit(1)


@privacy_app.command("opt-out")
def opt_out(
    model: Path | None = typer.Option(None, help="grid model file (default: the data dir's)"),
) -> None:
    """How many meters GRIDMON_OPT_OUT_FILE opts out, and which of them the grid model does not know."""
    from gridmon.pipeline.assembly import load_model
    from gridmon.security.privacy import read_opt_out_file

    settings = get_settings()
    if settings.opt_out_file is None:
        raise ConfigError("GRIDMON_OPT_OUT_FILE is not set: nobody is opted out")
    meters = read_opt_out_file(settings.opt_out_file)
    grid = load_model(settings, model)
    unknown = [
        meter for meter, position in zip(meters, grid.index_of(meters).tolist(), strict=True) if position < 0
    ]
    console.print(f"{len(meters) - len(unknown)} opted-out meters in {settings.opt_out_file}")
    if unknown:
        console.print(f"[yellow]{len(unknown)} not in the grid model[/], e.g. {', '.join(unknown[:5])}")


def register(app: typer.Typer) -> None:
    app.add_typer(privacy_app, name="privacy")
