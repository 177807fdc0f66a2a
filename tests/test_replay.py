"""`gridmon replay`: detector baselines learn from ClickHouse history and land in the worker's checkpoint."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import numpy as np
import orjson
from typer.testing import CliRunner

from gridmon.cli import _register_all
from gridmon.cli import app as cli_app
from gridmon.detect.bank import DetectorBank
from gridmon.detect.config import BankConfig
from gridmon.grid import default_model_path
from gridmon.grid.generate import generate
from gridmon.ingest import IngestProcessor, RawMessage
from gridmon.pipeline.assembly import device_context
from gridmon.pipeline.checkpoint import StateCheckpointer
from gridmon.pipeline.writer import ClickHouseWriter
from gridmon.settings import Settings
from gridmon.store.client import connect
from gridmon.store.migrations import migrate

_register_all()


def write_history(settings: Settings, pmus: list[str], start_ns: int, seconds: int) -> int:
    """Ten frames a second from every PMU, through the real ingest and sink."""
    client = connect(settings)
    migrate(client)
    processor = IngestProcessor("pmu", settings, generate("small", seed=1))
    writer = ClickHouseWriter(client)
    rng = np.random.default_rng(7)
    written = 0
    for second in range(seconds):
        readings = [
            {
                "device": pmu,
                "ts": start_ns + second * 10**9 + frame * 10**8,
                "freq_hz": 60 + rng.normal(0, 0.005),
                "va": 7200.0,
                "vb": 7200.0,
                "vc": 7200.0,
                "vb_angle": -120.0,
                "vc_angle": 120.0,
            }
            for frame in range(10)
            for pmu in pmus
        ]
        message = RawMessage("grid.pmu", 0, second, orjson.dumps({"readings": readings}))
        batch = processor.process([message])
        asyncio.run(writer.write("pmu_readings", batch.columns, [message]))
        written += batch.accepted
    return written


def test_replay_trains_baselines_into_the_worker_checkpoint(settings: Settings) -> None:
    model = generate("small", seed=1)
    model.save(default_model_path(settings))
    pmus = model.devices_of_kind("pmu")
    start_ns = (time.time_ns() - 3600 * 10**9) // 10**9 * 10**9
    written = write_history(settings, pmus, start_ns, seconds=30)
    env = {
        "GRIDMON_DATA_DIR": str(settings.data_dir),
        "GRIDMON_CLICKHOUSE_DATABASE": settings.clickhouse_database,
        "GRIDMON_WORKER_ID": "replay-test",
    }
    begin = datetime.fromtimestamp(start_ns / 1e9, tz=UTC).isoformat()
    finish = datetime.fromtimestamp(start_ns / 1e9 + 60, tz=UTC).isoformat()
    result = CliRunner().invoke(
        cli_app, ["replay", "--from", begin, "--to", finish], env=env, terminal_width=200
    )
    assert result.exit_code == 0, result.output
    assert f"{written:,}" in result.output

    fresh = DetectorBank(BankConfig(), device_context(model))
    restored = DetectorBank(BankConfig(), device_context(model))
    client = connect(settings)
    assert StateCheckpointer(client, "replay-test", {"detector": restored}).restore() == ["detector"]
    assert restored.snapshot() != fresh.snapshot(), "the checkpoint holds trained baselines"
    assert not restored.open_anomalies(), "training raises nothing"
