"""C37.118 all the way: simulated PDC → adapter → grid.pmu → the real ingest pipeline (Faust) → ClickHouse (chdb),
with the rows in ClickHouse reconciled against what the adapter published.

The MQTT, Modbus and OpenFMB adapters' runs into ClickHouse are in their own test modules; all share
`adapter_landing` (pipeline run and reconciliation).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from adapter_landing import CountingPublisher, land_in_clickhouse, reconcile

from gridmon.adapters import AdapterHealth, parse_mapping, run_adapter
from gridmon.adapters.base import Backoff
from gridmon.adapters.c37118.client import C37118Adapter, C37118Options
from gridmon.adapters.c37118.simulator import PdcSimulator, simulated_config
from gridmon.settings import Settings

TopicReader = Callable[..., list[Any]]
MAPPING = '[c37118]\nsource = "pdc-ch"\n' + "".join(
    f'[c37118.pmus.{idcode}]\ndevice = "pmu-{idcode}"\n' for idcode in range(101, 107)
)  # 107 and 108 are unmapped


async def _adapter_session(settings: Settings, producer: Any, frames: int) -> CountingPublisher:
    simulator = await PdcSimulator(simulated_config(8, rate=60)).start()
    adapter = C37118Adapter(C37118Options("127.0.0.1", simulator.port), parse_mapping(MAPPING).c37118)
    health = AdapterHealth(adapter="c37118-ch", endpoint=adapter.endpoint)
    stop = asyncio.Event()
    publisher = CountingPublisher(settings, producer, health)
    task = asyncio.create_task(run_adapter(adapter, publisher, stop, backoff=Backoff(0.05, 0.2)))
    try:
        for _ in range(1000):
            if health.readings_published >= 6 * frames:
                break
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await task
        await simulator.stop()
    return publisher


def test_pdc_frames_land_in_clickhouse_with_counts_reconciled(
    topics: Settings, producer: Any, read_topic: TopicReader
) -> None:
    # pmu-106 is mapped but not in the grid model: the ingest dead-letters its readings (unknown_device)
    devices = [f"pmu-{i}" for i in range(101, 106)]
    publisher, landing = asyncio.run(
        land_in_clickhouse(topics, ["pmu"], devices, _adapter_session(topics, producer, frames=120))
    )
    health = publisher.health
    frames = health.readings_published // 6
    assert health.readings_published == 6 * frames >= 6 * 120
    assert health.dead_letters == {"unmapped": 2 * frames}  # PMUs 107 and 108, counted in readings
    rejected = reconcile(publisher, landing, read_topic)
    assert landing.rows == {"pmu_readings": 5 * frames} and len(rejected) == frames
    assert {(d.reason, d.device) for d in rejected} == {("unknown_device", "pmu-106")}
    rows = landing.client.query(
        "SELECT uniqExact(device), uniqExact(ts), min(freq_hz), max(freq_hz) FROM pmu_readings"
    ).result_rows[0]
    assert rows[0] == 5 and rows[1] == frames and 59.9 < rows[2] <= rows[3] < 60.1
