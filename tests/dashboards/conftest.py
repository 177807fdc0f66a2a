"""A small, realistic grid history written through gridmon's own sink into a migrated chdb database, once per
module: the generated small network, 10 minutes of PMU/sensor/meter/SCADA data ending 20 minutes ago, outages
(one still open, with advice), anomalies and dead letters."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gridmon.grid import generate
from gridmon.settings import Settings, load_settings
from gridmon.store.client import connect
from gridmon.store.dimensions import load_dimensions
from gridmon.store.migrations import migrate
from gridmon.store.sink import BatchSink, OffsetRange

REPO_ROOT = Path(__file__).resolve().parents[2]
SECOND = 10**9
MINUTE = 60 * SECOND
END_NS = (time.time_ns() // SECOND - 20 * 60) * SECOND
START_NS = END_NS - 10 * MINUTE
PMU_FPS = 10
OPEN_OUTAGE_CUSTOMERS_OUT = 120
OUTAGE_COLUMNS = ["id", "version", "feeder", "device", "zone", "scope", "state", "start_ns", "end_ns",
                  "customers", "customers_out", "confirmed_by", "parent", "advice", "schema"]  # fmt: skip
ANOMALY_COLUMNS = ["id", "version", "device", "zone", "feeder", "metric", "detector", "category", "severity",
                   "state", "start_ns", "end_ns", "score", "value", "parent_outage", "group", "schema"]  # fmt: skip
DEAD_LETTER_COLUMNS = ["reason", "detail", "source_topic", "partition", "offset", "received_ns", "device",
                       "original", "schema"]  # fmt: skip


@dataclass(frozen=True)
class Dataset:
    """What the tests may assert about the data."""

    end_ns: int = END_NS
    open_outage_customers_out: int = OPEN_OUTAGE_CUSTOMERS_OUT
    repo_root: Path = REPO_ROOT


@pytest.fixture(scope="session")
def dataset() -> Dataset:
    return Dataset()


@pytest.fixture(scope="module")
def grid_settings(session_data_dir: Path) -> Settings:
    return load_settings(data_dir=session_data_dir, clickhouse_database=f"dash_{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="module")
def grid_client(grid_settings: Settings) -> Any:
    """A migrated database holding the dataset below."""
    client = connect(grid_settings)
    migrate(client)
    model = generate("small")
    devices, zones = model.dimension_rows()
    load_dimensions(client, devices, zones)
    by_kind: dict[str, list[tuple[Any, ...]]] = {}
    for row in devices:
        by_kind.setdefault(row[1], []).append(row)
    write = _writer(client)
    _pmu(write, [row[0] for row in by_kind["pmu"]])
    _sensors(write, [row[0] for row in by_kind["sensor"]])
    _meters(write, [row[0] for row in by_kind["meter"][:40]])
    _scada_outages_anomalies(write, by_kind)
    return client


Write = Callable[[str, dict[str, Any]], None]


def _writer(client: Any) -> Write:
    def write(table: str, columns: dict[str, Any]) -> None:
        names = list(columns)
        rows = len(columns[names[0]])
        BatchSink(client, table, names).write_sync(
            [columns[name] for name in names], [OffsetRange(table, 0, 0, rows - 1)]
        )

    return write


def _raw(table: str, devices: list[str], every_ns: int) -> dict[str, Any]:
    ts = np.arange(START_NS, END_NS, every_ns, dtype=np.int64)
    n = len(ts) * len(devices)
    return {
        "device": [device for device in devices for _ in ts],
        "ts": np.tile(ts, len(devices)),
        "sent_ns": np.tile(ts, len(devices)) + 5_000_000,
        "_topic": [f"grid.{table}"] * n,
        "_partition": np.zeros(n, dtype=np.int32),
        "_offset": np.arange(n, dtype=np.int64),
    }


def _pmu(write: Write, pmus: list[str]) -> None:
    columns = _raw("pmu", pmus, SECOND // PMU_FPS)
    seconds = (columns["ts"] - START_NS) / SECOND
    dip = np.where((seconds > 200) & (seconds < 215), -0.15, 0.0)  # a generation trip, seen by every PMU
    index = np.repeat(np.arange(len(pmus)), len(columns["ts"]) // len(pmus))
    columns["freq_hz"] = 60.0 + 0.01 * np.sin(seconds / 30) + dip
    columns["rocof_hz_s"] = np.gradient(columns["freq_hz"]) * PMU_FPS
    for phase, shift in (("a", 0.0), ("b", -120.0), ("c", 120.0)):
        columns[f"v{phase}"] = 7200.0 + 20 * np.cos(seconds / 40 + index)
        columns[f"v{phase}_angle"] = (shift + 360 * 0.01 * seconds - 2.0 * index + 180) % 360 - 180
        columns[f"i{phase}"] = 100.0 + index
        columns[f"i{phase}_angle"] = columns[f"v{phase}_angle"] - 20
    columns["status"] = np.zeros(len(seconds), dtype=np.int64)
    write("pmu_readings", columns)


def _sensors(write: Write, sensors: list[str]) -> None:
    columns = _raw("sensor", sensors, SECOND)
    seconds = (columns["ts"] - START_NS) / SECOND
    columns["voltage_v"] = 7200.0 + 30 * np.sin(seconds / 60)
    columns["current_a"] = 40.0 + 10 * np.sin(seconds / 90)
    columns["temperature_c"] = np.full(len(seconds), 35.0)
    columns["thd_pct"] = np.full(len(seconds), float("nan"))  # absent: NaN, as the ingest writes it
    write("sensor_readings", columns)


def _meters(write: Write, meters: list[str]) -> None:
    columns = _raw("meter", meters, MINUTE)
    n = len(columns["ts"])
    columns["event"] = ["interval"] * n
    columns["kwh"] = np.full(n, 0.4)
    columns["voltage_v"] = np.full(n, 240.0)
    columns["interval_s"] = np.full(n, 60, dtype=np.int32)
    write("meter_events", columns)


def _scada_outages_anomalies(write: Write, by_kind: dict[str, list[tuple[Any, ...]]]) -> None:
    recloser = by_kind["recloser"][0]  # (device, kind, feeder, zone, ...)
    breaker = by_kind["breaker"][1]
    trip_ns = START_NS + 4 * MINUTE
    write("scada_events", {
        "device": [recloser[0], recloser[0]], "ts": [trip_ns, trip_ns + 30 * SECOND], "event": ["trip", "lockout"],
        "point": ["status", "status"], "value": [0.0, 0.0], "phase": [None, None],
        "sent_ns": [trip_ns, trip_ns + 30 * SECOND], "_topic": ["grid.scada"] * 2, "_partition": [0, 0],
        "_offset": [0, 1],
    })  # fmt: skip
    advice = [f"1. open the switch below {recloser[0]}", f"2. repair, then close {recloser[0]}"]
    outages = [
        ("O-open", 1, recloser[2], recloser[0], recloser[3], "zonal", "confirmed", trip_ns, None, 300, 300,
         ["scada"], None, advice, "gridmon.outage/1"),
        ("O-open", 2, recloser[2], recloser[0], recloser[3], "zonal", "restoring", trip_ns, None, 300,
         OPEN_OUTAGE_CUSTOMERS_OUT, ["scada", "ami"], None, advice, "gridmon.outage/1"),
        ("O-done", 1, breaker[2], breaker[0], breaker[3], "zonal", "restored", START_NS + MINUTE,
         START_NS + 8 * MINUTE, 500, 0, ["scada"], None, [], "gridmon.outage/1"),
        ("O-meter", 1, breaker[2], "m-1", breaker[3], "individual", "momentary", START_NS + 2 * MINUTE,
         START_NS + 3 * MINUTE, 1, 0, ["ami"], None, [], "gridmon.outage/1"),
    ]  # fmt: skip
    write("outages", {name: [row[i] for row in outages] for i, name in enumerate(OUTAGE_COLUMNS)})
    sensor = by_kind["sensor"][0]
    pmu = by_kind["pmu"][0]
    anomalies = [
        ("A1", 1, sensor[0], sensor[3], sensor[2], "voltage_v_pu", "limits", "grid", "critical", "open",
         trip_ns, None, 20.0, 0.0, "O-open", None, "gridmon.anomaly/1"),
        ("A2", 2, pmu[0], pmu[3], pmu[2], "freq_hz", "pmu", "grid", "major", "closed",
         START_NS + 200 * SECOND, START_NS + 215 * SECOND, 8.0, 59.85, None, None, "gridmon.anomaly/1"),
        ("A3", 1, sensor[0], sensor[3], sensor[2], "temperature_c", "baseline", "grid", "warning", "closed",
         START_NS + MINUTE, START_NS + 2 * MINUTE, 3.2, 48.0, None, None, "gridmon.anomaly/1"),
    ]  # fmt: skip
    write("anomalies", {name: [row[i] for row in anomalies] for i, name in enumerate(ANOMALY_COLUMNS)})
    dead = [
        ("invalid_range", "freq_hz 0.0 outside 40..70", "grid.pmu", 0, 7, END_NS - MINUTE, pmu[0], "{}", ""),
        ("duplicate", "same device and ts", "grid.sensor", 1, 9, END_NS - 2 * MINUTE, sensor[0], "{}", ""),
        ("decode", "not msgpack", "grid.meter", 0, 3, END_NS - 3 * MINUTE, None, "\\x00", ""),
    ]  # fmt: skip
    write("dead_letters", {name: [row[i] for row in dead] for i, name in enumerate(DEAD_LETTER_COLUMNS)})
