"""Detectors on the simulator's labelled faults: the simulator's traffic through the real ingest, detector bank,
outage router and correlator (in process, no Kafka), scored per fault kind against the ground truth.

Run: .venv/bin/python load_tests/bench_detect_sim.py [--size medium] [--seeds 1 2] [--duration 900]

Method (docs/detect.md): per 1 s chunk of event time, the messages the simulator delivers go through
`IngestProcessor` per kind, then `DetectorBank.process` and `FeederRouter.route`; the outage events then go
to `OutageCorrelator.process`, as `assemble_components` wires them (`bank.outage_of` is the correlator's
active-outage lookup, so anomalies inside a located outage are suppressed, as in the real pipeline). A fault
counts as detected when a raised anomaly (newest version not `suppressed`) on a related device overlaps its
span (30 s tolerance, as `gridmon demo` scores; a device with a simulated wrong clock is matched in true
time), or when its only such anomaly was suppressed as a child of an outage (the outage caused it: a sensor
silent because its feeder is out; printed apart); an anomaly matching no fault is a false positive.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np

from gridmon.demo.scoring import Span, overlaps
from gridmon.grid import GridModel
from gridmon.grid.generate import generate
from gridmon.grid.model import DeviceKind
from gridmon.ingest import IngestProcessor, RawMessage
from gridmon.pipeline.assembly import assemble_components
from gridmon.records import Anomaly, Outage
from gridmon.settings import load_settings
from gridmon.simulate import Simulator
from gridmon.simulate.scenario import OUTAGE_KINDS, GroundTruth

KINDS = ("pmu", "sensor", "meter", "scada")
TOLERANCE_NS = 30 * 10**9
# a stuck value, a drift or a gap exists only after some time has passed: their latency is their definition
DURATION_KINDS = frozenset({"sensor_stuck", "sensor_drift", "data_gap"})
# faults of one measuring device: only an anomaly on that device counts (an upstream PMU does not see a drift)
OWN_DEVICE_KINDS = frozenset(
    {"sensor_stuck", "sensor_flatline", "sensor_drift", "sensor_spike", "sensor_overheating", "data_gap",
     "meter_tamper"}
)  # fmt: skip


@dataclass
class Run:
    """What one simulated run produced: newest version of every anomaly and outage, and the truth."""

    seed: int
    hours: float
    truths: list[GroundTruth]
    anomalies: dict[str, Anomaly] = field(default_factory=dict)
    outages: dict[str, Outage] = field(default_factory=dict)
    readings: Counter[str] = field(default_factory=Counter)
    skewed: dict[str, int] = field(
        default_factory=dict
    )  # devices whose clock the simulator set off → skew ns
    targets: dict[str, frozenset[str]] = field(default_factory=dict)  # fault id → devices that show it
    first_seen: dict[str, int] = field(default_factory=dict)  # record id → simulated clock when first emitted
    wall_s: float = 0.0

    def raised(self) -> list[Anomaly]:
        return [a for a in self.anomalies.values() if a.state != "suppressed"]

    def children_of_outages(self) -> list[Anomaly]:
        """Anomalies suppressed as children of an outage: detected, and shown under the outage (issue 6)."""
        return [a for a in self.anomalies.values() if a.state == "suppressed" and a.parent_outage]


class Relation:
    """Which devices can show a fault: its own device, or (grid events) any device on the same path to the
    source, a PMU or sensor being placed where it measures (its location)."""

    def __init__(self, model: GridModel) -> None:
        self.model = model
        self._upstream: dict[str, set[str]] = {}
        self.targets: dict[str, frozenset[str]] = {}  # the PMUs or sensors the simulator made show a fault

    def where(self, device: str) -> str:
        if device not in self.model:
            return device
        if self.model.kind_of(device) in (DeviceKind.PMU, DeviceKind.SENSOR):
            return self.model.location_of(device)
        return device

    def path(self, device: str) -> set[str]:
        if device not in self._upstream:
            self._upstream[device] = set(self.model.upstream(device)) if device in self.model else set()
        return self._upstream[device]

    def __call__(self, truth: GroundTruth, device: str) -> bool:
        if device == truth.device or device in self.targets.get(truth.id, ()):
            return True
        if truth.kind in OWN_DEVICE_KINDS:
            return False
        here, there = self.where(device), self.where(truth.device)
        return here == there or there in self.path(here) or here in self.path(there)


def simulate(model: GridModel, seed: int, duration_s: float, scenario: str) -> Run:
    settings = load_settings()
    components = assemble_components(model)
    bank, router, correlator = components.detector, components.router, components.correlator
    assert bank is not None and router is not None and correlator is not None
    processors = {kind: IngestProcessor(kind, settings, model) for kind in KINDS}
    simulator = Simulator(model, scenario, seed=seed, duration_s=duration_s, sent_clock="simulated")
    run = Run(seed, duration_s / 3600.0, simulator.truths)
    run.targets = {fault.truth.id: frozenset(fault.targets) for fault in simulator.faults}
    run.skewed = {str(d): skew for d in model.ids.tolist() if (skew := _skew(simulator, str(d)))}
    offsets: Counter[str] = Counter()
    started = time.perf_counter()
    for batch in simulator.batches():
        by_kind: dict[str, list[RawMessage]] = defaultdict(list)
        for topic, key, value in batch.messages:
            kind = topic.rpartition(".")[2]
            by_kind[kind].append(RawMessage(topic, 0, offsets[kind], value, key))
            offsets[kind] += 1
        events = []
        for kind, messages in by_kind.items():
            ingested = processors[kind].process(messages, now_ns=batch.until_ns)
            run.readings[kind] += ingested.accepted
            _keep(run.anomalies, bank.process(kind, ingested), run.first_seen, batch.until_ns)
            events += router.route(kind, ingested)
        events.sort(key=lambda event: event.ts)
        _keep(run.outages, correlator.process(events), run.first_seen, batch.until_ns)
        _keep(run.anomalies, correlator.at_risk(), run.first_seen, batch.until_ns)
    _keep(run.outages, correlator.flush(simulator.end_ns + 600 * 10**9))
    run.wall_s = time.perf_counter() - started
    return run


def _skew(simulator: Simulator, device: str) -> int:
    try:
        return simulator.clock_skew_ns(device)
    except (KeyError, IndexError):
        return 0


def _keep(
    store: dict[str, Any], records: Sequence[Any], first_seen: dict[str, int] | None = None, clock_ns: int = 0
) -> None:
    for record in records:
        if first_seen is not None:
            first_seen.setdefault(record.id, clock_ns)
        current = store.get(record.id)
        if current is None or record.version >= current.version:
            store[record.id] = record


@dataclass
class KindScore:
    faults: int = 0
    detected: int = 0  # by anomalies or outages
    by_detectors: int = 0  # by anomalies alone
    latencies_s: list[float] = field(default_factory=list)  # first matching anomaly (or outage) − start
    raised_s: list[float] = field(default_factory=list)  # simulated clock when first emitted − start
    matched: set[str] = field(default_factory=set)  # detection ids matching a fault of this kind
    channels: set[tuple[str, str]] = field(default_factory=set)
    missed: list[str] = field(default_factory=list)
    # found only as children of the outage that caused them
    as_children: list[str] = field(default_factory=list)


def true_time(anomaly: Anomaly, run: Run) -> Anomaly:
    """The anomaly on the simulator's true clock: a device with a wrong clock stamps what it sees (a swell,
    a sag) off by its skew; the detectors see the event right and flag the clock apart (clock_skew), so its
    anomalies are matched to faults after removing the skew the simulator gave it."""
    skew = run.skewed.get(anomaly.device, 0)
    if not skew:
        return anomaly
    end = None if anomaly.end_ns is None else anomaly.end_ns - skew
    return msgspec.structs.replace(anomaly, start_ns=anomaly.start_ns - skew, end_ns=end)


def score(run: Run, relation: Relation) -> tuple[dict[str, KindScore], list[Anomaly]]:
    raised = [true_time(a, run) for a in run.raised()]
    children = [true_time(a, run) for a in run.children_of_outages()]
    outages = [Span(o.id, o.device, o.start_ns, o.end_ns, "outage") for o in run.outages.values()]
    kinds: dict[str, KindScore] = defaultdict(KindScore)
    all_matched: set[str] = set()
    for truth in run.truths:
        entry = kinds[truth.kind]
        entry.faults += 1
        span = Span(truth.id, truth.device, truth.start_ns, truth.end_ns)
        hits = [a for a in raised if anomaly_matches(truth, a, span, relation)]
        if not hits and truth.kind not in OUTAGE_KINDS:  # e.g. a sensor silent because its feeder is out
            hits = [a for a in children if anomaly_matches(truth, a, span, relation)]
            if hits:
                entry.as_children.append(f"{truth.id}→{hits[0].parent_outage}")
        outage_hits = [o for o in outages if relation(truth, o.device) and overlaps(span, o, TOLERANCE_NS)]
        entry.matched |= {a.id for a in hits}
        entry.channels |= {(a.detector, a.metric) for a in hits}
        all_matched |= {a.id for a in hits}
        starts = [a.start_ns for a in hits] + [o.start_ns for o in outage_hits]
        if not starts:
            entry.missed.append(truth.id)
            continue
        entry.detected += 1
        entry.by_detectors += bool(hits)
        entry.latencies_s.append(max(0.0, (min(starts) - truth.start_ns) / 1e9))
        emitted = [run.first_seen[d.id] for d in [*hits, *outage_hits] if d.id in run.first_seen]
        if emitted:
            entry.raised_s.append(max(0.0, (min(emitted) - truth.start_ns) / 1e9))
    false_positives = [a for a in raised if a.id not in all_matched]
    return kinds, false_positives


def anomaly_matches(truth: GroundTruth, anomaly: Anomaly, span: Span, relation: Relation) -> bool:
    """Outages belong to the correlator: an anomaly explains one only as what a device upstream of the open
    device sees when it opens or closes (load lost or picked up); inside the dark area it should have been
    suppressed. Other faults: a related device, overlapping the fault's span."""
    if truth.kind not in OUTAGE_KINDS:
        return relation(truth, anomaly.device) and overlaps(span, _span(anomaly), TOLERANCE_NS)
    upstream = relation.where(anomaly.device) in relation.path(truth.device)
    switching = min(abs(anomaly.start_ns - truth.start_ns), abs(anomaly.start_ns - truth.end_ns))
    return upstream and switching <= TOLERANCE_NS


