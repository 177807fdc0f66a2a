"""End to end on real parts: valid readings of four kinds and malformed messages of every reason go through the
embedded broker and the Faust pipeline; every one is accounted for in ClickHouse or the dead letters."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import msgspec
import orjson
import pytest
from typer.testing import CliRunner

from gridmon.cli import _register_all
from gridmon.cli import app as cli_app
from gridmon.ingest.validate import SetRegistry
from gridmon.kafka.clients import make_consumer, make_producer
from gridmon.pipeline.runner import Components, build_pipeline, prepare_topics, running
from gridmon.records import DeadLetter
from gridmon.settings import Settings
from gridmon.store.client import connect
from gridmon.store.migrations import migrate

NOW = time.time_ns()
_register_all()
DEVICES = {kind: [f"{kind}-{i}" for i in range(50)] for kind in ("pmu", "sensor", "meter", "scada")}
VALID_PER_KIND = 2_500  # 10,000 valid readings in all
BAD_PER_REASON = 1_000
OVERSIZE = 10  # 2 MB each: 1,000 of them would push 2 GB through loopback for no extra insight


def reading(kind: str, i: int) -> dict[str, Any]:
    device = DEVICES[kind][i % 50]
    ts = NOW - 60 * 10**9 + i * 1_000_000
    if kind == "pmu":
        return {"device": device, "ts": ts, "freq_hz": 60.0 + (i % 7) * 0.001, "va": 7200.0}
    if kind == "sensor":
        return {"device": device, "ts": ts, "voltage_v": 240.0, "temperature_c": 40.0}
    if kind == "meter":
        return {"device": device, "ts": ts, "event": "interval", "kwh": 0.5, "voltage_v": 241.0}
    return {"device": device, "ts": ts, "event": "open" if i % 2 else "close"}


def envelope(readings: list[dict[str, Any]]) -> bytes:
    return orjson.dumps({"readings": readings, "source": "test", "sent_ns": time.time_ns()})


def malformed() -> dict[str, list[bytes]]:
    good = reading("pmu", 0)
    return {
        "not_json": [envelope([good])[:-7]] * BAD_PER_REASON,
        "schema": [envelope([{**good, "freq_hz": "sixty"}])] * BAD_PER_REASON,
        "out_of_range": [b'{"readings": [{"device": "pmu-1", "ts": 1, "freq_hz": NaN}]}'] * BAD_PER_REASON,
        "time_skew": [envelope([{**good, "ts": NOW + 86_400 * 10**9 + i}]) for i in range(BAD_PER_REASON)],
        "unknown_device": [
            envelope([{**good, "device": "pmu-ghost", "ts": NOW - i}]) for i in range(BAD_PER_REASON)
        ],
        "not_utf8": [b'{"readings": [\xff\xfe]}'] * BAD_PER_REASON,
        "oversize": [b'{"readings": [], "source": "' + b"x" * 2_000_000 + b'"}'] * OVERSIZE,
    }


def produce_all(settings: Settings) -> Counter[str]:
    producer = make_producer(settings, settings.kafka_bootstrap or "")
    produced: Counter[str] = Counter()
    for kind in DEVICES:
        for start in range(0, VALID_PER_KIND, 50):  # envelopes of 50 readings
            batch = [reading(kind, i) for i in range(start, start + 50)]
            producer.produce(settings.topic(f"grid.{kind}"), key=b"gw", value=envelope(batch))
            producer.poll(0)
        produced[kind] = VALID_PER_KIND
    for reason, values in malformed().items():
        for value in values:
            producer.produce(settings.topic("grid.pmu"), key=b"bad", value=value)
            producer.poll(0)
        produced[reason] = len(values)
    assert producer.flush(60) == 0
    return produced


def dead_letter_topic_reasons(settings: Settings, expected: int) -> Counter[str]:
    consumer = make_consumer(settings, settings.kafka_bootstrap or "", group_id=f"{settings.topic_prefix}dl")
    consumer.subscribe([settings.topic("grid.deadletter")])
    reasons: Counter[str] = Counter()
    deadline = time.monotonic() + 60
    while sum(reasons.values()) < expected and time.monotonic() < deadline:
        for message in consumer.consume(1000, timeout=1):
            if message.error() is None:
                reasons[msgspec.json.decode(message.value(), type=DeadLetter).reason] += 1
    consumer.close()
    return reasons


@pytest.mark.timeout(600)
def test_every_input_is_stored_or_dead_lettered_with_its_reason(settings: Settings) -> None:
    bootstrap = settings.kafka_bootstrap or ""
    prepare_topics(settings, bootstrap)
    client = connect(settings)
    migrate(client)
    registry = SetRegistry([device for devices in DEVICES.values() for device in devices])
    pipeline = build_pipeline(settings, bootstrap, client, Components(registry=registry))
    produced = produce_all(settings)

    async def run() -> None:
        async with running(pipeline):
            await pipeline.wait_caught_up(timeout_s=300)

    asyncio.run(run())
    tables = {
        "pmu": "pmu_readings",
        "sensor": "sensor_readings",
        "meter": "meter_events",
        "scada": "scada_events",
    }
    for kind, table in tables.items():
        stored = client.query(f"SELECT count() FROM {table}").result_rows[0][0]
        assert stored == produced[kind], f"{table}: {stored} rows for {produced[kind]} valid readings"
    in_table = dict(
        client.query("SELECT reason, count() FROM dead_letters FINAL GROUP BY reason").result_rows
    )
    expected = {reason: count for reason, count in produced.items() if reason not in tables}
    assert in_table == expected
    assert dead_letter_topic_reasons(settings, sum(expected.values())) == Counter(expected)
    sample = client.query(
        "SELECT source_topic, partition, offset, detail, length(original) FROM dead_letters FINAL "
        "WHERE reason = 'schema' LIMIT 1"
    ).result_rows[0]
    assert sample[0] == settings.topic("grid.pmu") and "freq_hz" in sample[3] and sample[4] > 0
    assert_status_shows_counters(settings, expected)


def assert_status_shows_counters(settings: Settings, expected: dict[str, int]) -> None:
    """`gridmon status` shows the same counters per reason, and no lag once the pipeline caught up."""
    env = {
        "GRIDMON_DATA_DIR": str(settings.data_dir),
        "GRIDMON_CLICKHOUSE_DATABASE": settings.clickhouse_database,
        "GRIDMON_KAFKA_BOOTSTRAP": settings.kafka_bootstrap or "",
        "GRIDMON_TOPIC_PREFIX": settings.topic_prefix,
    }
    result = CliRunner().invoke(cli_app, ["status"], env=env, terminal_width=200)
    assert result.exit_code == 0, result.output
    for reason, count in expected.items():
        assert any(reason in line and f"{count:,}" in line for line in result.output.splitlines()), reason
    cells = [[cell.strip() for cell in line.split("│")[1:-1]] for line in result.output.splitlines()]
    lag_rows = [row for row in cells if len(row) == 5 and row[0].startswith(settings.topic("grid."))]
    assert lag_rows and all(row[4] == "0" for row in lag_rows)
