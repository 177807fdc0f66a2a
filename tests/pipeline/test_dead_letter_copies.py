"""A reading repeated inside one envelope, when it was already received in an earlier message: every copy is
dead-lettered, and each must stay a row of its own in `dead_letters` (the demo's one-reading accounting gap)."""

from __future__ import annotations

import asyncio
import time

import orjson

from gridmon.ingest import IngestProcessor, RawMessage
from gridmon.ingest.validate import SetRegistry
from gridmon.pipeline.outputs import OutputPublisher
from gridmon.pipeline.runner import prepare_topics
from gridmon.pipeline.stages import IngestStage, Outputs
from gridmon.pipeline.writer import ClickHouseWriter
from gridmon.security.privacy import Privacy
from gridmon.settings import Settings
from gridmon.store.client import connect
from gridmon.store.migrations import migrate

DEVICE = "S01F2-BRK"


def scada_message(settings: Settings, offset: int, copies: int, ts: int) -> RawMessage:
    """A breaker's fault indicator, `copies` times in one envelope (an RTU reporting each fuse below it)."""
    reading = {
        "device": DEVICE,
        "ts": ts,
        "event": "fault_indicator",
        "point": "fault_indicator",
        "value": 1.0,
    }
    envelope = {"readings": [reading] * copies, "source": "rtu-S01F2", "sent_ns": time.time_ns()}
    return RawMessage(settings.topic("grid.scada"), 0, offset, orjson.dumps(envelope), b"rtu-S01F2")


def test_repeated_copies_of_a_received_reading_are_each_accounted_for(settings: Settings) -> None:
    bootstrap = settings.kafka_bootstrap or ""
    prepare_topics(settings, bootstrap)
    client = connect(settings)
    migrate(client)
    registry = SetRegistry([DEVICE])
    publisher = OutputPublisher(settings, bootstrap)
    outputs = Outputs(ClickHouseWriter(client), publisher, Privacy.from_settings(settings, registry))
    stage = IngestStage("scada", IngestProcessor("scada", settings, registry), outputs)
    ts = time.time_ns() - 10 * 10**9
    batch = [scada_message(settings, 0, 1, ts), scada_message(settings, 1, 2, ts)]  # 3 readings
    try:
        asyncio.run(stage(batch))
        asyncio.run(stage(batch))  # redelivered (a rebalance before the commit): nothing is doubled
    finally:
        publisher.close()

    stored = client.query("SELECT count() FROM scada_events").result_rows[0][0]
    letters = client.query("SELECT offset, reason FROM dead_letters FINAL ORDER BY detail").result_rows
    assert stored == 1
    assert letters == [(1, "duplicate"), (1, "duplicate")]
    assert stage.progress.dead_letters == 4  # two per delivery
