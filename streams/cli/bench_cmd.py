"""`gridmon bench`: measure the real pipeline end to end on the embedded stack and print the figures as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from gridmon.bench import BenchOptions, Workload, run_bench


def bench(
    size: str = typer.Option("medium", help="generated grid: small (≈1k meters), medium (≈50k), large (≈1M)"),
    scenario: str = typer.Option("mixed", help="simulator scenario: mixed, outages, pmu, sensors or storm"),
    backlog_seconds: float = typer.Option(
        600.0, help="event-time seconds of traffic for the throughput phase"
    ),
    workers: int = typer.Option(1, min=1, help="worker processes (each with its own embedded ClickHouse)"),
    partitions: int = typer.Option(4, min=1, help="partitions per input topic (≥ workers)"),
    latency_seconds: float = typer.Option(20.0, help="wall seconds of the latency phase"),
    rate_fraction: float = typer.Option(0.5, help="latency/soak load as a share of the measured maximum"),
    rate: float = typer.Option(
        None, min=1.0, help="fixed readings/s for the latency/soak load instead of --rate-fraction"
    ),
    soak_seconds: float = typer.Option(0.0, help="soak phase at the same load (600 for the 10-minute soak)"),
    batch_max_messages: int = typer.Option(
        None, help="messages per batch handed to a stage (default: GRIDMON_BATCH_MAX_MESSAGES)"
    ),
    profile: Path = typer.Option(None, help="folder for cProfile dumps of the throughput phase (per worker)"),
    output: Path = typer.Option(None, help="also write the JSON here"),
) -> None:
    """Run broker, workers and producer; print throughput, ratio to a raw consumer, latency and memory."""
    if size not in ("small", "medium", "large"):
        raise typer.BadParameter("choose small, medium or large", param_hint="--size")
    if partitions < workers:
        raise typer.BadParameter("needs at least one partition per worker", param_hint="--partitions")
    options = BenchOptions(
        workload=Workload(size, scenario),
        backlog_seconds=backlog_seconds,
        workers=workers,
        partitions=partitions,
        latency_seconds=latency_seconds,
        rate_fraction=rate_fraction,
        rate=rate,
        soak_seconds=soak_seconds,
        batch_max_messages=batch_max_messages,
        profile_dir=profile,
    )
    text = json.dumps(run_bench(options), indent=2)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text + "\n")
    typer.echo(text)


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)
