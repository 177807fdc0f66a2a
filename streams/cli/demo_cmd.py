"""`gridmon demo`: the main job on the embedded default, with a scored JSON report and charts."""

from __future__ import annotations

from pathlib import Path

import typer

from gridmon.demo.run import DemoOptions, run_demo


def demo(
    size: str = typer.Option("small", help="generated feeder size: small (≈1k meters), medium, large"),
    scenario: str = typer.Option("mixed", help="mixed, outages, pmu, sensors or storm"),
    seed: int = typer.Option(1, help="the same seed gives the same grid, faults and traffic"),
    duration: float = typer.Option(900.0, help="simulated seconds of event time"),
    model: Path = typer.Option(
        None, help="a saved grid model (gridmon grid import) instead of a generated one"
    ),
    report: Path = typer.Option(
        None, help="where the JSON report goes; default <data dir>/demo/demo-report.json"
    ),
    charts: Path = typer.Option(None, help="folder for PNG charts; default beside the report"),
) -> None:
    """Start broker and ClickHouse, load a feeder, run the full pipeline on a scenario, report and chart it."""
    if size not in ("small", "medium", "large"):
        raise typer.BadParameter("choose small, medium or large", param_hint="--size")
    run_demo(DemoOptions(size, scenario, seed, duration, model, report, charts))


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
