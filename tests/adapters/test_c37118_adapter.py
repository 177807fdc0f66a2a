"""C37.118.2 adapter end to end: simulated PDC on loopback → adapter → grid.pmu on the embedded broker."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from gridmon.adapters import AdapterHealth, EnvelopePublisher, parse_mapping, run_adapter
from gridmon.adapters.base import Backoff
from gridmon.adapters.c37118.client import C37118Adapter, C37118Options
from gridmon.adapters.c37118.frames import FrameType, seal
from gridmon.adapters.c37118.simulator import PdcSimulator, simulated_config, with_extra_pmu
from gridmon.ingest import IngestProcessor
from gridmon.ingest.validate import SetRegistry
from gridmon.settings import Settings

TopicReader = Callable[..., list[Any]]


MAPPING = """
[c37118]
source = "pdc-test"
[c37118.pmus.101]
device = "pmu-101"
[c37118.pmus.102]
device = "pmu-102"
[c37118.pmus.103]
device = "pmu-103"
[c37118.pmus.104]
device = "pmu-104"
[c37118.pmus.105]
device = "pmu-105"
[c37118.pmus.106]
device = "pmu-106"
[c37118.pmus.107]
device = "pmu-107"
[c37118.pmus.109]
device = "pmu-109"
"""  # 108 is deliberately unmapped


async def _run(
    settings: Settings,
    producer: Any,
    simulator: PdcSimulator,
    scenario: Callable[[PdcSimulator, AdapterHealth], Awaitable[None]],
    **options: Any,
) -> AdapterHealth:
    await simulator.start()
    adapter = C37118Adapter(
        C37118Options("127.0.0.1", simulator.port, **options), parse_mapping(MAPPING).c37118
    )
    health = AdapterHealth(adapter="c37118-test", endpoint=adapter.endpoint)
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_adapter(adapter, EnvelopePublisher(settings, producer, health), stop, backoff=Backoff(0.05, 0.2))
    )
    try:
        await scenario(simulator, health)
    finally:
        stop.set()
        await task
        await simulator.stop()
    return health


async def _until(condition: Callable[[], bool], timeout_s: float = 10.0, health: Any = None) -> None:
    for _ in range(int(timeout_s / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"condition not reached in time; health: {health}")


def _readings(envelopes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [reading for envelope in envelopes for reading in envelope["readings"]]


def test_pdc_stream_reaches_the_pmu_topic_with_counts_reconciled(
    topics: Settings, producer: Any, read_topic: TopicReader
) -> None:
    simulator = PdcSimulator(simulated_config(8, rate=60))

    async def scenario(sim: PdcSimulator, health: AdapterHealth) -> None:
        await _until(lambda: health.readings_published >= 7 * 60)

    health = asyncio.run(_run(topics, producer, simulator, scenario, frames_per_envelope=6))
    frames = health.readings_published // 7
    assert (
        health.readings_published == 7 * frames and health.envelopes_delivered == health.envelopes_published
    )
    assert health.dead_letters == {"unmapped": frames}  # PMU 108, every frame, never silently dropped

    envelopes = read_topic("grid.pmu", until=lambda got: len(_readings(got)) >= health.readings_published)
    readings = _readings(envelopes)
    assert len(readings) == health.readings_published
    assert {r["device"] for r in readings} == {f"pmu-{i}" for i in (101, 102, 103, 104, 105, 106, 107)}
    assert all(e["source"] == "pdc-test" and e["schema"] == "gridmon.pmu/1" for e in envelopes)
    assert max(len(e["readings"]) for e in envelopes) == 6 * 7  # one envelope per 6 frames
    per_device_ts = sorted(r["ts"] for r in readings if r["device"] == "pmu-101")
    assert len(set(per_device_ts)) == frames  # one reading per frame, no duplicates
    sample = next(r for r in readings if r["device"] == "pmu-104")
    assert 7000 < sample["va"] < 7300 and 140 < sample["ia"] < 180 and abs(sample["freq_hz"] - 60) < 0.05

    letters = read_topic("grid.deadletter", until=lambda got: sum(1 for _ in got) >= 1)
    assert letters[0].reason == "unmapped" and "108" in letters[0].detail

    # the lead's ingest accepts every reading the adapter published: nothing is dead-lettered downstream
    messages = read_topic("grid.pmu", until=lambda got: len(got) >= len(envelopes), raw=True)
    devices = [f"pmu-{i}" for i in range(101, 110)]
    batch = IngestProcessor("pmu", topics, SetRegistry(devices)).process(messages)
    assert batch.dead_letter_counts() == {} and batch.accepted == health.readings_published


def test_faults_are_survived_dead_lettered_and_reported(
    topics: Settings, producer: Any, read_topic: TopicReader
) -> None:
    simulator = PdcSimulator(simulated_config(8, rate=50))

    async def scenario(sim: PdcSimulator, health: AdapterHealth) -> None:
        await _until(lambda: health.readings_published >= 7 * 10)
        corrupted = bytearray(sim.data_frame(0))
        corrupted[30] ^= 0x55
        sim.inject(bytes(corrupted))  # bad CRC
        sim.inject(seal(b"\x00" * 10, FrameType.DATA, 1, 0, 0))  # wrong size for the configuration
        await _until(lambda: health.dead_letters.get("schema", 0) >= 2)

        sim.reconfigure(with_extra_pmu(sim.config, 109))  # mid-stream: new PMU, new frame size
        await _until(lambda: health.dead_letters.get("schema", 0) >= 3, health=health)
        before = health.readings_published
        await _until(lambda: health.readings_published >= before + 8 * 10)

        sim.drop_clients()  # the PDC drops us: reconnect with backoff
        await _until(lambda: health.reconnects >= 1 and health.state == "connected")
        sim.paused = True  # the PDC stops answering: stall timeout, then reconnect
        await _until(lambda: health.reconnects >= 2, timeout_s=5)
        sim.paused = False
        sim.clock_offset_ns = -3_600 * 10**9  # the PDC's clock jumps back an hour
        jumped = health.readings_published
        await _until(lambda: health.readings_published >= jumped + 8 * 5 and health.clock_jumps >= 1)

    health = asyncio.run(_run(topics, producer, simulator, scenario, stall_timeout_s=0.5))
    assert health.state == "stopped" and health.delivery_failures == 0
    assert (
        "sent nothing" in health.last_error or "closed" in health.last_error or "ended" in health.last_error
    )
    readings = _readings(
        read_topic("grid.pmu", until=lambda got: len(_readings(got)) >= health.readings_published)
    )
    assert len(readings) == health.readings_published
    assert "pmu-109" in {r["device"] for r in readings}  # picked up from the new configuration
    letters = read_topic("grid.deadletter", until=lambda got: any("CRC" in d.detail for d in got))
    assert any("CRC" in d.detail for d in letters)
    assert any("requested the new configuration" in d.detail for d in letters)
