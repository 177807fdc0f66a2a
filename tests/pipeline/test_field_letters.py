"""Dead letters of field adapters (data that never reached an input topic) reach `dead_letters` through the
worker's `grid.deadletter` stage; the worker's own letters on that topic are not stored twice."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from gridmon.adapters import adapter_dead_letter
from gridmon.grid.generate import generate
from gridmon.ingest import RawMessage
from gridmon.pipeline.assembly import assemble_components
from gridmon.pipeline.outputs import OutputPublisher
from gridmon.pipeline.runner import build_pipeline
from gridmon.pipeline.stages import FieldLettersStage, Outputs
from gridmon.pipeline.writer import ClickHouseWriter
from gridmon.security.privacy import Privacy
from gridmon.settings import Settings

ENDPOINT = "mqtt://gateway-7/substation/S01"


def letters_topic(settings: Settings, offset: int, key: bytes, value: bytes) -> RawMessage:
    return RawMessage(settings.topic("grid.deadletter"), 0, offset, value, key)


def test_field_letters_are_stored_once_and_the_workers_own_are_skipped(
    client: Any, settings: Settings
) -> None:
    client.command("TRUNCATE TABLE IF EXISTS dead_letters")
    field_letter = adapter_dead_letter("schema", "bad CRC in C37.118 frame", ENDPOINT, b"\xaa\x01", 41)
    own_key = settings.topic("grid.pmu").encode()  # the worker's own letters: stored by its ingest already
    messages = [
        letters_topic(settings, 0, ENDPOINT.encode(), msgspec.json.encode(field_letter)),
        letters_topic(settings, 1, own_key, b"not even json: skipped unread"),
        letters_topic(settings, 2, b"someone", b"{not a letter"),
    ]
    publisher = OutputPublisher(settings, settings.kafka_bootstrap or "")
    outputs = Outputs(ClickHouseWriter(client), publisher, Privacy.from_settings(settings, generate("small")))
    stage = FieldLettersStage(outputs, frozenset({own_key}))
    try:
        asyncio.run(stage(messages))
        asyncio.run(stage(messages))  # redelivered: nothing doubles
    finally:
        publisher.close()
    rows = client.query(
        "SELECT source_topic, partition, offset, reason FROM dead_letters FINAL ORDER BY offset"
    ).result_rows
    assert rows == [
        (settings.topic("grid.deadletter"), 0, 2, "schema"),  # unreadable: stored as a letter, not published
        (ENDPOINT, -1, 41, "schema"),
    ]
    assert stage.progress.readings == 4  # two stored per delivery


def test_the_worker_consumes_the_dead_letter_topic(client: Any, settings: Settings) -> None:
    model = generate("small", seed=1)
    pipeline = build_pipeline(settings, settings.kafka_bootstrap or "", client, assemble_components(model))
    try:
        assert isinstance(pipeline.consumer.handlers[settings.topic("grid.deadletter")], FieldLettersStage)
    finally:
        pipeline.publisher.close()
