"""A batch's raw rows start into ClickHouse before the detectors score it (the insert runs in a thread while
the scoring holds the event loop), and batches that overlap are still scored and stored in batch order."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import orjson

from gridmon.ingest import IngestBatch, IngestProcessor, RawMessage
from gridmon.ingest.validate import SetRegistry
from gridmon.pipeline.outputs import OutputPublisher
from gridmon.pipeline.runner import prepare_topics
from gridmon.pipeline.stages import IngestStage, Outputs
from gridmon.pipeline.writer import ClickHouseWriter
from gridmon.records import Anomaly
from gridmon.security.privacy import Privacy
from gridmon.settings import Settings

DEVICE = "S01F3-BRK"


class RecordingWriter:
    """The real ClickHouse writer, noting which table each write was for when it began."""

    def __init__(self, inner: ClickHouseWriter) -> None:
        self.inner = inner
        self.begun: list[str] = []

    async def write(
        self, table: str, columns: dict[str, Any], messages: Sequence[RawMessage]
    ) -> list[tuple[int, str]]:
        self.begun.append(table)
        return await self.inner.write(table, columns, messages)


class WatchingDetector:
    """Notes, for each batch it scores, its first offset and the writes begun by then."""

    def __init__(self, writer: RecordingWriter) -> None:
        self.writer = writer
        self.scored: list[tuple[int, list[str]]] = []

    def process(self, kind: str, batch: IngestBatch) -> list[Anomaly]:
        self.scored.append((int(batch.columns["_offset"][0]), list(self.writer.begun)))
        return []


def breaker_message(settings: Settings, offset: int, ts: int) -> RawMessage:
    reading = {"device": DEVICE, "ts": ts, "event": "open", "point": "status", "value": 0.0}
    envelope = {"readings": [reading], "source": "rtu-S01F3", "sent_ns": time.time_ns()}
    return RawMessage(settings.topic("grid.scada"), 0, offset, orjson.dumps(envelope), b"rtu-S01F3")


def test_raw_rows_are_written_while_the_batch_is_scored_and_batches_keep_their_order(
    settings: Settings, client: Any
) -> None:
    bootstrap = settings.kafka_bootstrap or ""
    prepare_topics(settings, bootstrap)
    client.command("TRUNCATE TABLE IF EXISTS scada_events")
    registry = SetRegistry([DEVICE])
    writer = RecordingWriter(ClickHouseWriter(client))
    detector = WatchingDetector(writer)
    publisher = OutputPublisher(settings, bootstrap)
    outputs = Outputs(writer, publisher, Privacy.from_settings(settings, registry))
    stage = IngestStage("scada", IngestProcessor("scada", settings, registry), outputs, detector=detector)
    ts = time.time_ns() - 60 * 10**9

    async def two_overlapping_batches() -> None:
        first = [breaker_message(settings, 0, ts)]
        second = [breaker_message(settings, 1, ts + 10**9)]
        await asyncio.gather(stage(first), stage(second))  # batch 2 arrives while batch 1 is in hand

    try:
        asyncio.run(two_overlapping_batches())
    finally:
        publisher.close()

    assert [offset for offset, _ in detector.scored] == [0, 1]
    assert detector.scored[0][1][:1] == ["scada_events"]  # batch 1's insert began before its scoring
    stored = client.query("SELECT _offset FROM scada_events ORDER BY _offset").result_rows
    assert stored == [(0,), (1,)]
    assert stage.progress.readings == 2
