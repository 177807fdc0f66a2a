"""ClickHouse storage benchmark on embedded chdb: sink throughput vs a bare insert, bytes per PMU reading,
and rollup query speed over 30 days.

Baseline: `client.insert` of the same PMU columns into an identical table (same codecs, same rollups) in the
same run. Measured: `BatchSink.write` (high-water check, deduplication token, worker thread). Goal ≥ 80 %.
Run: `.venv/bin/python load_tests/bench_store.py [--full]` (default run well under 2 minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from gridmon.settings import load_settings
from gridmon.store.client import close_all, connect
from gridmon.store.migrations import migrate
from gridmon.store.sink import BatchSink, OffsetRange

PMU_COLUMNS = [
    "device", "ts", "freq_hz", "rocof_hz_s", "va", "vb", "vc", "va_angle", "vb_angle", "vc_angle",
    "ia", "ib", "ic", "ia_angle", "ib_angle", "ic_angle", "status", "sent_ns", "_topic", "_partition", "_offset",
]  # fmt: skip
FRAME_NS = 1_000_000_000 // 30


def pmu_batches(pmus: int, seconds: int, rows_per_batch: int, start_ns: int) -> list[dict[str, Any]]:
    """Realistic PMU columns (30 frames/s, slow drifts and noise), cut into batches of one Kafka offset each
    per `pmus` readings (one envelope per frame time, as a PDC sends)."""
    rng = np.random.default_rng(7)
    frames = seconds * 30
    frame = np.repeat(np.arange(frames, dtype=np.int64), pmus)
    device = np.tile(np.arange(pmus), frames)
    n = len(frame)
    t = frame / 30.0
    freq = 50.0 + 0.02 * np.sin(t / 40.0) + rng.normal(0, 0.002, n)
    volts = 230.0 + 2.0 * np.sin(t / 300.0 + device) + rng.normal(0, 0.05, n)
    angle = (t * 2.0 + device * 7.0) % 360.0 - 180.0
    amps = 120.0 + 10.0 * np.sin(t / 120.0 + device) + rng.normal(0, 0.3, n)
    columns: dict[str, Any] = {
        "device": [f"pmu-{d:04d}" for d in device],
        "ts": start_ns + frame * FRAME_NS,
        "freq_hz": freq,
        "rocof_hz_s": np.gradient(freq) * 30.0,
        "va": volts, "vb": volts + 0.4, "vc": volts - 0.3,
        "va_angle": angle, "vb_angle": angle - 120.0, "vc_angle": angle + 120.0,
        "ia": amps, "ib": amps * 1.01, "ic": amps * 0.99,
        "ia_angle": angle - 20.0, "ib_angle": angle - 140.0, "ic_angle": angle + 100.0,
        "status": np.zeros(n, dtype=np.int64),
        "sent_ns": start_ns + frame * FRAME_NS + 20_000_000,
        "_topic": ["grid.pmu"] * n,
        "_partition": np.zeros(n, dtype=np.int32),
        "_offset": frame,
    }  # fmt: skip
    cut = max(pmus, rows_per_batch // pmus * pmus)  # whole frames per batch
    return [{k: v[i : i + cut] for k, v in columns.items()} for i in range(0, n, cut)]


def fresh_client(data_dir: Path, database: str) -> Any:
    client = connect(load_settings(data_dir=data_dir, clickhouse_database=database))
    migrate(client)
    return client


def bench_sink(data_dir: Path, batches: list[dict[str, Any]]) -> tuple[float, float]:
    """Bare insert and sink write alternate batch by batch, so warm-up and machine noise hit both alike."""
    bare_client = fresh_client(data_dir, "bench_bare")
    sink = BatchSink(fresh_client(data_dir, "bench_sink"), "pmu_readings", PMU_COLUMNS)
    bare_s = sink_s = 0.0
    for b in batches:
        # The bare insert gets the event times as Python ints, prepared before timing (the form it accepts).
        bare = [b[name].tolist() if name == "ts" else b[name] for name in PMU_COLUMNS]
        started = time.perf_counter()
        bare_client.insert("pmu_readings", bare, column_names=PMU_COLUMNS, column_oriented=True)
        bare_s += time.perf_counter() - started
        first, last = int(b["_offset"][0]), int(b["_offset"][-1])
        data = [b[name] for name in PMU_COLUMNS]
        started = time.perf_counter()
        asyncio.run(
            sink.write(data, [OffsetRange("grid.pmu", 0, first, last)], b["_partition"], b["_offset"])
        )
        sink_s += time.perf_counter() - started
    return bare_s, sink_s


def storage_figures(client: Any) -> None:
    client.command("OPTIMIZE TABLE pmu_readings FINAL")
    rows, compressed, uncompressed = client.query(
        "SELECT sum(rows), sum(data_compressed_bytes), sum(data_uncompressed_bytes) FROM system.parts "
        "WHERE database = currentDatabase() AND table = 'pmu_readings' AND active"
    ).result_rows[0]
    print(f"on disk after OPTIMIZE: {compressed / rows:.1f} bytes per PMU reading "
          f"(raw {uncompressed / rows:.0f} B), compression ratio {uncompressed / compressed:.1f}x")  # fmt: skip
    worst = client.query(
        "SELECT name, round(data_uncompressed_bytes / data_compressed_bytes, 1), data_compressed_bytes "
        "FROM system.columns WHERE database = currentDatabase() AND table = 'pmu_readings' "
        "ORDER BY data_compressed_bytes DESC LIMIT 5"
    ).result_rows
    print(
        "  largest columns (ratio, bytes): " + ", ".join(f"{n} {r}x {b / rows:.1f}B/row" for n, r, b in worst)
    )


def bench_rollup_query(data_dir: Path, pmus: int, days: int) -> None:
    """Fill pmu_1m with 30 days of per-minute states (generated in ClickHouse), then query it like a dashboard."""
    client = fresh_client(data_dir, "bench_rollup")
    started = time.perf_counter()
    client.command(
        "INSERT INTO pmu_1m SELECT concat('pmu-', leftPad(toString(number % {pmus:UInt32}), 4, '0')) AS device, "
        "toDateTime(now() - toIntervalMinute(intDiv(number, {pmus:UInt32})), 'UTC') AS ts, 1800, "
        "49.95 + (number % 7) / 100, 50.05, avgState(50.0 + (number % 13) / 1000), -0.01, 0.01, 0.01, "
        "225.0, 235.0, avgState(230.0), 225.0, 235.0, avgState(230.4), 225.0, 235.0, avgState(229.7), 0 "
        "FROM numbers({rows:UInt64}) GROUP BY number",
        parameters={"pmus": pmus, "rows": pmus * days * 1440},
    )
    fill_s = time.perf_counter() - started
    client.command("OPTIMIZE TABLE pmu_1m FINAL")
    query = (
        "SELECT device, toStartOfHour(ts) AS hour, min(freq_min), max(freq_max), avgMerge(freq_avg) "
        "FROM pmu_1m WHERE ts >= now() - INTERVAL {days:UInt32} DAY GROUP BY device, hour"
    )
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        result = client.query(query, parameters={"days": days})
        timings.append(time.perf_counter() - started)
    scanned = pmus * days * 1440
    best = min(timings)
    print(f"rollup: {scanned:,} minute rows ({pmus} PMUs x {days} days) filled in {fill_s:.1f}s; hourly "
          f"dashboard query over {days} days: {best * 1000:.0f} ms, {scanned / best / 1e6:.1f} M rows/s, "
          f"{len(result.result_rows):,} points out")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="bigger run (minutes)")
    args = parser.parse_args()
    pmus, seconds, rollup_pmus = (500, 120, 500) if args.full else (200, 60, 100)
    data_dir = Path(tempfile.mkdtemp(prefix="gridmon-bench-store-"))
    start_ns = (time.time_ns() // 10**9 - 3600) * 10**9
    batches = pmu_batches(pmus, seconds, 50_000, start_ns)
    rows = sum(len(b["ts"]) for b in batches)
    print(
        f"{rows:,} PMU readings ({pmus} PMUs x 30 frames/s x {seconds} s) in {len(batches)} batches; chdb in {data_dir}"
    )
    bare_s, sink_s = bench_sink(data_dir, batches)
    print(f"bare client.insert: {rows / bare_s:,.0f} rows/s   BatchSink.write: {rows / sink_s:,.0f} rows/s   "
          f"sink/bare = {bare_s / sink_s:.0%} (goal >= 80%)")  # fmt: skip
    storage_figures(fresh_client(data_dir, "bench_sink"))
    bench_rollup_query(data_dir, rollup_pmus, 30)
    close_all()
    shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
