"""`gridmon outages list|show`: outages for people, from ClickHouse (the newest version of each outage), with
the IEEE 1366 indices (SAIFI, SAIDI, CAIDI, MAIFI) of the period. Queries are parameterized.
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
from gridmon.store.reliability import ReliabilityIndices, reliability_indices

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


def print_reliability(client: Any, start_ns: int, end_ns: int, areas: set[tuple[str, str]] | None) -> None:
    """The indices of the period for the system and each feeder (or only `areas`: (level, area) pairs)."""
    try:
        rows = reliability_indices(client, start_ns, end_ns)
    except StorageError as exc:  # the outages are shown; the indices need the grid model's dimensions too
        console.print(f"[yellow]reliability indices unavailable:[/] {exc}")
        return
    wanted = (
        [r for r in rows if (r.level, r.area) in areas] if areas else [r for r in rows if r.level != "zone"]
    )
    console.print(
        f"Reliability (IEEE 1366) of outages starting {_time(start_ns)} – {_time(end_ns)} UTC; "
        "sustained ≥ 5 min, momentary for MAIFI:"
    )
    table = Table("level", "area", "customers", "SAIFI", "SAIDI min", "CAIDI min", "MAIFI", "sustained")
    for row in wanted:
        table.add_row(*_indices_cells(row))
    console.print(table)


def _indices_cells(row: ReliabilityIndices) -> list[str]:
    return [row.level, row.area, str(row.customers_served), f"{row.saifi:.4f}", f"{row.saidi_min:.2f}",
            f"{row.caidi_min:.1f}", f"{row.maifi:.4f}", str(row.sustained_events)]  # fmt: skip


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
    now = int(datetime.now(tz=UTC).timestamp() * 1e9)
    since = now - int(hours * 3600 * 1e9)
    client = _client()
    table = Table(
        "id", "start (UTC)", "feeder", "device", "scope", "state", "customers", "out", "duration", "by"
    )
    for row in latest_outages(client, since, tuple(state), feeder, limit):
        table.add_row(row["id"], _time(row["start_ns"]), row["feeder"], row["device"], row["scope"], row["state"],
                      str(row["customers"]), str(row["customers_out"]), _duration(row), ",".join(row["confirmed_by"]))  # fmt: skip
    console.print(table)
    print_reliability(client, since, now, {("system", "system"), ("feeder", feeder)} if feeder else None)


@outages_app.command("show")
def show(
    outage_id: str,
    hours: float = typer.Option(24.0, help="reliability indices of outages that started in the last N hours"),
) -> None:
    """One outage: where, how big, every state change, the isolation/restoration advice, and the reliability
    indices of its feeder and zone (the period includes the outage)."""
    client = _client()
    versions = outage_versions(client, outage_id)
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
    now = int(datetime.now(tz=UTC).timestamp() * 1e9)
    since = min(now - int(hours * 3600 * 1e9), int(last["start_ns"]))
    end = max(now, int(last["end_ns"] or 0) + 1, int(last["start_ns"]) + 1)
    areas = {("system", "system"), ("feeder", last["feeder"]), ("zone", last["zone"])}
    print_reliability(client, since, end, areas)


def register(app: typer.Typer) -> None:
    app.add_typer(outages_app, name="outages")
