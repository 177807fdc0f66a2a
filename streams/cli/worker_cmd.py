"""`gridmon worker`: run one pipeline worker (Faust) until stopped; start several to scale out."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

import typer
from rich.console import Console

from gridmon.errors import StorageError
from gridmon.pipeline.assembly import assemble_components, load_model
from gridmon.pipeline.checkpoint import StateCheckpointer, checkpointing, components_of, progress_offsets
from gridmon.pipeline.continuity import PublishedAlarms
from gridmon.pipeline.runner import Components, Pipeline, build_pipeline, prepare_topics, running
from gridmon.settings import Settings, load_settings
from gridmon.store.client import connect, lane_of
from gridmon.store.migrations import migrate
from gridmon.store.migrations import status as migration_status

console = Console()


def worker(
    web_port: int = typer.Option(None, help="Faust web port (distinct per worker); default GRIDMON_WEB_PORT"),
    model_path: str = typer.Option(None, "--model", help="grid model file; default <data dir>/grid.model"),
) -> None:
    """Consume the input topics and run ingest, detection and outage correlation until Ctrl-C."""
    settings = load_settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    model = load_model(settings, model_path)
    from gridmon.kafka.embedded import kafka_bootstrap

    with kafka_bootstrap(settings) as bootstrap:
        prepare_topics(settings, bootstrap)
        client = connect(settings)
        ensure_schema(settings, client)
        components = assemble_components(model)
        port = web_port or settings.web_port  # Faust's web views; workers on one machine need distinct ports
        pipeline = build_pipeline(settings, bootstrap, client, components, web_port=port)
        checkpointer, alarms = worker_state(settings, client, components, pipeline)
        console.print(f"worker {settings.worker_id} consuming from {bootstrap} (Ctrl-C stops)")
        asyncio.run(_run_forever(pipeline, checkpointer, settings.checkpoint_interval_s, alarms))


def worker_state(
    settings: Settings, client: Any, components: Components, pipeline: Pipeline
) -> tuple[StateCheckpointer, PublishedAlarms | None]:
    """What a worker keeps beyond its batches: checkpoints of its detector and correlator state, and the
    read-back of the anomalies and outages published open (continued after a takeover, `pipeline.continuity`)."""
    state = components_of(components.detector, components.correlator)
    # its own lane: a checkpoint (megabytes) must not hold up the stages' inserts
    checkpoints = lane_of(client, "checkpoints")
    checkpointer = StateCheckpointer(
        checkpoints, settings.worker_id, state, progress_offsets(pipeline.stages())
    )
    if components.detector is None:
        return checkpointer, None
    pseudonyms = pipeline.privacy.pseudonyms
    return checkpointer, PublishedAlarms(
        client, components.detector, components.registry, pseudonyms, components.correlator
    )


def ensure_schema(settings: Settings, client: Any) -> None:
    """The embedded database is ours to migrate; a server's schema is the deployer's (`gridmon db migrate`,
    run by an admin: the worker's writer user has no DDL rights)."""
    if settings.embedded_clickhouse:
        migrate(client)
        return
    pending = [m.name for m in migration_status(client) if not m.applied]
    if pending:
        raise StorageError(f"ClickHouse schema is behind ({', '.join(pending)}): run `gridmon db migrate`")


async def _run_forever(
    pipeline: Pipeline, checkpointer: StateCheckpointer, interval_s: float, alarms: PublishedAlarms | None
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    # State is restored before the first batch and saved after the last one (running() exits first); state of
    # partitions taken over in a rebalance is adopted from their previous owners' checkpoints.
    # Anomalies and outages published after those checkpoints are read back from ClickHouse and continued.
    async with checkpointing(checkpointer, interval_s, pipeline.consumer, alarms), running(pipeline):
        await stop.wait()


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)
