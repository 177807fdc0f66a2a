"""Where a worker's memory goes before it reads a message: RSS and wall time after each step of building it
(chdb, grid model, correlator, device context, detector bank, router, privacy, ingest processors, pipeline).

memory_steps(settings, "large") → MemoryReport (steps, arrays by path); run it in a fresh process:
`python -m gridmon.bench.memory --size large --data-dir /tmp/fresh [--traffic-seconds 120]`.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gridmon.bench.worker import rss_mb
from gridmon.settings import Settings, load_settings


@dataclass(frozen=True)
class MemoryStep:
    step: str
    owner: str  # the module that holds what this step allocated
    rss_mb: float  # after the step
    delta_mb: float
    python_mb: float  # traced Python allocations added by the step (tracemalloc; numpy buffers included)
    seconds: float


@dataclass(frozen=True)
class MemoryReport:
    steps: list[MemoryStep]
    arrays: dict[str, dict[str, int]]  # per component: bytes of each numpy array it holds, by path

    def summary(self, top: int = 8) -> dict[str, Any]:
        return {
            "steps": [asdict(step) for step in self.steps],
            "arrays_mb": {
                name: {
                    "total": round(sum(found.values()) / 2**20, 1),
                    "largest": largest(found, top),
                    "by_holder": largest(by_holder(found), 5 * top),
                }
                for name, found in self.arrays.items()
            },
        }


class _Steps:
    def __init__(self, trace: bool) -> None:
        self.trace = trace
        self.steps: list[MemoryStep] = []
        self._rss = rss_mb()
        self._traced = 0

    def run(self, step: str, owner: str, build: Callable[[], Any]) -> Any:
        started = time.monotonic()
        value = build()
        seconds = time.monotonic() - started
        gc.collect()
        rss = rss_mb()
        traced = tracemalloc.get_traced_memory()[0] if self.trace else 0
        self.steps.append(
            MemoryStep(
                step,
                owner,
                round(rss, 1),
                round(rss - self._rss, 1),
                round((traced - self._traced) / 2**20, 1),
                round(seconds, 2),
            )
        )
        self._rss, self._traced = rss, traced
        return value


def array_footprint(
    root: Any, name: str = "", *, depth: int = 6, modules: tuple[str, ...] = ("gridmon",)
) -> dict[str, int]:
    """Bytes of every numpy array reachable from `root` through attributes (of objects from `modules` only:
    not into Faust or clients), dicts, lists and tuples, by path; an array reached twice counts once, e.g.
    `{"pmu.oscillation.values": 1_158_000_000, ...}`."""
    found: dict[str, int] = {}
    seen: set[int] = set()

    def walk(value: Any, path: str, left: int) -> None:
        if id(value) in seen or left < 0:
            return
        seen.add(id(value))
        if isinstance(value, np.ndarray):
            if value.base is None or value.base is value:  # views share their owner's buffer
                found[path] = value.nbytes
            return
        if isinstance(value, dict):
            items: Any = ((f"{path}[{key!r}]", item) for key, item in value.items())
        elif isinstance(value, list | tuple):
            items = ((f"{path}[{index}]", item) for index, item in enumerate(value[:64]))
        elif hasattr(value, "__dict__") and value.__class__.__module__.startswith(modules):
            items = ((f"{path}.{key}" if path else key, item) for key, item in vars(value).items())
        else:
            return
        for child_path, child in items:
            walk(child, child_path, left - 1)

    walk(root, name, depth)
    return found


def by_holder(found: dict[str, int]) -> dict[str, int]:
    """Bytes summed by the object that holds the arrays (the path less its last attribute), e.g.
    `detector.baseline.states['kwh']`: one metric's state, whatever its number of arrays."""
    holders: dict[str, int] = {}
    for path, size in found.items():
        holder = path.rsplit(".", 1)[0]
        holders[holder] = holders.get(holder, 0) + size
    return holders


def largest(found: dict[str, int], top: int = 12) -> list[tuple[str, float]]:
    """The `top` largest paths in MB, then everything else summed as `(others)`."""
    ranked = sorted(found.items(), key=lambda item: -item[1])
    rows = [(path, round(size / 2**20, 1)) for path, size in ranked[:top]]
    rest = sum(size for _, size in ranked[top:])
    return rows + ([("(others)", round(rest / 2**20, 1))] if rest else [])


