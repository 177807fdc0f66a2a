"""OpenFMB adapter end to end: profiles published on a real nats-server (user/password) → adapter → grid.meter
and grid.scada on the embedded broker, counts reconciled, and a server restart survived."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import nats
import pytest
from adapter_landing import CountingPublisher, land_in_clickhouse, reconcile
from pydantic import SecretStr

from gridmon.adapters import AdapterHealth, EnvelopePublisher, parse_mapping, run_adapter
from gridmon.adapters.base import Backoff
from gridmon.adapters.openfmb.client import NatsSettings, OpenFmbAdapter
from gridmon.adapters.openfmb.profiles import (
    DB_POS_TRANSIENT,
    PROFILES,
    ProfileError,
    message_class,
    meter_reading,
    parse_profile,
    scada_readings,
)
from gridmon.adapters.openfmb.samples import meter_reading_profile, position_profile, subject
from gridmon.ingest import IngestProcessor
from gridmon.ingest.validate import SetRegistry
from gridmon.settings import Settings

TopicReader = Callable[..., list[Any]]
MAPPING = (
    '[openfmb]\nsource = "openfmb-dso"\n[openfmb.devices]\n'
    + "".join(f'"meter-{i:02d}" = "mtr-{i:02d}"\n' for i in range(25))
    + '"sw-mrid-1" = "sw-1"\n"rc-mrid-1" = "rec-1"\n"bk-mrid-1" = "brk-1"\n'
)


async def _publish(server: Any, messages: list[tuple[str, bytes]]) -> None:
    client = await nats.connect(server.url, user=server.user, password=server.password)
    for name, payload in messages:
        await client.publish(name, payload)
    await client.flush()
    await client.close()


async def _until(condition: Callable[[], bool], health: AdapterHealth, timeout_s: float = 10.0) -> None:
    for _ in range(int(timeout_s / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"condition not reached in time; health: {health}")


def _meters(now_ns: int, numbers: range) -> list[tuple[str, bytes]]:
    return [
        (subject("MeterReadingProfile", f"meter-{i:02d}"), meter_reading_profile(f"meter-{i:02d}", now_ns + i, 1000 * i, 239.0))
        for i in numbers
    ]  # fmt: skip


def _readings(envelopes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [reading for envelope in envelopes for reading in envelope["readings"]]


def test_profiles_reach_kafka_and_a_server_restart_is_survived(
    topics: Settings, producer: Any, read_topic: TopicReader, nats_server: Any
) -> None:
    now = time.time_ns()
    switch, recloser, breaker = "SwitchStatusProfile", "RecloserEventProfile", "BreakerStatusProfile"
    first = [
        *_meters(now, range(20)),
        *[(subject(switch, "sw-mrid-1"), position_profile(switch, "sw-mrid-1", now + k, True)) for k in range(3)],
        (subject("SwitchEventProfile", "sw-mrid-1"), position_profile("SwitchEventProfile", "sw-mrid-1", now + 5, False)),
        (subject(switch, "sw-mrid-1"), position_profile(switch, "sw-mrid-1", now + 6, False)),  # already known
        (subject(recloser, "rc-mrid-1"), position_profile(recloser, "rc-mrid-1", now + 7, False, lockout=True)),
        (subject(breaker, "bk-mrid-1"), position_profile(breaker, "bk-mrid-1", now + 8, True, phase="phsA")),
        (subject("MeterReadingProfile", "meter-99"), meter_reading_profile("meter-99", now, 5, 230.0)),  # unmapped
        (subject("MeterReadingProfile", "meter-00"), b"\xff\x00 not protobuf"),
        (subject("MeterReadingProfile", "meter-01"), meter_reading_profile("meter-01", now, -5, None)),
    ]  # fmt: skip
    after_restart = [
        *_meters(now + 10**9, range(20, 25)),
        (subject(switch, "sw-mrid-1"), position_profile(switch, "sw-mrid-1", now + 10**9, True)),
    ]

    async def run() -> AdapterHealth:
        settings = NatsSettings(
            url=nats_server.url, user=nats_server.user, password=SecretStr(nats_server.password)
        )
        adapter = OpenFmbAdapter(settings, parse_mapping(MAPPING).openfmb, max_batch_delay_s=0.05)
        health = AdapterHealth(adapter="openfmb-test", endpoint=adapter.endpoint)
        stop = asyncio.Event()
        publisher = EnvelopePublisher(topics, producer, health)
        task = asyncio.create_task(run_adapter(adapter, publisher, stop, backoff=Backoff(0.05, 0.2)))
        try:
            await _until(lambda: health.state == "connected", health)
            await _publish(nats_server, first)
            await _until(
                lambda: health.readings_published >= 25 and sum(health.dead_letters.values()) >= 3, health
            )
            nats_server.stop()  # the server goes away: the adapter backs off and reconnects
            await _until(lambda: health.state != "connected", health)
            nats_server.start()
            await _until(lambda: health.state == "connected" and health.reconnects >= 1, health)
            await _publish(nats_server, after_restart)
            await _until(lambda: health.readings_published >= 31, health)
        finally:
            stop.set()
            await task
        return health

    health = asyncio.run(run())
    assert health.readings_published == 31 and health.delivery_failures == 0
    assert health.dead_letters == {"unmapped": 1, "schema": 1, "out_of_range": 1}
    assert "nats-pass-1" not in health.last_error

    meter_envelopes = read_topic("grid.meter", until=lambda got: len(_readings(got)) >= 25)
    meters = _readings(meter_envelopes)
    assert len(meters) == 25 and {m["device"] for m in meters} == {f"mtr-{i:02d}" for i in range(25)}
    assert next(m for m in meters if m["device"] == "mtr-03") | {"ts": 0} == {
        "device": "mtr-03", "ts": 0, "event": "interval", "kwh": 3.0, "voltage_v": 239.0, "interval_s": None,
    }  # fmt: skip
    scada_envelopes = read_topic("grid.scada", until=lambda got: len(_readings(got)) >= 6)
    scada = sorted(_readings(scada_envelopes), key=lambda r: (r["device"], r["ts"], r["event"]))
    assert [(r["device"], r["event"], r["phase"]) for r in scada] == [
        ("brk-1", "close", "A"),
        ("rec-1", "lockout", "ABC"),
        ("rec-1", "open", "ABC"),
        ("sw-1", "close", "ABC"),  # three identical status profiles: one reading
        ("sw-1", "open", "ABC"),  # the event and the status that repeats it: one change
        ("sw-1", "close", "ABC"),  # after the restart
    ]
    letters = read_topic("grid.deadletter", until=lambda got: len(got) >= 3)
    assert {d.reason: d.device for d in letters} == {
        "unmapped": None,
        "schema": None,
        "out_of_range": "mtr-01",
    }
    assert "meter-99" in next(d.detail for d in letters if d.reason == "unmapped")

    registry = SetRegistry([r["device"] for r in meters + scada])
    for kind, envelopes in (("meter", meter_envelopes), ("scada", scada_envelopes)):
        wanted = len(envelopes)
        messages = read_topic(f"grid.{kind}", until=lambda got, n=wanted: len(got) >= n, raw=True)
        batch = IngestProcessor(kind, topics, registry).process(messages)
        assert batch.dead_letter_counts() == {} and batch.accepted == len(_readings(envelopes))


def test_profiles_land_in_clickhouse_with_counts_reconciled(
    topics: Settings, producer: Any, read_topic: TopicReader, nats_server: Any
) -> None:
    now = time.time_ns()
    switch, recloser = "SwitchStatusProfile", "RecloserEventProfile"
    profiles = [
        *_meters(now, range(25)),
        (subject(switch, "sw-mrid-1"), position_profile(switch, "sw-mrid-1", now, True)),
        (subject(switch, "sw-mrid-1"), position_profile(switch, "sw-mrid-1", now + 1, True)),  # repeats
        (subject("SwitchEventProfile", "sw-mrid-1"), position_profile("SwitchEventProfile", "sw-mrid-1", now + 2, False)),
        (subject(recloser, "rc-mrid-1"), position_profile(recloser, "rc-mrid-1", now + 3, False, lockout=True)),
        (subject("MeterReadingProfile", "meter-99"), meter_reading_profile("meter-99", now, 5, 230.0)),  # unmapped
        (subject("MeterReadingProfile", "meter-00"), b"\xff\x00 not protobuf"),
    ]  # fmt: skip
    # mtr-24 is mapped but not in the grid model: the ingest dead-letters its reading (unknown_device)
    devices = [f"mtr-{i:02d}" for i in range(24)] + ["sw-1", "rec-1"]

    async def session() -> CountingPublisher:
        settings = NatsSettings(
            url=nats_server.url, user=nats_server.user, password=SecretStr(nats_server.password)
        )
        adapter = OpenFmbAdapter(settings, parse_mapping(MAPPING).openfmb, max_batch_delay_s=0.05)
        health = AdapterHealth(adapter="openfmb-ch", endpoint=adapter.endpoint)
        stop = asyncio.Event()
        publisher = CountingPublisher(topics, producer, health)
        task = asyncio.create_task(run_adapter(adapter, publisher, stop, backoff=Backoff(0.05, 0.2)))
        try:
            await _until(lambda: health.state == "connected", health)
            await _publish(nats_server, profiles)
            await _until(
                lambda: health.readings_published >= 29 and sum(health.dead_letters.values()) >= 2, health
            )
        finally:
            stop.set()
            await task
        return publisher

    publisher, landing = asyncio.run(land_in_clickhouse(topics, ["meter", "scada"], devices, session()))
    assert publisher.readings == {"meter": 25, "scada": 4}  # close, open; recloser open + lockout
    assert publisher.letters == {"unmapped": 1, "schema": 1}
    rejected = reconcile(publisher, landing, read_topic)
    assert landing.rows == {"meter_events": 24, "scada_events": 4}
    assert [(d.reason, d.device) for d in rejected] == [("unknown_device", "mtr-24")]
    client = landing.client
    assert client.query("SELECT sum(kwh), min(voltage_v), max(voltage_v) FROM meter_events").result_rows == [
        (float(sum(range(24))), 239.0, 239.0)  # TotWh 1000 × i → i kWh
    ]
    assert client.query(
        "SELECT device, event, phase FROM scada_events ORDER BY device, ts, event"
    ).result_rows == [
        ("rec-1", "lockout", "ABC"),
        ("rec-1", "open", "ABC"),
        ("sw-1", "close", "ABC"),
        ("sw-1", "open", "ABC"),
    ]


def test_profile_faults_have_reasons() -> None:
    now = time.time_ns()
    status = PROFILES["SwitchStatusProfile"]
    transient = message_class(status)()
    transient.ParseFromString(position_profile("SwitchStatusProfile", "sw", now, True))
    transient.switchStatus.switchStatusXSWI.Pos.phs3.stVal = DB_POS_TRANSIENT
    assert scada_readings(parse_profile(status, transient.SerializeToString()), "sw-1") == []  # moving: wait
    transient.switchStatus.switchStatusXSWI.Pos.phs3.stVal = 4  # DbPos invalid
    with pytest.raises(ProfileError) as invalid:
        scada_readings(parse_profile(status, transient.SerializeToString()), "sw-1")
    assert invalid.value.reason == "out_of_range" and invalid.value.device == "sw-1"
    with pytest.raises(ProfileError, match="mRID") as no_mrid:
        parse_profile(status, position_profile("SwitchStatusProfile", "", now, True))
    assert no_mrid.value.reason == "schema"
    with pytest.raises(ProfileError, match="TotWh or PhV"):
        meter_reading(
            parse_profile(PROFILES["MeterReadingProfile"], meter_reading_profile("m", now, None, None)), "m"
        )
