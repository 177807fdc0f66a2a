"""`gridmon replay --from … --to …`: train a worker's detector baselines on ClickHouse history (cold start)."""

from __future__ import annotations

from datetime import datetime

import typer
from rich.console import Console
from rich.table import Table

from gridmon.detect.bank import DetectorBank
from gridmon.detect.config import BankConfig
from gridmon.errors import ConfigError
from gridmon.pipeline.assembly import device_context, load_model
from gridmon.pipeline.checkpoint import StateCheckpointer
from gridmon.pipeline.replay import replay
from gridmon.settings import load_settings
from gridmon.store.client import connect

console = Console()


def _ns(text: str, option: str) -> int:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"{option}: expected an ISO 8601 time such as 2026-11-01T00:00:00Z, got {text!r}"
        ) from None
    if moment.tzinfo is None:
        raise ConfigError(f"{option}: give a time zone (e.g. a trailing Z for UTC), got {text!r}")
    return int(moment.timestamp() * 1e9)


def replay_command(
    start: str = typer.Option(..., "--from", help="start of the history, ISO 8601 with time zone"),
    end: str = typer.Option(..., "--to", help="end of the history (exclusive), ISO 8601 with time zone"),
    model_path: str = typer.Option(None, "--model", help="grid model file; default <data dir>/grid.model"),
    window_s: float = typer.Option(60.0, help="event-time window read per query"),
) -> None:
    """Learn baselines from stored readings and save them as this worker's (GRIDMON_WORKER_ID) checkpoint."""
    start_ns, end_ns = _ns(start, "--from"), _ns(end, "--to")
    if end_ns <= start_ns:
        raise ConfigError("--to must be after --from")
    settings = load_settings()
    model = load_model(settings, model_path)
    client = connect(settings)
    bank = DetectorBank(BankConfig(), device_context(model))
    checkpointer = StateCheckpointer(client, settings.worker_id, {"detector": bank})
    checkpointer.restore()
    counts = replay(client, model, bank, start_ns, end_ns, window_s)
    checkpointer.save()
    table = Table("kind", "readings", "windows", title=f"replay into worker {settings.worker_id}")
    for count in counts:
        table.add_row(count.kind, f"{count.readings:,}", str(count.windows))
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("replay")(replay_command)
