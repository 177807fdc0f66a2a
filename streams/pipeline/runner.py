"""Build the whole pipeline for one worker and run it in this process (demo, tests, benchmarks, `gridmon worker`)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import socket
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import faust

from gridmon.app import create_app
from gridmon.ingest import IngestProcessor
from gridmon.ingest.validate import DeviceRegistry
from gridmon.kafka.admin import apply_topics
from gridmon.kafka.catalog import load_catalog
from gridmon.kafka.clients import make_admin, make_consumer
from gridmon.pipeline.consumer import BatchConsumer
from gridmon.pipeline.metrics import MetricsRecorder, recording
from gridmon.pipeline.outputs import OutputPublisher
from gridmon.pipeline.progress import end_offsets
from gridmon.pipeline.stages import (
    AnomalyDetector,
    FieldLettersStage,
    IngestStage,
    OutageCorrelator,
    OutageRouter,
    OutageStage,
    Outputs,
)
from gridmon.pipeline.writer import ClickHouseWriter
from gridmon.records import KINDS
from gridmon.security.privacy import Privacy
from gridmon.settings import Settings

log = logging.getLogger(__name__)
INPUT_TOPICS = tuple(f"grid.{kind}" for kind in KINDS)


@dataclass
class Components:
    """The replaceable parts of the pipeline: the grid model's registry, detectors, outage correlation."""

    registry: DeviceRegistry
    detector: AnomalyDetector | None = None
    router: OutageRouter | None = None
    correlator: OutageCorrelator | None = None


@dataclass
class Pipeline:
    settings: Settings
    bootstrap: str
    app: faust.App
    consumer: BatchConsumer
    ingest: dict[str, IngestStage]
    outages: OutageStage | None
    publisher: OutputPublisher
    privacy: Privacy  # the outputs' (one per worker: the same meter pseudonyms everywhere)
    client: Any = None
    worker: str = "worker-1"
    metrics_interval_s: float = 5.0
    field_letters: FieldLettersStage | None = None  # grid.deadletter → dead_letters, for adapters' letters

    def stages(self) -> list[IngestStage | OutageStage]:
        return [*self.ingest.values(), *([self.outages] if self.outages else [])]

    async def wait_caught_up(self, timeout_s: float = 300.0) -> None:
        """Wait until every message now in the input topics, then every routed outage event, is processed."""
        await self._wait_for([self.settings.topic(t) for t in INPUT_TOPICS], self.ingest.values(), timeout_s)
        if self.outages is not None:
            topic = self.settings.topic("gridmon.outage-events")
            await self._wait_for([topic], [self.outages], timeout_s)

    async def _wait_for(self, topics: Sequence[str], stages: Any, timeout_s: float) -> None:
        consumer = make_consumer(self.settings, self.bootstrap, group_id="gridmon-progress-probe")
        try:
            ends = await asyncio.to_thread(end_offsets, consumer, topics)
        finally:
            consumer.close()
        for stage in stages:
            stage_ends = {tp: end for tp, end in ends.items() if tp[0] in stage_topics(self.settings, stage)}
            await stage.progress.wait_caught_up(stage_ends, timeout_s)


def stage_topics(settings: Settings, stage: IngestStage | OutageStage) -> set[str]:
    if isinstance(stage, IngestStage):
        return {settings.topic(f"grid.{stage.kind}")}
    return {settings.topic("gridmon.outage-events")}


def prepare_topics(settings: Settings, bootstrap: str) -> None:
    apply_topics(make_admin(settings, bootstrap), settings, list(load_catalog().values()))


def build_pipeline(
    settings: Settings,
    bootstrap: str,
    client: Any,
    components: Components,
    *,
    kinds: Sequence[str] = KINDS,
    app_id: str = "gridmon",
    web_port: int | None = None,
    batch_max_messages: int | None = None,
) -> Pipeline:
    privacy = Privacy.from_settings(settings, components.registry)  # refuses the dev key in production
    publisher = OutputPublisher(settings, bootstrap)
    outputs = Outputs(ClickHouseWriter(client), publisher, privacy)
    ingest = {
        kind: IngestStage(
            kind,
            IngestProcessor(kind, settings, components.registry),
            outputs,
            detector=components.detector,
            router=components.router,
        )
        for kind in kinds
    }
    outage_stage = OutageStage(components.correlator, outputs) if components.correlator else None
    handlers: dict[str, Any] = {f"grid.{kind}": stage for kind, stage in ingest.items()}
    if outage_stage is not None:
        handlers["gridmon.outage-events"] = outage_stage
    own_letters = frozenset(settings.topic(f"grid.{kind}").encode() for kind in KINDS)
    field_letters = handlers["grid.deadletter"] = FieldLettersStage(outputs, own_letters)
    app, consumer = create_app(
        settings, bootstrap, handlers, app_id=app_id, web_port=web_port, batch_max_messages=batch_max_messages
    )
    worker = f"{socket.gethostname()}:{os.getpid()}"
    return Pipeline(
        settings,
        bootstrap,
        app,
        consumer,
        ingest,
        outage_stage,
        publisher,
        privacy,
        client,
        worker=worker,
        field_letters=field_letters,
    )


def stage_name(stage: IngestStage | OutageStage) -> str:
    return f"ingest.{stage.kind}" if isinstance(stage, IngestStage) else "outages"


def metrics_recorder(pipeline: Pipeline) -> MetricsRecorder:
    """Throughput and busy time per stage; consumer lag from the batch consumer's high watermarks."""
    by_name = {stage_name(stage): stage for stage in pipeline.stages()}

    def lag_of(name: str) -> int | None:
        stage = by_name[name]
        topics = stage_topics(pipeline.settings, stage)
        lag = 0
        try:
            for topic, partition in set(pipeline.consumer.stats.assigned):
                if topic in topics:
                    high = pipeline.consumer.highwater(topic, partition)
                    lag += max(0, (high or 0) - stage.progress.next_offset.get((topic, partition), 0))
        except Exception:  # not assigned yet, or the consumer is restarting
            return None
        return lag

    return MetricsRecorder(pipeline.worker, {n: s.progress for n, s in by_name.items()}, lag_of)


@contextlib.asynccontextmanager
async def running(pipeline: Pipeline) -> AsyncIterator[Pipeline]:
    """Start the Faust app in this event loop, with health metrics; stop it (after in-flight batches) on exit.

    What exists by now (grid model, registry, restored state: millions of objects at 1M meters) lives as
    long as the worker: frozen out of the garbage collector, whose full passes would otherwise walk it all
    again and again (a pause of 70–150 ms on the medium grid, in the middle of a batch)."""
    await pipeline.app.start()
    gc.collect()  # what is garbage now is not frozen with the rest
    gc.freeze()
    try:
        if pipeline.client is None:
            yield pipeline
        else:
            recorder = metrics_recorder(pipeline)
            async with recording(recorder, pipeline.client, pipeline.metrics_interval_s):
                yield pipeline
    finally:
        await pipeline.app.stop()
        pipeline.publisher.close()
        gc.unfreeze()  # collectable again once this pipeline is gone (tests run many in one process)
