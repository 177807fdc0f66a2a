"""Privacy end to end on the embedded broker and chdb with a generated grid: an opted-out customer's interval
reads are not stored nor analysed but its last gasp still raises an outage that counts it; anomalies and
outages of single meters carry pseudonyms in ClickHouse and on the output topics; an admin reveals them."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from gridmon.cli import _register_all
from gridmon.cli import app as cli_app
from gridmon.grid.generate import generate
from gridmon.kafka.clients import make_consumer, make_producer
from gridmon.pipeline.assembly import assemble_components
from gridmon.pipeline.runner import build_pipeline, prepare_topics, running
from gridmon.records import Outage
from gridmon.security.privacy import with_real_meters
from gridmon.security.pseudonym import pseudonymise
from gridmon.settings import Settings, get_settings
from gridmon.store.client import connect
from gridmon.store.migrations import migrate

SECOND = 1_000_000_000
KEY = "privacy-pipeline-test-key-0123456789"
_register_all()


def interval(meter: str, ts: int, voltage_v: float) -> dict[str, Any]:
    return {"device": meter, "ts": ts, "event": "interval", "kwh": 0.3, "voltage_v": voltage_v}


def gasp(meter: str, ts: int) -> dict[str, Any]:
    return {"device": meter, "ts": ts, "event": "last_gasp"}


def produce(settings: Settings, envelopes: list[list[dict[str, Any]]]) -> None:
    producer = make_producer(settings, settings.kafka_bootstrap or "")
    for readings in envelopes:
        value = orjson.dumps({"readings": readings, "source": "head-end", "sent_ns": time.time_ns()})
        producer.produce(settings.topic("grid.meter"), key=b"he", value=value)
    assert producer.flush(30) == 0


def outage_topic(settings: Settings, expected: int) -> list[Outage]:
    consumer = make_consumer(settings, settings.kafka_bootstrap or "", group_id=f"{settings.topic_prefix}o")
    consumer.subscribe([settings.topic("grid.outages")])
    records: list[Outage] = []
    deadline = time.monotonic() + 30
    while len(records) < expected and time.monotonic() < deadline:
        for message in consumer.consume(100, timeout=1):
            if message.error() is None:
                records.append(msgspec.json.decode(message.value(), type=Outage))
    consumer.close()
    return records


@pytest.mark.timeout(300)
def test_opt_out_and_pseudonyms_through_the_pipeline(settings: Settings, tmp_path: Path) -> None:
    model = generate("small", seed=1)
    transformer = next(t for t in model.devices_of_kind("transformer") if len(model.meters_below(t)) >= 4)
    street = model.meters_below(transformer)
    others = [m for m in model.devices_of_kind("meter") if model.feeder_of(m) != model.feeder_of(transformer)]
    alone, sagging = others[0], others[-1]  # `alone` opted out, gasps alone; `sagging` reads low voltage
    opt_out = tmp_path / "opt-out.txt"
    opt_out.write_text(f"# opted out by letter\n{alone}\n{street[0]}\n")
    settings = settings.model_copy(update={"pseudonym_key": SecretStr(KEY), "opt_out_file": opt_out})
    bootstrap = settings.kafka_bootstrap or ""
    prepare_topics(settings, bootstrap)
    client = connect(settings)
    migrate(client)
    pipeline = build_pipeline(settings, bootstrap, client, assemble_components(model))
    t0 = time.time_ns() - 120 * SECOND
    reads = [interval(m, t0 + i * SECOND, 150.0) for i in range(3) for m in (alone, sagging)]
    reads += [interval(m, t0 + i * SECOND, 240.0) for i in range(3) for m in street]
    produce(settings, [reads, [gasp(alone, t0 + 10 * SECOND)], [gasp(m, t0 + 40 * SECOND) for m in street]])

    async def run() -> None:
        async with running(pipeline):
            await pipeline.wait_caught_up(timeout_s=120)
            assert pipeline.outages is not None
            await pipeline.outages.flush(t0 + 110 * SECOND)

    asyncio.run(run())
    stored = dict(client.query("SELECT device, count() FROM meter_events GROUP BY device").result_rows)
    assert set(stored) == {sagging, alone, *street[1:], street[0]}  # opted-out meters: only their gasps
    assert stored[alone] == 1 and stored[street[0]] == 1 and stored[sagging] == 3
    rollup = client.query("SELECT sum(events) FROM meter_1m WHERE event = 'interval'").result_rows[0][0]
    assert rollup == 3 + 3 * (len(street) - 1)  # `sagging` and the street but its opted-out meter
    assert pipeline.ingest["meter"].progress.opted_out == 6

    alias = dict(zip([alone, sagging], pseudonymise(KEY.encode(), [alone, sagging]), strict=True))
    anomaly_devices = {row[0] for row in client.query("SELECT device FROM anomalies FINAL").result_rows}
    assert alias[sagging] in anomaly_devices, "the low voltage of a customer who did not opt out is detected"
    assert alias[alone] not in anomaly_devices, "an opted-out customer's interval reads are not analysed"
    assert not anomaly_devices & set(model.devices_of_kind("meter"))

    outages = client.query("SELECT id, device, scope, customers FROM outages FINAL").result_rows
    by_scope = {scope: (ident, device, customers) for ident, device, scope, customers in outages}
    ident, device, customers = by_scope["individual"]
    assert device == alias[alone] and ident.startswith(f"O-{alias[alone]}-") and alone not in ident
    assert customers == model.customers_below(alone) > 0, "an opted-out customer still counts in outages"
    assert by_scope["street"][1:] == (transformer, model.customers_below(transformer))
    on_topic = outage_topic(settings, len(outages))
    assert {o.device for o in on_topic if o.scope == "individual"} == {alias[alone]}

    mapping = dict(client.query("SELECT pseudonym, device FROM meter_pseudonyms FINAL").result_rows)
    assert mapping[alias[alone]] == alone and mapping[alias[sagging]] == sagging
    assert set(mapping.values()) <= set(model.devices_of_kind("meter")) and street[0] not in mapping.values()
    revealed = with_real_meters(client, [{"id": ident, "device": device}, {"id": "x", "device": transformer}])
    assert revealed == [
        {"id": ident.replace(alias[alone], alone), "device": alone},
        {"id": "x", "device": transformer},
    ]
    assert_operators_can_look_up(settings, ident, alias[alone], alone)


def assert_operators_can_look_up(settings: Settings, outage_id: str, pseudonym: str, meter: str) -> None:
    """`gridmon outages show` works on the pseudonymised id; `gridmon privacy reveal` names the meter."""
    env = {
        "GRIDMON_DATA_DIR": str(settings.data_dir),
        "GRIDMON_CLICKHOUSE_DATABASE": settings.clickhouse_database,
        "GRIDMON_PSEUDONYM_KEY": KEY,
    }
    get_settings.cache_clear()
    try:
        shown = CliRunner().invoke(cli_app, ["outages", "show", outage_id], env=env, terminal_width=200)
        assert shown.exit_code == 0, shown.output
        assert pseudonym in shown.output and meter not in shown.output
        revealed = CliRunner().invoke(cli_app, ["privacy", "reveal", pseudonym], env=env, terminal_width=200)
        assert revealed.exit_code == 0, revealed.output
        assert meter in revealed.output
        unknown = CliRunner().invoke(cli_app, ["privacy", "reveal", "p-0000"], env=env, terminal_width=200)
        assert unknown.exit_code == 1 and "unknown" in unknown.output
    finally:
        get_settings.cache_clear()
