"""`gridmon demo`: broker, ClickHouse, a feeder, the full pipeline on a scenario, a scored report and charts.

The demo is a sandbox: on the embedded default it works in `<data dir>/demo` (wiped at start); against a
ClickHouse server it uses the database `<GRIDMON_CLICKHOUSE_DATABASE>_demo`, never the production one.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from gridmon.demo import charts
from gridmon.demo.report import (
    build_report,
    dead_letter_count,
    latest_anomalies,
    latest_outages,
    score_run,
    stored_rows,
)
from gridmon.grid import GridModel
from gridmon.grid.generate import generate
from gridmon.kafka.clients import make_producer
from gridmon.kafka.embedded import kafka_bootstrap
from gridmon.pipeline.assembly import assemble_components
from gridmon.pipeline.runner import Pipeline, build_pipeline, prepare_topics, running
from gridmon.records import Outage
from gridmon.security.privacy import with_real_meters
from gridmon.settings import Settings, load_settings
from gridmon.simulate import Simulator, publish, write_ground_truth
from gridmon.store.client import connect
from gridmon.store.dimensions import load_dimensions
from gridmon.store.migrations import migrate

console = Console()


@dataclass(frozen=True)
class DemoOptions:
    size: str = "small"
    scenario: str = "mixed"
    seed: int = 1
    duration_s: float = 900.0
    model_path: Path | None = None  # an imported model instead of a generated feeder
    report_path: Path | None = None
    charts_dir: Path | None = None
    sandbox: bool = True  # work in <data dir>/demo (or a `_demo` database), wiped first


def demo_settings(settings: Settings, sandbox: bool) -> Settings:
    if not sandbox:
        return settings
    if settings.embedded_clickhouse:
        data_dir = settings.data_dir / "demo"
        shutil.rmtree(data_dir, ignore_errors=True)
        return settings.model_copy(update={"data_dir": data_dir})
    return settings.model_copy(update={"clickhouse_database": f"{settings.clickhouse_database}_demo"})


def run_demo(options: DemoOptions, settings: Settings | None = None) -> dict[str, Any]:
    started = time.monotonic()
    settings = demo_settings(settings or load_settings(), options.sandbox)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with kafka_bootstrap(settings) as bootstrap:
        console.print(f"[bold]gridmon demo[/] — Kafka {bootstrap}, ClickHouse {_where(settings)}")
        prepare_topics(settings, bootstrap)
        client = connect(settings)
        if options.sandbox and not settings.embedded_clickhouse:
            client.command(f"DROP DATABASE IF EXISTS `{settings.clickhouse_database}`")
            client = connect(settings)
        migrate(client)
        model = _model(options)
        load_dimensions(client, *model.dimension_rows())
        simulator = Simulator(
            model, options.scenario, seed=options.seed, duration_s=options.duration_s, sent_clock="wall"
        )
        write_ground_truth(client, f"demo-{uuid.uuid4().hex[:8]}", simulator.truths)
        pipeline = build_pipeline(settings, bootstrap, client, assemble_components(model))
        events = asyncio.run(_run_pipeline(pipeline, simulator, settings, bootstrap))
        minutes = pipeline.outages.correlator.customer_minutes() if pipeline.outages is not None else {}
        report = _report(client, model, simulator, options, events, minutes, time.monotonic() - started)
    _write_outputs(report, client, simulator, options, settings)
    return report


async def _run_pipeline(pipeline: Pipeline, simulator: Simulator, settings: Settings, bootstrap: str) -> Any:
    async with running(pipeline):
        producer = make_producer(settings, bootstrap)
        counts = await asyncio.to_thread(publish, simulator, producer, settings)
        await pipeline.wait_caught_up(timeout_s=600)
        if pipeline.outages is not None:
            await pipeline.outages.flush(simulator.end_ns + 600 * 10**9)
    return counts.readings


def _model(options: DemoOptions) -> GridModel:
    if options.model_path is not None:
        return GridModel.load(options.model_path)
    return generate(options.size, seed=options.seed)


def _report(
    client: Any,
    model: GridModel,
    simulator: Simulator,
    options: DemoOptions,
    events: Any,
    customer_minutes: dict[str, float],
    wall: float,
) -> dict[str, Any]:
    # Scoring and reliability work on the grid model: resolve meter pseudonyms (the demo's user is admin).
    anomalies = with_real_meters(client, latest_anomalies(client))
    outages = with_real_meters(client, latest_outages(client))
    run_score = score_run(model, simulator.truths, anomalies, outages)
    return build_report(
        seed=options.seed,
        events=dict(events),
        stored=stored_rows(client),
        dead_letter=dead_letter_count(client),
        anomalies=anomalies,
        outages=outages,
        truths=simulator.truths,
        run_score=run_score,
        reliability=_reliability(outages, model, simulator, customer_minutes),
        wall_seconds=wall,
    )


def _reliability(
    outages: list[dict[str, Any]],
    model: GridModel,
    simulator: Simulator,
    customer_minutes: dict[str, float],
) -> list[dict[str, Any]]:
    from gridmon.outages import reliability

    records = [
        Outage(
            id=o["id"],
            version=1,
            feeder=model.feeder_of(o["device"]) if o["device"] in model else "",
            device=o["device"],
            zone=o["zone"],
            scope=o["scope"],
            state=o["state"],
            start_ns=o["start_ns"],
            end_ns=o["end_ns"],
            customers=o["customers"],
            customers_out=0,
            confirmed_by=list(o["confirmed_by"]),
        )
        for o in outages
    ]
    # SAIDI from the customer-minutes of the restoration steps, not peak customers × duration
    end_ns = simulator.end_ns + 600 * 10**9
    indices = reliability(records, model, simulator.start_ns, end_ns, customer_minutes=customer_minutes)
    return [
        {
            "zone": f"{index.level}:{index.area}" if index.level != "zone" else index.area,
            "saifi": round(index.saifi, 5),
            "saidi": round(index.saidi_min, 4),
            "caidi": round(index.caidi_min, 4),
            "maifi": round(index.maifi, 5),
        }
        for index in indices
    ]


def _write_outputs(
    report: dict[str, Any], client: Any, simulator: Simulator, options: DemoOptions, settings: Settings
) -> None:
    report_path = options.report_path or settings.data_dir / "demo-report.json"
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(json.dumps(report, indent=2))
    charts_dir = options.charts_dir or report_path.parent / "charts"
    anomalies, outages = latest_anomalies(client), latest_outages(client)
    pictures = [
        charts.frequency_and_voltage(client, anomalies, charts_dir / "frequency_voltage.png"),
        charts.outage_timeline(outages, simulator.end_ns, charts_dir / "outages.png"),
        charts.customers_out(outages, simulator.start_ns, simulator.end_ns, charts_dir / "customers_out.png"),
    ]
    print_summary(report, report_path, pictures)


def print_summary(report: dict[str, Any], report_path: Path, pictures: list[Path]) -> None:
    table = Table(title="gridmon demo", show_header=False)
    events = report["events"]
    table.add_row("readings in", f"{sum(events.values()):,} " + str(events))
    table.add_row("stored rows", f"{report['stored']:,}")
    table.add_row("dead letters", f"{report['dead_letter']:,}")
    table.add_row("anomalies raised", str(len(report["anomalies"])))
    table.add_row("outages", str(len(report["outages"])))
    score = report["score"]
    table.add_row(
        "faults detected",
        f"{score['detected']}/{score['faults']} (missed {score['missed']}, false positives "
        f"{score['false_positives']}, latency p50/p95 {score['detection_latency_s']})",
    )
    table.add_row("wall time", f"{report['wall_seconds']} s")
    console.print(table)
    console.print(f"report: {report_path}; charts: {', '.join(str(p) for p in pictures)}")


def _where(settings: Settings) -> str:
    return settings.clickhouse_url or f"embedded in {settings.data_dir / 'clickhouse'}"
