"""`gridmon bench`: the real pipeline on the embedded stack, measured in phases of one run.

1. backlog: the producer (its own process) fills the input topics as fast as it can;
2. baseline: a raw confluent consumer + orjson reads the same backlog (same broker, same run);
3. throughput: N spawned workers (`build_pipeline` + `assemble_components`, as `gridmon worker`) drain it;
4. latency: the producer sends at `rate_fraction` of the measured maximum (or a fixed `rate`); sent → ClickHouse
   row per reading;
5. soak (optional): the same paced load for `soak_seconds`, sampling memory and lag.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gridmon.bench.baseline import raw_consume_rate
from gridmon.bench.fleet import Fleet
from gridmon.bench.stats import busy_window, merge_histograms, percentiles, slope_per_minute, throughput
from gridmon.bench.worker import WorkerSpec
from gridmon.bench.workload import TrafficSent, TrafficSpec, Workload, send_traffic
from gridmon.kafka.clients import make_admin, make_consumer
from gridmon.kafka.embedded import kafka_bootstrap
from gridmon.pipeline.progress import end_offsets
from gridmon.pipeline.runner import INPUT_TOPICS, prepare_topics
from gridmon.settings import Settings, load_settings

SECOND = 1_000_000_000
EVENT_TIME_ORIGIN_S = 2 * 86_400  # traffic starts two days back, so no phase runs into the future


@dataclass(frozen=True)
class BenchOptions:
    workload: Workload = field(default_factory=Workload)
    backlog_seconds: float = 600.0  # event-time seconds of traffic in the throughput backlog
    workers: int = 1
    partitions: int = 4
    latency_seconds: float = 20.0  # wall seconds of the latency phase
    rate_fraction: float = 0.5
    rate: float | None = None  # fixed readings/s of the latency and soak phases (else `rate_fraction`)
    soak_seconds: float = 0.0
    soak_sample_s: float = 5.0
    batch_max_messages: int | None = None  # None: the settings' GRIDMON_BATCH_MAX_MESSAGES
    profile_dir: Path | None = None


@dataclass
class _Clock:
    """Event time of the next traffic: phases follow each other, so no reading repeats an earlier one."""

    next_ns: int

    def take(self, seconds: float) -> int:
        start, self.next_ns = self.next_ns, self.next_ns + int(seconds * SECOND)
        return start


def run_bench(options: BenchOptions, settings: Settings | None = None) -> dict[str, Any]:
    base = settings or load_settings()
    run_id = uuid.uuid4().hex[:8]
    bench_dir = base.data_dir / "bench"
    shutil.rmtree(bench_dir, ignore_errors=True)
    settings = base.model_copy(
        update={"data_dir": bench_dir, "topic_prefix": f"bench{run_id}.", "partitions": options.partitions}
    )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    options = replace(options, batch_max_messages=options.batch_max_messages or settings.batch_max_messages)
    started, load_before = time.monotonic(), os.getloadavg()[0]
    with kafka_bootstrap(settings) as bootstrap:
        prepare_topics(settings, bootstrap)
        result = _phases(options, settings, bootstrap)
    result["duration_s"] = round(time.monotonic() - started, 1)
    # the machine is shared: the 1-minute load average at start and end says how much of it was ours
    result["load_avg"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    return result


def _phases(options: BenchOptions, settings: Settings, bootstrap: str) -> dict[str, Any]:
    clock = _Clock(time.time_ns() - EVENT_TIME_ORIGIN_S * SECOND)
    traffic = TrafficSpec(settings, bootstrap, options.workload, options.backlog_seconds, 0)
    backlog = _send(replace(traffic, start_ns=clock.take(options.backlog_seconds)))
    probe = make_consumer(settings, bootstrap, group_id=f"bench-probe-{uuid.uuid4().hex[:6]}")
    topics = [settings.topic(name) for name in INPUT_TOPICS]
    baseline = raw_consume_rate(settings, bootstrap, topics, backlog.messages)
    fleet = Fleet(_worker_specs(options, settings, bootstrap))
    try:
        fleet.start()
        fleet.send("profile", True)
        ends = end_offsets(probe, topics)
        fleet.wait(lambda: fleet.lag(ends) == 0, 900, "the workers did not drain the backlog")
        fleet.send("profile", False)
        memory = {"after_backlog": fleet.memory()}
        measured = throughput(list(fleet.series.values()))
        readings_per_event_s = backlog.readings / options.backlog_seconds
        target = options.rate or options.rate_fraction * measured.readings_per_s
        speed = target / readings_per_event_s
        paced = replace(traffic, speed=speed)
        latency = _paced_phase(fleet, paced, clock, options.latency_seconds, probe, topics)
        soak = _soak(fleet, paced, clock, options, probe, topics) if options.soak_seconds > 0 else None
        memory["end"] = fleet.memory()
    finally:
        fleet.stop()
        probe.close()
    result = _result(options, backlog, baseline, measured, latency, soak, fleet)
    return result | {"memory_split_mb": memory}


def _worker_specs(options: BenchOptions, settings: Settings, bootstrap: str) -> list[WorkerSpec]:
    specs = []
    for number in range(options.workers):
        profile = options.profile_dir / f"worker{number}.prof" if options.profile_dir else None
        own = settings.model_copy(update={"data_dir": settings.data_dir / f"worker{number}"})
        specs.append(
            WorkerSpec(
                number,
                own,
                bootstrap,
                options.workload.size,
                options.workload.seed,
                options.batch_max_messages,
                profile,
            )  # fmt: skip
        )
    return specs


def _send(spec: TrafficSpec) -> TrafficSent:
    """Run the producer in a process of its own and wait for it."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
        return pool.submit(send_traffic, spec).result()