def memory_steps(
    settings: Settings, size: str, *, seed: int = 1, trace: bool = False, traffic_s: float = 0.0
) -> MemoryReport:
    """Build one worker step by step, as `gridmon worker` / the bench worker do; RSS after each step. With
    `traffic_s`, then feed that much simulated traffic through its stages in process (ingest, detectors,
    outage routing and correlation; no Kafka, no ClickHouse) and measure again."""
    from gridmon.detect.bank import DetectorBank
    from gridmon.detect.config import BankConfig
    from gridmon.grid.generate import generate
    from gridmon.outages import FeederRouter, OutageCorrelator
    from gridmon.pipeline.assembly import device_context
    from gridmon.pipeline.runner import Components, build_pipeline
    from gridmon.security.privacy import Privacy
    from gridmon.store.client import connect
    from gridmon.store.migrations import migrate

    bootstrap = settings.kafka_bootstrap or "127.0.0.1:9092"  # the output producer is built, never used
    if trace:
        tracemalloc.start()
    steps = _Steps(trace)

    def chdb() -> Any:
        client = connect(settings)
        migrate(client)
        return client

    client = steps.run("chdb session + schema", "store (chdb engine)", chdb)
    model = steps.run(f"generate({size!r})", "grid (GridModel)", lambda: generate(size, seed=seed))
    correlator = steps.run("OutageCorrelator(model)", "outages (topology)", lambda: OutageCorrelator(model))
    context = steps.run("device_context(model)", "pipeline/assembly + detect", lambda: device_context(model))
    bank = steps.run(
        "DetectorBank(config, context)",
        "detect (per-device arrays)",
        lambda: DetectorBank(BankConfig(), context, outage_of=correlator.active_outage_for),
    )
    router = steps.run("FeederRouter(model)", "outages (router)", lambda: FeederRouter(model))
    steps.run(
        "Privacy.from_settings",
        "security (meter mask, opt-out)",
        lambda: Privacy.from_settings(settings, model),
    )
    components = Components(registry=model, detector=bank, router=router, correlator=correlator)
    pipeline = steps.run(
        "build_pipeline (4 ingest processors, Faust app)",
        "pipeline + ingest (dedup tables)",
        lambda: build_pipeline(settings, bootstrap, client, components, app_id="gridmon-memory"),
    )
    pipeline.publisher.close()
    if traffic_s > 0:
        steps.run(
            f"{traffic_s:g} s of simulated traffic through ingest, detectors, outages",
            "ingest + detect + outages (state that grows)",
            lambda: _feed(pipeline, size, seed, traffic_s),
        )
    if trace:
        tracemalloc.stop()
    parts = {"detector": bank, "correlator": correlator, "router": router, "registry": model}
    parts |= {f"ingest.{kind}": stage.processor for kind, stage in pipeline.ingest.items()}
    return MemoryReport(steps.steps, {name: array_footprint(part, name) for name, part in parts.items()})


def _feed(pipeline: Any, size: str, seed: int, seconds: float) -> None:
    """The stages' in-memory work on `seconds` of the simulator's `mixed` traffic (as the bench sends it)."""
    from gridmon.bench.workload import Workload
    from gridmon.ingest.messages import RawMessage

    start_ns = time.time_ns() - int(seconds * 1e9) - 3_600_000_000_000
    simulator = Workload(size, seed=seed).simulator(seconds, start_ns, chunk_s=1.0)
    offsets: dict[str, int] = {}
    for batch in simulator.batches():
        by_kind: dict[str, list[RawMessage]] = {}
        for topic, key, value in batch.messages:
            offset = offsets[topic] = offsets.get(topic, -1) + 1
            by_kind.setdefault(topic.removeprefix("grid."), []).append(
                RawMessage(topic, 0, offset, value, key)
            )
        for kind, messages in by_kind.items():
            stage = pipeline.ingest[kind]
            kept = stage.processor.process(messages)
            if stage.detector is not None:
                stage.detector.process(kind, kept)
            if stage.router is not None and pipeline.outages is not None:
                events = stage.router.route(kind, kept)
                pipeline.outages.correlator.process(events)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", default="large")
    parser.add_argument("--data-dir", type=Path, required=True, help="a fresh folder (chdb opens it)")
    parser.add_argument("--trace", action="store_true", help="also count Python allocations (slower)")
    parser.add_argument("--traffic-seconds", type=float, default=0.0, help="then feed simulated traffic")
    args = parser.parse_args()
    settings = load_settings().model_copy(update={"data_dir": args.data_dir})
    report = memory_steps(settings, args.size, trace=args.trace, traffic_s=args.traffic_seconds)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"size": args.size, "peak_rss_mb": round(peak, 1)} | report.summary(), indent=1))


if __name__ == "__main__":
    main()
