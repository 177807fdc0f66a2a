"""One benchmark worker process: the real pipeline (`build_pipeline` + `assemble_components`, as `gridmon worker`)
on its own chdb folder, reporting progress, memory and latency to the coordinator through queues.

chdb allows one process per data folder, so each worker of a multi-worker run writes its own ClickHouse;
the coordinator adds their counts. Kafka (topics, consumer group) is shared, as in production.
"""

from __future__ import annotations

import asyncio
import cProfile
import os
import queue
import resource
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gridmon.grid.generate import generate
from gridmon.pipeline.assembly import assemble_components
from gridmon.pipeline.runner import Pipeline, build_pipeline, running
from gridmon.settings import Settings
from gridmon.store.client import connect
from gridmon.store.migrations import migrate
from gridmon.store.tables import RAW_TABLES

REPORT_EVERY_S = 0.2
PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class WorkerSpec:
    number: int
    settings: Settings  # the worker's own data dir (chdb folder); shared broker and topic prefix
    bootstrap: str
    size: str
    seed: int
    batch_max_messages: int | None
    profile_path: Path | None = None


@dataclass(frozen=True)
class Snapshot:
    """Cumulative counters of one worker at wall time `t`."""

    worker: int
    t: float
    messages: int
    readings: int
    next_offsets: dict[tuple[str, int], int]
    rss_mb: float
    peak_rss_mb: float
    outage_messages: int
    started_t: float | None = None  # when the worker's first batch reached its stages
    cpu_s: float = 0.0  # this process's CPU time (user + system, all threads: chdb and librdkafka too)
    machine_cpu_s: float = 0.0  # CPU time of the whole machine (every process, other engineers' too)


def worker_main(spec: WorkerSpec, reports: Any, commands: Any) -> None:
    """Process entry point (spawned): build the worker, then serve until the coordinator says stop."""
    started = time.monotonic()
    client = connect(spec.settings)
    migrate(client)
    model = generate(spec.size, seed=spec.seed)
    generated = time.monotonic()
    components = assemble_components(model)
    build = {"generate_s": generated - started, "assemble_s": time.monotonic() - generated}
    pipeline = build_pipeline(
        spec.settings,
        spec.bootstrap,
        client,
        components,
        app_id="gridmon-bench",
        batch_max_messages=spec.batch_max_messages,
    )
    profiler = cProfile.Profile() if spec.profile_path else None
    asyncio.run(_serve(spec, pipeline, client, reports, commands, profiler, build))
    if profiler is not None and spec.profile_path is not None:
        spec.profile_path.parent.mkdir(parents=True, exist_ok=True)
        profiler.dump_stats(spec.profile_path)


async def _serve(
    spec: WorkerSpec,
    pipeline: Pipeline,
    client: Any,
    reports: Any,
    commands: Any,
    profiler: cProfile.Profile | None,
    build: dict[str, float],
) -> None:
    async with running(pipeline):
        reports.put(("ready", spec.number, build | {"rss_mb": rss_mb()}))
        while True:
            reports.put(("snapshot", spec.number, snapshot(spec.number, pipeline)))
            command = _next_command(commands)
            if command is None:
                await asyncio.sleep(REPORT_EVERY_S)
            elif command[0] == "stop":
                break
            elif command[0] == "profile":
                _toggle(profiler, command[1])
            elif command[0] == "latency":
                reports.put(("latency", spec.number, latency_histogram(client, command[1], command[2])))
            elif command[0] == "memory":
                reports.put(("memory", spec.number, memory_split(client)))
    reports.put(("stopped", spec.number, snapshot(spec.number, pipeline)))


def _next_command(commands: Any) -> tuple[Any, ...] | None:
    try:
        return tuple(commands.get_nowait())
    except queue.Empty:
        return None


def _toggle(profiler: cProfile.Profile | None, enable: bool) -> None:
    if profiler is None:
        return
    if enable:
        profiler.enable()
    else:
        profiler.disable()


def snapshot(number: int, pipeline: Pipeline) -> Snapshot:
    next_offsets: dict[tuple[str, int], int] = {}
    messages = readings = 0
    for stage in pipeline.ingest.values():
        next_offsets |= stage.progress.next_offset
        messages += stage.progress.messages
        readings += stage.progress.readings + stage.progress.dead_letters
    outage_messages = pipeline.outages.progress.messages if pipeline.outages else 0
    started_t = pipeline.consumer.stats.first_fetched_at
    return Snapshot(
        number,
        time.time(),
        messages,
        readings,
        next_offsets,
        rss_mb(),
        peak_rss_mb(),
        outage_messages,
        started_t,
        cpu_seconds(),
        machine_cpu_seconds(),
    )


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE_MB


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine_cpu_seconds() -> float:
    """Busy CPU time of all cores since boot (/proc/stat: everything but idle and iowait)."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    busy = sum(fields[:8]) - fields[3] - fields[4]  # user nice system idle iowait irq softirq steal
    return busy / CLOCK_TICKS


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def memory_split(client: Any) -> dict[str, float]:
    """RSS, and how much of it the in-process ClickHouse's allocator tracks (parts being written, merges,
    caches); the rest is Python, numpy state, librdkafka buffers and the libraries."""
    tracked = client.query("SELECT value FROM system.metrics WHERE metric = 'MemoryTracking'").result_rows
    chdb_mb = int(tracked[0][0]) / 2**20 if tracked else float("nan")
    rss = rss_mb()
    return {"rss_mb": round(rss, 1), "chdb_tracked_mb": round(chdb_mb, 1), "rest_mb": round(rss - chdb_mb, 1)}


def latency_histogram(client: Any, since_ns: int, until_ns: int) -> dict[int, int]:
    """Rows sent in [since, until): count per millisecond of (inserted_at − sent_ns), over every raw table."""
    union = " UNION ALL ".join(
        f"SELECT toUnixTimestamp64Micro(inserted_at) * 1000 - sent_ns AS lag_ns FROM {table} "
        "WHERE sent_ns >= {since:Int64} AND sent_ns < {until:Int64}"
        for table in RAW_TABLES.values()
    )
    rows = client.query(
        f"SELECT intDiv(lag_ns, 1000000) AS ms, count() FROM ({union}) GROUP BY ms",
        parameters={"since": since_ns, "until": until_ns},
    ).result_rows
    return {int(ms): int(count) for ms, count in rows}