def _send_async(spec: TrafficSpec) -> tuple[concurrent.futures.ProcessPoolExecutor, Any]:
    context = multiprocessing.get_context("spawn")
    pool = concurrent.futures.ProcessPoolExecutor(1, mp_context=context)
    return pool, pool.submit(send_traffic, spec)


def _paced_phase(
    fleet: Fleet, paced: TrafficSpec, clock: _Clock, seconds: float, probe: Any, topics: list[str]
) -> dict[str, Any]:
    """Send at the paced rate for `seconds`, wait until stored, then measure sent → row latency."""
    event_seconds = seconds * (paced.speed or 1.0)
    spec = replace(paced, event_seconds=event_seconds, start_ns=clock.take(event_seconds), pregenerate=True)
    since_ns = time.time_ns()
    pool, future = _send_async(spec)
    with pool:
        fleet.wait(future.done, seconds * 3 + 120, "the paced producer did not finish")
        sent: TrafficSent = future.result()
    ends = end_offsets(probe, topics)
    fleet.wait(lambda: fleet.lag(ends) == 0, 300, "the workers did not keep up with the paced load")
    histogram = merge_histograms(fleet.latency(since_ns, time.time_ns()))
    return {
        "readings_per_s_sent": round(sent.readings / sent.wall_s),
        "messages_per_s_sent": round(sent.messages / sent.wall_s),
        "latency_ms": percentiles(histogram),
        "rows_measured": sum(histogram.values()),
    }


def _soak(
    fleet: Fleet, paced: TrafficSpec, clock: _Clock, options: BenchOptions, probe: Any, topics: list[str]
) -> dict[str, Any]:
    """Paced load for `soak_seconds`; every `soak_sample_s` the workers' RSS and the total lag."""
    seconds = options.soak_seconds
    event_seconds = seconds * (paced.speed or 1.0)
    spec = replace(paced, event_seconds=event_seconds, start_ns=clock.take(event_seconds))
    samples: list[dict[str, float]] = []
    since_ns, started = time.time_ns(), time.monotonic()
    pool, future = _send_async(spec)
    admin = make_admin(paced.settings, paced.bootstrap)
    with pool:
        while not future.done():
            _sleep_pumping(fleet, options.soak_sample_s, future)
            samples.append(_soak_sample(fleet, admin, topics, time.monotonic() - started))
        sent: TrafficSent = future.result()
    ends = end_offsets(probe, topics)
    fleet.wait(lambda: fleet.lag(ends) == 0, 300, "the workers did not catch up after the soak")
    histogram = merge_histograms(fleet.latency(since_ns, time.time_ns()))
    return _soak_summary(samples, sent, histogram)


def _sleep_pumping(fleet: Fleet, seconds: float, future: Any) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not future.done():
        fleet.pump(0.2)


def high_watermarks(admin: Any, topics: list[str]) -> dict[tuple[str, int], int]:
    """Each partition's high watermark, in one ListOffsets request. Not `end_offsets`: that reads to the end
    of every partition, which never comes while a producer is sending (a soak sample took the whole soak),
    and a consumer's watermark query per partition took ~0.5 s each. On Tansu the watermark is the last
    record batch's base offset + 1, so a lag from it can be short by one producer batch per partition
    (docs/tansu.md): fine for a trend."""
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import OffsetSpec  # type: ignore[attr-defined]

    latest = OffsetSpec.latest()  # type: ignore[no-untyped-call]
    metadata = admin.list_topics(timeout=10)
    wanted = {
        TopicPartition(topic, partition): latest
        for topic in topics
        for partition in metadata.topics[topic].partitions
    }
    futures = admin.list_offsets(wanted, request_timeout=10)
    return {(tp.topic, tp.partition): future.result().offset for tp, future in futures.items()}


