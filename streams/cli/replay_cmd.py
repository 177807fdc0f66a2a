"""`gridmon replay --from … --to …`: train a worker's detector baselines on ClickHouse history (cold start)."""

from __future__ import annotations

import time

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
from gridmon.timeparse import HELP, parse_instant

console = Console()


def replay_command(
    start: str = typer.Option(..., "--from", help=f"start of the history: {HELP}"),
    end: str = typer.Option(..., "--to", help=f"end of the history (exclusive): {HELP}"),
    model_path: str = typer.Option(None, "--model", help="grid model file; default <data dir>/grid.model"),
    window_s: float = typer.Option(60.0, help="event-time window read per query"),
) -> None:
    """Learn baselines from stored readings and save them as this worker's (GRIDMON_WORKER_ID) checkpoint."""
    now_ns = time.time_ns()  # one now for both ends: `--from -1h --to now` is exactly an hour
    start_ns, end_ns = parse_instant(start, "--from", now_ns), parse_instant(end, "--to", now_ns)
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
