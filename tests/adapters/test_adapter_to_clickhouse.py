"""C37.118 all the way: simulated PDC → adapter → grid.pmu → the real ingest pipeline (Faust) → ClickHouse (chdb),
with the rows in ClickHouse reconciled against what the adapter published."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from gridmon.adapters import AdapterHealth, EnvelopePublisher, parse_mapping, run_adapter
from gridmon.adapters.base import Backoff
from gridmon.adapters.c37118.client import C37118Adapter, C37118Options
from gridmon.adapters.c37118.simulator import PdcSimulator, simulated_config
from gridmon.ingest.validate import SetRegistry
from gridmon.settings import Settings
from gridmon.store.client import connect
from gridmon.store.migrations import migrate

runner = pytest.importorskip("gridmon.pipeline.runner", reason="the pipeline runner is not in this checkout")

MAPPING = '[c37118]\nsource = "pdc-ch"\n' + "".join(
    f'[c37118.pmus.{idcode}]\ndevice = "pmu-{idcode}"\n' for idcode in range(101, 107)
)  # 107 and 108 are unmapped


async def _adapter_session(settings: Settings, producer: Any, frames: int) -> AdapterHealth:
    simulator = await PdcSimulator(simulated_config(8, rate=60)).start()
    adapter = C37118Adapter(C37118Options("127.0.0.1", simulator.port), parse_mapping(MAPPING).c37118)
    health = AdapterHealth(adapter="c37118-ch", endpoint=adapter.endpoint)
    stop = asyncio.Event()
    publisher = EnvelopePublisher(settings, producer, health)
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
    return health


async def _ingest(settings: Settings, client: Any) -> None:
    components = runner.Components(registry=SetRegistry([f"pmu-{i}" for i in range(101, 109)]))
    pipeline = runner.build_pipeline(
        settings,
        settings.kafka_bootstrap or "",
        client,
        components,
        kinds=["pmu"],
        app_id=f"ch-{uuid.uuid4().hex[:6]}",
    )
    async with runner.running(pipeline):
        await pipeline.wait_caught_up(timeout_s=60)


def test_pdc_frames_land_in_clickhouse_with_counts_reconciled(topics: Settings, producer: Any) -> None:
    health = asyncio.run(_adapter_session(topics, producer, frames=120))
    assert health.delivery_failures == 0 and health.envelopes_delivered == health.envelopes_published
    frames = health.readings_published // 6
    assert health.readings_published == 6 * frames and health.dead_letters == {"unmapped": 2 * frames}

    client = connect(topics)
    migrate(client)
    asyncio.run(_ingest(topics, client))
    rows = client.query(
        "SELECT count(), uniqExact(device), uniqExact(ts), min(freq_hz), max(freq_hz) FROM pmu_readings"
    ).result_rows[0]
    assert rows[0] == health.readings_published  # every accepted reading is one row, none lost or doubled
    assert rows[1] == 6 and rows[2] == frames and 59.9 < rows[3] <= rows[4] < 60.1
    assert client.query("SELECT count() FROM dead_letters").result_rows[0][0] == 0