def _soak_sample(fleet: Fleet, admin: Any, topics: list[str], t: float) -> dict[str, float]:
    ends = high_watermarks(admin, topics)
    rss = sum(series[-1].rss_mb for series in fleet.series.values() if series)
    lag = fleet.lag(ends)
    chdb = sum(split["chdb_tracked_mb"] for split in fleet.memory())
    sample = {
        "t_s": round(t, 1),
        "rss_mb": round(rss, 1),
        "chdb_tracked_mb": round(chdb, 1),
        "lag_messages": lag,
    }
    return sample | {"load_avg": os.getloadavg()[0]}


def _soak_summary(
    samples: list[dict[str, float]], sent: TrafficSent, histogram: dict[int, int]
) -> dict[str, Any]:
    t = [s["t_s"] for s in samples]
    steady = samples[len(samples) // 5 :] or samples  # the first fifth is warm-up (caches filling)
    steady_t = [s["t_s"] for s in steady]
    return {
        "seconds": round(sent.wall_s, 1),
        "readings_per_s_sent": round(sent.readings / sent.wall_s),
        "rss_mb_first": samples[0]["rss_mb"] if samples else None,
        "rss_mb_last": samples[-1]["rss_mb"] if samples else None,
        "rss_mb_per_min_after_warmup": round(slope_per_minute(steady_t, [s["rss_mb"] for s in steady]), 2),
        "chdb_tracked_mb_per_min_after_warmup": round(
            slope_per_minute(steady_t, [s["chdb_tracked_mb"] for s in steady]), 2
        ),
        "lag_max_messages": max((s["lag_messages"] for s in samples), default=0),
        "lag_messages_per_min": round(slope_per_minute(t, [s["lag_messages"] for s in samples]), 2),
        "latency_ms": percentiles(histogram),
        "samples": samples,
    }


def _result(
    options: BenchOptions,
    backlog: TrafficSent,
    baseline: float,
    measured: Any,
    latency: dict[str, Any],
    soak: dict[str, Any] | None,
    fleet: Fleet,
) -> dict[str, Any]:
    final = list(fleet.final.values())
    result: dict[str, Any] = {
        "workload": {
            "size": options.workload.size,
            "scenario": options.workload.scenario,
            "backlog_messages": backlog.messages,
            "backlog_readings": backlog.readings,
            "readings_per_message": round(backlog.readings / max(1, backlog.messages), 1),
            "partitions": options.partitions,
            "batch_max_messages": options.batch_max_messages,
        },
        "baseline_msgs_per_s": round(baseline),
        "pipeline_msgs_per_s": round(measured.messages_per_s),
        "pipeline_readings_per_s": round(measured.readings_per_s),
        "ratio_to_baseline": round(measured.messages_per_s / baseline, 3),
        "throughput_window_s": round(measured.window_s, 2),
        "latency_ms": latency["latency_ms"],
        "latency_phase": {
            **{k: v for k, v in latency.items() if k != "latency_ms"},
            "share_of_max": round(latency["readings_per_s_sent"] / max(1.0, measured.readings_per_s), 3),
        },
        "peak_rss_mb": round(max(s.peak_rss_mb for s in final), 1) if final else None,
        "ready_rss_mb": round(max(r["rss_mb"] for r in fleet.ready.values()), 1),  # built, before traffic
        "build_s": {
            k: round(max(r[k] for r in fleet.ready.values()), 1) for k in ("generate_s", "assemble_s")
        },
        "workers": options.workers,
        "outage_events_processed": sum(s.outage_messages for s in final),
        "cpu_cores_in_window": cpu_in_window(list(fleet.series.values())),
    }
    if soak is not None:
        result["soak"] = soak
    return result


def cpu_in_window(series: list[list[Any]]) -> dict[str, Any]:
    """Cores each worker used during the throughput window, and the whole machine (every process: producer
    idle by then, broker, other engineers' runs): what is left for another worker."""
    start, end = busy_window(series)
    first = [_snapshot_at(s, start) for s in series]
    last = [_snapshot_at(s, end) for s in series]
    seconds = max(end - start, 1e-9)
    return {
        "workers": [round((b.cpu_s - a.cpu_s) / seconds, 2) for a, b in zip(first, last, strict=True)],
        "machine": round((last[0].machine_cpu_s - first[0].machine_cpu_s) / seconds, 2),
        "machine_cores": os.cpu_count(),
    }


def _snapshot_at(snapshots: list[Any], t: float) -> Any:
    return min(snapshots, key=lambda snapshot: abs(snapshot.t - t))
