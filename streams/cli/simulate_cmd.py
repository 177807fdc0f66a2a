"""`gridmon simulate`: drive the input topics with a scenario of labelled faults and write its ground truth.

The model is generated (`--size small|medium|large`) or loaded from a saved model file.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from gridmon.errors import ConfigError, GridModelError
from gridmon.settings import Settings, load_settings

console = Console()
SIZES = ("small", "medium", "large")


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate)


def simulate(
    scenario: str = typer.Option("mixed", help="mixed | outages | pmu | sensors | storm"),
    seed: int = typer.Option(1, help="the same seed gives the same faults and the same bytes"),
    size: str = typer.Option("small", help="small | medium | large (generated) or a saved model file"),
    speed: str = typer.Option("max", help="max (as fast as possible), 1 (real time) or N (N× real time)"),
    duration: float = typer.Option(600.0, min=1.0, help="event-time seconds to simulate"),
    truth: Path | None = typer.Option(None, help="write the ground truth to this JSON file"),
    fps: int = typer.Option(30, min=1, max=240, help="PMU frames per second"),
    nominal_hz: float = typer.Option(60.0, help="50 or 60"),
    interval: int = typer.Option(900, min=1, help="AMI interval in seconds (shorten for a demo)"),
    run_id: str | None = typer.Option(None, help="id of this run in ClickHouse (default: random)"),
    clickhouse: bool = typer.Option(True, help="also write the ground truth to ClickHouse"),
    plan_only: bool = typer.Option(False, "--plan-only", help="print the faults and stop; send nothing"),
) -> None:
    """Send event-time traffic with labelled faults to the input topics."""
    from gridmon.simulate import Rates, Simulator

    settings = load_settings()
    paced = parse_speed(speed)
    model = load_model(size, seed)
    try:
        rates = Rates(pmu_fps=fps, nominal_hz=nominal_hz, meter_interval_s=interval)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    simulator = Simulator(
        model,
        scenario,
        seed,
        start_ns=default_start_ns(duration, paced),
        duration_s=duration,
        rates=rates,
        sent_clock="wall",
    )
    run = run_id or uuid.uuid4().hex[:12]
    _print_faults(simulator)
    if plan_only:
        return
    counts = _send(simulator, settings, paced)
    _write_truth(simulator, settings, run, size, truth, clickhouse)
    _print_counts(counts.as_dict(), run)


def parse_speed(speed: str) -> float | None:
    """`max` → None (as fast as possible); a positive number → that multiple of real time."""
    if speed.lower() == "max":
        return None
    try:
        value = float(speed)
    except ValueError:
        raise ConfigError(f"--speed must be max or a positive number, got {speed!r}") from None
    if value <= 0:
        raise ConfigError(f"--speed must be max or a positive number, got {speed!r}")
    return value


def default_start_ns(duration_s: float, speed: float | None) -> int:
    """Real time starts now; faster runs end now, so that no event time is in the future when it is sent."""
    now = time.time_ns()
    return now if speed == 1.0 else now - int(duration_s * 1e9)


def load_model(size: str, seed: int) -> Any:
    """A generated model for small|medium|large, else a saved (or importable) model file."""
    if size in SIZES:
        try:
            from gridmon.grid.generate import generate
        except ImportError as exc:
            raise GridModelError(
                f"the grid model package is not available ({exc}); reinstall gridmon"
            ) from None
        return generate(size, seed=seed)
    path = Path(size)
    if not path.exists():
        raise GridModelError(f"--size {size!r} is neither small|medium|large nor an existing model file")
    from gridmon.grid.model import GridModel

    return GridModel.load(path)


def _send(simulator: Any, settings: Settings, speed: float | None) -> Any:
    from gridmon.kafka.admin import apply_topics
    from gridmon.kafka.catalog import load_catalog
    from gridmon.kafka.clients import make_admin, make_producer
    from gridmon.kafka.embedded import kafka_bootstrap, running_broker
    from gridmon.simulate import publish

    if settings.embedded_kafka and running_broker(settings) is None:
        console.print(
            "[yellow]note:[/] no broker configured or running: starting an embedded one for this run only "
            "(its data is gone when the command ends; run `gridmon broker` in another terminal to keep it)"
        )
    with kafka_bootstrap(settings) as bootstrap:
        apply_topics(make_admin(settings, bootstrap), settings, list(load_catalog().values()))
        producer = make_producer(settings, bootstrap)
        return publish(simulator, producer, settings, speed)


def _write_truth(
    simulator: Any, settings: Settings, run_id: str, model: str, path: Path | None, clickhouse: bool
) -> None:
    from gridmon.simulate import TruthFile, write_ground_truth, write_truth_file

    if path is not None:
        document = TruthFile(
            run_id=run_id,
            scenario=simulator.scenario.name,
            seed=simulator.seed,
            start_ns=simulator.start_ns,
            end_ns=simulator.end_ns,
            model=model,
            faults=simulator.truths,
            skipped=simulator.skipped,
            stats=dict(simulator.stats),
        )
        console.print(f"ground truth: {write_truth_file(path, document)}")
    if not clickhouse:
        return
    client = _clickhouse_client(settings)
    if client is None:
        console.print(
            "[yellow]note:[/] no ClickHouse client available: ground truth written to the file only"
        )
        return
    written = write_ground_truth(client, run_id, simulator.truths)
    console.print(f"ground truth: {written} rows in ClickHouse (run {run_id})")


def _clickhouse_client(settings: Settings) -> Any:
    """The store's client when the store package is installed (it owns connection and migrations)."""
    try:
        from gridmon.store import client as store_client
    except ImportError:
        return None
    factory = getattr(store_client, "make_client", None) or getattr(store_client, "get_client", None)
    return factory(settings) if factory is not None else None


def _print_faults(simulator: Any) -> None:
    table = Table(
        "id", "kind", "device", "zone", "start s", "length s", "customers", title="faults (ground truth)"
    )
    for fault in simulator.truths:
        offset = (fault.start_ns - simulator.start_ns) / 1e9
        length = (fault.end_ns - fault.start_ns) / 1e9
        table.add_row(
            fault.id,
            fault.kind,
            fault.device,
            fault.zone,
            f"{offset:.1f}",
            f"{length:.1f}",
            str(fault.customers or ""),
        )
    console.print(table)
    for note in simulator.skipped:
        console.print(f"[yellow]skipped:[/] {note}")


def _print_counts(counts: dict[str, Any], run_id: str) -> None:
    table = Table("kind", "messages", "readings", title=f"sent (run {run_id}, {counts['wall_seconds']} s)")
    for kind, messages in counts["messages"].items():
        table.add_row(kind, f"{messages:,}", f"{counts['readings'][kind]:,}")
    console.print(table)
