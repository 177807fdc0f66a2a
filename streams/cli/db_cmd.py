"""`gridmon db migrate|status|retention`: the ClickHouse schema and how long data is kept."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from gridmon.settings import get_settings
from gridmon.store.client import connect, target

db_app = typer.Typer(help="ClickHouse schema (forward-only migrations) and retention.", no_args_is_help=True)
console = Console()


@db_app.command("migrate")
def migrate_command(upto: str = typer.Option(None, help="stop after this migration (name or NNNN)")) -> None:
    """Apply the pending migrations (running it again is a no-op)."""
    from gridmon.store.migrations import migrate

    settings = get_settings()
    applied = migrate(connect(settings), upto=upto)
    where = f"{target(settings)} database {settings.clickhouse_database}"
    if not applied:
        console.print(f"schema is up to date ({where})")
    for name in applied:
        console.print(f"applied {name} ({where})")


@db_app.command("status")
def status_command() -> None:
    """Which migrations are applied, which are pending, and the retention of each table."""
    from gridmon.store.migrations import status
    from gridmon.store.retention import current_retention

    client = connect(get_settings())
    table = Table("migration", "state")
    for item in status(client):
        state = "applied" if item.applied else "[yellow]pending[/]"
        if item.applied and not item.checksum_matches:
            state = "applied [red](file changed since: migrations are forward-only, add a new one)[/]"
        table.add_row(item.name, state)
    console.print(table)
    kept = Table("table", "keeps (days)")
    for name, days in sorted(current_retention(client).items()):
        kept.add_row(name, str(days))
    console.print(kept)


@db_app.command("retention")
def retention_command(
    dry_run: bool = typer.Option(False, "--dry-run", help="show the policy, change nothing"),
) -> None:
    """Set each table's TTL from GRIDMON_RETENTION_<NAME>_DAYS (e.g. GRIDMON_RETENTION_METER_DAYS=90)."""
    from gridmon.store.retention import RetentionPolicy, apply_retention, current_retention

    client = connect(get_settings())
    policy = RetentionPolicy.from_env()
    if dry_run:
        now = current_retention(client)
        for name, days in policy.table_days().items():
            console.print(f"{name}: {now.get(name, '?')} → {days} days")
        return
    changed = apply_retention(client, policy)
    for name, days in changed.items():
        console.print(f"{name}: now keeps {days} days")
    if not changed:
        console.print("retention already matches the policy")


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
