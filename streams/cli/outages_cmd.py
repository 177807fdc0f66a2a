"""`gridmon outages list|show`: outages for people, from ClickHouse (the newest version of each outage).

Queries are parameterized and read the `outages` ReplacingMergeTree through `LIMIT 1 BY id` on version.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from gridmon.errors import StorageError
from gridmon.settings import get_settings
from gridmon.store.client import query_dicts

outages_app = typer.Typer(help="Outages: list them and show one with its history and isolation advice.")
console = Console()
FIELDS = ["id", "version", "feeder", "device", "zone", "scope", "state", "start_ns", "end_ns", "customers",
          "customers_out", "confirmed_by", "parent", "advice"]  # fmt: skip


def latest_outages(
    client: Any, since_ns: int, states: tuple[str, ...] = (), feeder: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """The newest version of each outage that started after `since_ns`, newest first."""
    fields = ", ".join(f"`{name}`" for name in FIELDS)
    feeder_filter = "AND feeder = {feeder:String}" if feeder else ""
    inner = (
        f"SELECT {fields} FROM outages WHERE start_ns >= {{since:Int64}} {feeder_filter} "
        "ORDER BY id, version DESC LIMIT 1 BY id"
    )
    state_filter = "WHERE state IN {states:Array(String)}" if states else ""
    query = f"SELECT * FROM ({inner}) {state_filter} ORDER BY start_ns DESC LIMIT {{limit:UInt32}}"
    parameters = {"since": since_ns, "feeder": feeder or "", "states": list(states), "limit": limit}
    return query_dicts(client, query, parameters, what="outages")


def outage_versions(client: Any, outage_id: str) -> list[dict[str, Any]]:
    fields = ", ".join(f"`{name}`" for name in FIELDS)
    query = f"SELECT {fields} FROM outages WHERE id = {{id:String}} ORDER BY version LIMIT 1 BY version"
    return query_dicts(client, query, {"id": outage_id}, what="outages")


def _client() -> Any:
    from gridmon.store.client import connect

    return connect(get_settings())


def _time(ns: int | None) -> str:
    if not ns:
        return ""
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _duration(row: dict[str, Any]) -> str:
    if not row["end_ns"]:
        return "ongoing"
    seconds = (row["end_ns"] - row["start_ns"]) / 1e9
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


@outages_app.command("list")
def list_outages(
    hours: float = typer.Option(24.0, help="outages that started in the last N hours"),
    state: list[str] = typer.Option(
        [], help="probable, confirmed, restoring, restored, momentary (repeatable)"
    ),
    feeder: str | None = typer.Option(None, help="only this feeder"),
    limit: int = typer.Option(50, min=1, max=10_000),
) -> None:
    """Newest outages, one line each (their latest version)."""
    since = int((datetime.now(tz=UTC).timestamp() - hours * 3600) * 1e9)
    table = Table(
        "id", "start (UTC)", "feeder", "device", "scope", "state", "customers", "out", "duration", "by"
    )
    for row in latest_outages(_client(), since, tuple(state), feeder, limit):
        table.add_row(row["id"], _time(row["start_ns"]), row["feeder"], row["device"], row["scope"], row["state"],
                      str(row["customers"]), str(row["customers_out"]), _duration(row), ",".join(row["confirmed_by"]))  # fmt: skip
    console.print(table)


@outages_app.command("show")
def show(outage_id: str) -> None:
    """One outage: where, how big, every state change, and the isolation/restoration advice."""
    versions = outage_versions(_client(), outage_id)
    if not versions:
        raise StorageError(f"no outage with id {outage_id!r}: see `gridmon outages list`")
    last = versions[-1]
    console.print(
        f"[bold]{last['id']}[/]: {last['scope']} outage at {last['device']} (zone {last['zone']}, feeder "
        f"{last['feeder']}), {last['state']}, {last['customers']} customers, {last['customers_out']} still out, "
        f"from {_time(last['start_ns'])} ({_duration(last)}); confirmed by {', '.join(last['confirmed_by'])}"
    )
    if last["parent"]:
        console.print(f"inside outage {last['parent']}")
    table = Table("version", "state", "device", "customers", "out", "end (UTC)")
    for row in versions:
        table.add_row(str(row["version"]), row["state"], row["device"], str(row["customers"]),
                      str(row["customers_out"]), _time(row["end_ns"]))  # fmt: skip
    console.print(table)
    advice: list[str] = next((row["advice"] for row in reversed(versions) if row["advice"]), [])
    if advice:
        console.print("[bold]Advice[/] (for the operator; gridmon never operates switches):")
        for step in advice:
            console.print(f"  {step}")


def register(app: typer.Typer) -> None:
    app.add_typer(outages_app, name="outages")
