"""Modbus adapter: read plans and register decoding, then a pymodbus outstation on loopback → adapter →
grid.scada / grid.sensor on the embedded broker, with the counts reconciled and faults survived."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from adapter_landing import CountingPublisher, land_in_clickhouse, reconcile

from gridmon.adapters import AdapterHealth, parse_mapping, run_adapter
from gridmon.adapters.base import Backoff
from gridmon.adapters.mapping import ModbusMapping, ModbusPoint
from gridmon.adapters.modbus.poller import ModbusAdapter, ModbusOptions
from gridmon.adapters.modbus.registers import decode_register_value, encode_register_value, plan_reads
from gridmon.adapters.modbus.simulator import ModbusSimulator
from gridmon.errors import ConfigError
from gridmon.ingest import IngestProcessor
from gridmon.ingest.validate import SetRegistry
from gridmon.settings import Settings

TopicReader = Callable[..., list[Any]]

MAPPING = """
[modbus]
source = "rtu-sub1"
[[modbus.points]]
device = "brk-1"
table = "coil"
address = 0
[[modbus.points]]
device = "brk-2"
table = "coil"
address = 1
point = "52a"
[[modbus.points]]
device = "sw-3"
table = "discrete_input"
address = 0
closed_when = false          # this switch's auxiliary contact is 0 when closed
[[modbus.points]]
device = "xfmr-7"
table = "input_register"
address = 0
quantity = "voltage_v"
scale = 0.1
[[modbus.points]]
device = "xfmr-7"
table = "input_register"
address = 1
quantity = "current_a"
data_type = "int16"
scale = 0.1
[[modbus.points]]
device = "xfmr-7"
table = "holding_register"
address = 10
quantity = "temperature_c"
data_type = "float32"
word_order = "little"
[[modbus.points]]
device = "xfmr-7"
table = "holding_register"
address = 12
quantity = "thd_pct"
invalid = [65535]             # the device's "no value" marker
[[modbus.points]]
device = "xfmr-9"
table = "input_register"
address = 500                 # the outstation has no such register
quantity = "voltage_v"
"""
DEVICES = ["brk-1", "brk-2", "sw-3", "xfmr-7", "xfmr-9"]


def test_points_are_read_in_few_contiguous_requests() -> None:
    mapping = parse_mapping(MAPPING).modbus
    blocks = {(b.table, b.address): (b.count, len(b.points)) for b in plan_reads(mapping)}
    assert blocks == {
        ("coil", 0): (2, 2),
        ("discrete_input", 0): (1, 1),
        ("input_register", 0): (2, 2),
        ("input_register", 500): (1, 1),  # not merged across the gap: a missing address fails a request
        ("holding_register", 10): (3, 2),  # float32 (2 registers) + the next one
    }
    other_unit = ModbusMapping(points=[ModbusPoint("a", "coil", 0), ModbusPoint("b", "coil", 1, unit=7)])
    assert sorted((b.unit, b.count) for b in plan_reads(other_unit)) == [(1, 1), (7, 1)]


@pytest.mark.parametrize("data_type", ["uint16", "int16", "uint32", "int32", "float32"])
@pytest.mark.parametrize("word_order", ["big", "little"])
def test_register_values_round_trip(data_type: str, word_order: str) -> None:
    value = {"uint16": 65000, "int16": -1234, "uint32": 4_000_000_000, "int32": -70_000, "float32": 61.25}[
        data_type
    ]
    point = ModbusPoint(
        "x", "holding_register", 0, quantity="voltage_v", data_type=data_type, word_order=word_order
    )  # type: ignore[arg-type]
    assert decode_register_value(point, encode_register_value(value, data_type, word_order)) == value


def test_float32_word_order_matters() -> None:
    big = ModbusPoint("x", "input_register", 0, quantity="voltage_v", data_type="float32")
    assert encode_register_value(231.5, "float32") == [0x4367, 0x8000]
    assert decode_register_value(big, [0x4367, 0x8000]) == 231.5
    assert not math.isclose(decode_register_value(big, [0x8000, 0x4367]), 231.5)


def test_a_bit_point_must_be_a_breaker() -> None:
    with pytest.raises(ConfigError, match="breaker"):
        parse_mapping(
            '[[modbus.points]]\ndevice = "x"\ntable = "coil"\naddress = 0\nquantity = "voltage_v"\n'
        )


async def _until(condition: Callable[[], bool], health: AdapterHealth, timeout_s: float = 10.0) -> None:
    for _ in range(int(timeout_s / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"condition not reached in time; health: {health}")


async def _scenario(
    settings: Settings,
    producer: Any,
    body: Callable[[ModbusSimulator, AdapterHealth], Awaitable[None]],
    timeout_s: float = 0.3,
) -> CountingPublisher:
    simulator = await ModbusSimulator(units=(1,), size=64).start()
    await simulator.set_bits("coil", 0, [True, False])  # brk-1 closed, brk-2 open
    await simulator.set_bits("discrete_input", 0, [True])  # sw-3 open (closed_when = false)
    await simulator.set_value("input_register", 0, 2315)  # 231.5 V
    await simulator.set_value("input_register", 1, 1205, "int16")  # 120.5 A
    await simulator.set_value("holding_register", 10, 61.25, "float32", "little")
    await simulator.set_value("holding_register", 12, 65535)  # THD not available
    options = ModbusOptions("127.0.0.1", simulator.port, poll_interval_s=0.05, timeout_s=timeout_s)
    adapter = ModbusAdapter(options, parse_mapping(MAPPING).modbus)
    health = AdapterHealth(adapter="modbus-test", endpoint=adapter.endpoint)
    stop = asyncio.Event()
    publisher = CountingPublisher(settings, producer, health)
    task = asyncio.create_task(run_adapter(adapter, publisher, stop, backoff=Backoff(0.05, 0.2)))
    try:
        await body(simulator, health)
    finally:
        stop.set()
        await task
        await simulator.stop()
    return publisher


def _readings(envelopes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [reading for envelope in envelopes for reading in envelope["readings"]]


def _scada_events(readings: list[dict[str, Any]], device: str) -> list[str]:
    return [r["event"] for r in sorted(readings, key=lambda r: r["ts"]) if r["device"] == device]


def test_outstation_points_reach_kafka_with_counts_reconciled(
    topics: Settings, producer: Any, read_topic: TopicReader
) -> None:
    async def body(simulator: ModbusSimulator, health: AdapterHealth) -> None:
        await _until(lambda: health.frames >= 3, health)
        await simulator.set_bits("coil", 0, [False])  # brk-1 opens
        polls = health.frames
        await _until(lambda: health.frames >= polls + 3, health)
        await simulator.set_bits("coil", 0, [True])  # and recloses
        polls = health.frames
        await _until(lambda: health.frames >= polls + 3, health)

    health = asyncio.run(_scenario(topics, producer, body)).health
    assert health.state == "stopped" and health.reconnects == 0 and health.delivery_failures == 0
    assert health.envelopes_delivered == health.envelopes_published
    assert set(health.dead_letters) == {"unmapped", "out_of_range"}  # xfmr-9 address 500; THD 65535

    scada_envelopes = read_topic("grid.scada", until=lambda got: len(_readings(got)) >= 5)
    scada = _readings(scada_envelopes)
    assert len(scada) == 5  # three initial states and two changes, nothing repeated at every poll
    assert _scada_events(scada, "brk-1") == ["close", "open", "close"]
    assert _scada_events(scada, "brk-2") == ["open"] and _scada_events(scada, "sw-3") == ["open"]
    assert {r["point"] for r in scada if r["device"] == "brk-2"} == {"52a"}
    sensor_count = health.readings_published - len(scada)
    sensor_envelopes = read_topic("grid.sensor", until=lambda got: len(_readings(got)) >= sensor_count)
    sensors = _readings(sensor_envelopes)
    assert len(sensors) == sensor_count >= 9  # one reading per poll for xfmr-7
    assert {e["source"] for e in sensor_envelopes} == {"rtu-sub1"}
    assert sensors[0] | {"ts": 0} == {
        "device": "xfmr-7", "ts": 0, "voltage_v": 231.5, "current_a": 120.5, "temperature_c": 61.25, "thd_pct": None,
    }  # fmt: skip
    assert len({r["ts"] for r in sensors}) == len(sensors)  # the poll time stamps each poll

    letters = read_topic("grid.deadletter", until=lambda got: len(got) >= sum(health.dead_letters.values()))
    assert len(letters) == sum(health.dead_letters.values())
    unmapped = [d for d in letters if d.reason == "unmapped"]
    assert len(unmapped) == health.dead_letters["unmapped"] and unmapped[0].device == "xfmr-9"
    assert "illegal data address" in unmapped[0].detail and "[[modbus.points]]" in unmapped[0].detail
    assert {d.device for d in letters if d.reason == "out_of_range"} == {"xfmr-7"}

    # the lead's ingest accepts every reading the adapter published
    registry = SetRegistry(DEVICES)
    for kind, envelopes in (("scada", scada_envelopes), ("sensor", sensor_envelopes)):
        wanted = len(envelopes)
        messages = read_topic(f"grid.{kind}", until=lambda got, n=wanted: len(got) >= n, raw=True)
        batch = IngestProcessor(kind, topics, registry).process(messages)
        assert batch.dead_letter_counts() == {} and batch.accepted == len(_readings(envelopes))


def test_a_device_that_stops_answering_is_reported_and_resumed(
    topics: Settings, producer: Any, read_topic: TopicReader
) -> None:
    async def body(simulator: ModbusSimulator, health: AdapterHealth) -> None:
        await _until(lambda: health.frames >= 2, health)
        simulator.answering = False  # the RTU hangs behind a live TCP connection
        await _until(lambda: health.unresponsive != [] and health.reconnects >= 2, health)
        assert health.unresponsive[0].startswith("unit 1 (brk-1, brk-2, sw-3, xfmr-7, xfmr-9)")
        assert "stopped answering" in health.last_error
        await simulator.set_bits("coil", 1, [True])  # brk-2 closes while nobody can see it
        simulator.answering = True
        await _until(lambda: health.state == "connected" and health.unresponsive == [], health)
        polls = health.frames
        await _until(lambda: health.frames >= polls + 2, health)

    health = asyncio.run(_scenario(topics, producer, body, timeout_s=0.2)).health
    assert health.state == "stopped" and health.reconnects >= 2
    scada = _readings(read_topic("grid.scada", until=lambda got: len(_readings(got)) >= 4))
    assert len(scada) == 4  # reconnects repeat no state; the change made while silent arrives once
    assert _scada_events(scada, "brk-2") == ["open", "close"]
    assert _scada_events(scada, "brk-1") == ["close"]


def test_outstation_points_land_in_clickhouse_with_counts_reconciled(
    topics: Settings, producer: Any, read_topic: TopicReader
) -> None:
    async def body(simulator: ModbusSimulator, health: AdapterHealth) -> None:
        await _until(lambda: health.frames >= 3, health)
        await simulator.set_bits("coil", 0, [False])  # brk-1 opens
        polls = health.frames
        await _until(lambda: health.frames >= polls + 3, health)

    # sw-3 is mapped but not in the grid model: the ingest dead-letters its state (unknown_device)
    devices = [device for device in DEVICES if device != "sw-3"]
    publisher, landing = asyncio.run(
        land_in_clickhouse(topics, ["scada", "sensor"], devices, _scenario(topics, producer, body))
    )
    # the adapter's own counts; a poll cut short by the stop still publishes what it read
    sensor_count = publisher.readings["sensor"]
    assert publisher.readings["scada"] == 4 and sensor_count >= 6  # 3 initial states + brk-1 opening
    assert set(publisher.letters) == {"unmapped", "out_of_range"}  # xfmr-9 address 500; THD 65535
    rejected = reconcile(publisher, landing, read_topic)
    assert landing.rows == {"scada_events": 3, "sensor_readings": sensor_count}
    assert [(d.reason, d.device) for d in rejected] == [("unknown_device", "sw-3")]
    client = landing.client
    assert client.query("SELECT device, event, point FROM scada_events ORDER BY ts, device").result_rows == [
        ("brk-1", "close", "status"),
        ("brk-2", "open", "52a"),
        ("brk-1", "open", "status"),
    ]
    sensors = client.query(
        "SELECT uniqExact(ts), min(voltage_v), max(current_a), maxIf(temperature_c, NOT isNaN(temperature_c)), "
        "countIf(isNaN(thd_pct)) FROM sensor_readings WHERE device = 'xfmr-7'"
    ).result_rows[0]
    assert sensors == (sensor_count, 231.5, 120.5, 61.25, sensor_count)  # THD "no value": missing, not 65535