def _span(anomaly: Anomaly) -> Span:
    return Span(anomaly.id, anomaly.device, anomaly.start_ns, anomaly.end_ns)


def explained_by_realities(anomaly: Anomaly, run: Run) -> bool:
    """A clock-skew anomaly on a device the simulator gave a wrong clock is right, though not a labelled fault."""
    return anomaly.metric == "clock_skew" and anomaly.device in run.skewed


def _p(values: Sequence[float], q: float) -> str:
    return f"{np.percentile(values, q):6.2f}" if values else "     -"


def report(runs: list[Run], model: GridModel) -> None:
    relation = Relation(model)
    merged: dict[str, KindScore] = defaultdict(KindScore)
    false_positives: list[Anomaly] = []
    explained = 0
    hours = sum(run.hours for run in runs)
    for run in runs:
        relation.targets = run.targets
        kinds, fps = score(run, relation)
        for kind, entry in kinds.items():
            total = merged[kind]
            total.faults += entry.faults
            total.detected += entry.detected
            total.by_detectors += entry.by_detectors
            total.latencies_s += entry.latencies_s
            total.raised_s += entry.raised_s
            total.matched |= entry.matched
            total.channels |= entry.channels
            total.missed += [f"s{run.seed}:{m}" for m in entry.missed]
            total.as_children += [f"s{run.seed}:{c}" for c in entry.as_children]
        explained += sum(explained_by_realities(a, run) for a in fps)
        false_positives += [a for a in fps if not explained_by_realities(a, run)]
    fp_channels = Counter((a.detector, a.metric) for a in false_positives)
    print(f"\n{'fault kind':<20} {'faults':>6} {'found':>6} {'by det':>6} {'recall':>7} {'prec':>6} "
          f"{'start p50':>9} {'p95':>6} {'raised p50':>10} {'p95':>6}  missed")  # fmt: skip
    detector_latencies: list[float] = []
    detector_raised: list[float] = []
    for kind in sorted(merged, key=lambda k: (k in OUTAGE_KINDS, k)):
        entry = merged[kind]
        unmatched = sum(fp_channels[c] for c in entry.channels)
        precision = len(entry.matched) / (len(entry.matched) + unmatched) if entry.matched else float("nan")
        if kind not in OUTAGE_KINDS:
            detector_latencies += entry.latencies_s
            detector_raised += entry.raised_s
        print(f"{kind:<20} {entry.faults:>6} {entry.detected:>6} {entry.by_detectors:>6} "
              f"{entry.detected / entry.faults:>7.2f} {precision:>6.2f} {_p(entry.latencies_s, 50):>9} "
              f"{_p(entry.latencies_s, 95):>6} {_p(entry.raised_s, 50):>10} {_p(entry.raised_s, 95):>6}  "
              f"{' '.join(entry.missed[:4])}")  # fmt: skip
    faults = sum(e.faults for e in merged.values())
    detected = sum(e.detected for e in merged.values())
    children = [c for e in merged.values() for c in e.as_children]
    if children:
        print(f"\nfound only as children of the outage that caused them (suppressed, shown under it): "
              f"{' '.join(children)}")  # fmt: skip
    raised = sum(len(run.raised()) for run in runs)
    # the correlator's at-risk warnings are the outage engineer's: printed apart, not the detectors' false alarms
    at_risk = [a for a in false_positives if a.detector == "at_risk"]
    false_positives = [a for a in false_positives if a.detector != "at_risk"]
    per_hour = len(false_positives) / hours
    print(f"\nraised anomalies {raised}, detectors' false positives {len(false_positives)} ({per_hour:.1f} per "
          f"simulated hour; {explained} more are clock-skew anomalies on devices with a skewed clock, not "
          f"counted); the correlator's at-risk warnings matching no fault: {len(at_risk)} "
          f"({len(at_risk) / hours:.1f} per hour)")  # fmt: skip
    for (detector, metric), count in fp_channels.most_common(12):
        print(f"  FP {count:>4}  {detector}.{metric}")
    p95 = float(np.percentile(detector_latencies, 95)) if detector_latencies else float("nan")
    raised_p95 = float(np.percentile(detector_raised, 95)) if detector_raised else float("nan")
    prompt = [x for k, e in merged.items() if k not in OUTAGE_KINDS | DURATION_KINDS for x in e.latencies_s]
    prompt_p95 = float(np.percentile(prompt, 95)) if prompt else float("nan")
    print("\ntargets (issue 6):")
    print(
        f"  all faults detected ............ {detected}/{faults}  {'OK' if detected == faults else 'NOT MET'}"
    )
    print(f"  ≤ 5 false positives / sim. hour  {per_hour:.1f}  {'OK' if per_hour <= 5 else 'NOT MET'}")
    print(f"  p95 latency < 2 s (detector kinds, event time)  {p95:.2f} s  {'OK' if p95 < 2 else 'NOT MET'}")
    print(
        f"    raised by the simulated clock (includes delivery: sensors send 1.1 s after sampling, 1 s "
        f"batches)  {raised_p95:.2f} s  {'OK' if raised_p95 < 2 else 'NOT MET'}"
    )
    print(f"    without stuck/drift/gap (defined by a duration)  {prompt_p95:.2f} s  "
          f"{'OK' if prompt_p95 < 2 else 'NOT MET'}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", default="medium", choices=("small", "medium", "large"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--duration", type=float, default=900.0, help="simulated seconds per run")
    parser.add_argument("--scenario", default="mixed", help="mixed has every fault kind of the simulator")
    args = parser.parse_args()
    runs = []
    model = generate(args.size, seed=1)  # one grid; the seeds vary the faults and the traffic
    for seed in args.seeds:
        run = simulate(model, seed, args.duration, args.scenario)
        runs.append(run)
        print(f"seed {seed}: {len(model):,} devices, {sum(run.readings.values()):,} readings {dict(run.readings)} "
              f"in {run.wall_s:.0f} s wall; {len(run.truths)} faults")  # fmt: skip
        report([run], model)
    if len(runs) > 1:
        print(f"\n=== all {len(runs)} runs ===")
        report(runs, model)


if __name__ == "__main__":
    main()
