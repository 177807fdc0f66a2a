"""Detector benchmark: readings/s through the DetectorBank against a no-detector pass in the same run, cost
per detector, and precision / recall / latency per fault kind on labelled synthetic and real-world-like series.

Run: .venv/bin/python load_tests/bench_detect.py [--pmus 500] [--seconds 20] [--quick]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from gridmon.detect import BankConfig, DetectorBank, DeviceContext
from gridmon.detect.baseline import BaselineDetector
from gridmon.detect.columns import sort_batch
from gridmon.detect.context import DeviceParams
from gridmon.detect.river_baseline import RiverBaseline
from gridmon.records import Anomaly

T0 = 1_700_000_000 * 10**9
NOMINAL_V = 7200.0
Columns = dict[str, Any]


@dataclass(frozen=True)
class Fault:
    kind: str
    device: int  # -1: every device (a system-wide event)
    start_s: float
    end_s: float


def context(devices: int, prefix: str) -> DeviceContext:
    return DeviceContext(
        devices=[f"{prefix}{i}" for i in range(devices)],
        zone=[f"zone{i % max(1, devices // 5)}" for i in range(devices)],
        feeder=[f"feeder{i % 16}" for i in range(devices)],
        nominal_v=np.full(devices, NOMINAL_V),
        rated_current_a=np.full(devices, 400.0),
    )


# ---------------------------------------------------------------------------------------------- PMU stream
def pmu_batches(
    devices: int, seconds: float, fps: int, step_s: float, faults: list[Fault], seed: int
) -> Iterator[Columns]:
    """Noisy PMU frames (AR(1) load wander + white noise) with the faults injected, `step_s` per batch."""
    rng = np.random.default_rng(seed)
    frames = int(round(step_s * fps))
    wander = np.zeros(devices)
    zones = max(1, devices // 5)
    zone_wander = np.zeros(zones)
    for batch_no in range(int(seconds / step_s)):
        offsets = (batch_no * frames + np.arange(frames)) * 10**9 // fps
        ts = np.tile(T0 + offsets, devices)
        dev = np.repeat(np.arange(devices, dtype=np.int32), frames)
        # load swings are shared by a zone (the same feeder load), with a small local part per device
        zone_wander = 0.999 * zone_wander + rng.normal(0, 0.0003, zones)
        wander = 0.99 * wander + rng.normal(0, 0.00003, devices)
        t = (ts - T0) / 1e9
        level = 1.0 + 0.01 * np.sin(2 * np.pi * t / 600.0) + wander[dev] + zone_wander[dev % zones]
        va = NOMINAL_V * (level + rng.normal(0, 0.001, len(ts)))
        columns: Columns = {
            "device_idx": dev, "ts": ts,
            "freq_hz": 60.0 + 0.01 * np.sin(2 * np.pi * t / 97.0) + rng.normal(0, 0.002, len(ts)),
            "rocof_hz_s": rng.normal(0, 0.03, len(ts)),
            "va": va, "vb": va * (1 + rng.normal(0, 0.002, len(ts))), "vc": va * (1 + rng.normal(0, 0.002, len(ts))),
            "va_angle": (dev * 0.3 + rng.normal(0, 0.05, len(ts))) % 360 - 180,
            "sent_ns": ts + rng.integers(5, 60, len(ts)) * 1_000_000,
        }  # fmt: skip
        keep = inject_pmu(columns, t, faults)
        yield {name: values[keep] for name, values in columns.items()}


def inject_pmu(columns: Columns, t: np.ndarray, faults: list[Fault]) -> np.ndarray:
    dev = columns["device_idx"]
    keep = np.ones(len(t), dtype=bool)
    for fault in faults:
        on = (t >= fault.start_s) & (t < fault.end_s) & ((dev == fault.device) | (fault.device < 0))
        if not on.any():
            continue
        into = t[on] - fault.start_s
        if fault.kind in ("sag", "swell"):
            factor = 0.82 if fault.kind == "sag" else 1.09
            for phase in ("va", "vb", "vc"):
                columns[phase][on] *= factor
        elif fault.kind == "frequency_excursion":
            columns["freq_hz"][on] -= np.minimum(0.35, 0.2 * into)
            columns["rocof_hz_s"][on] = np.where(into < 1.75, -0.2, 0.0)
        elif fault.kind == "oscillation":
            columns["freq_hz"][on] += 0.025 * np.sin(2 * np.pi * 0.9 * t[on])
        elif fault.kind == "stuck":
            columns["va"][on] = NOMINAL_V * 1.0013  # a frozen register
        elif fault.kind == "drift":
            for phase in ("va", "vb", "vc"):
                columns[phase][on] *= 1 + 0.0006 * into  # sensor gain error: +3.6 % per minute
        elif fault.kind == "spike":
            columns["va"][on] *= 1.3
        elif fault.kind == "gap":
            keep &= ~on
        elif fault.kind == "angle_jump":
            columns["va_angle"][on] += 20.0
        elif fault.kind == "unbalance":
            columns["vc"][on] *= 0.93
    return keep


def pmu_faults(devices: int, seconds: float, rng: np.random.Generator) -> list[Fault]:
    durations = {"sag": 2.0, "swell": 3.0, "oscillation": 40.0, "stuck": 40.0, "drift": 60.0, "spike": 0.04,
                 "gap": 20.0, "angle_jump": 30.0, "unbalance": 20.0}  # fmt: skip
    faults = [Fault("frequency_excursion", -1, seconds * 0.5, seconds * 0.5 + 6.0)]
    slot = 0
    for _repeat in range(3):
        for kind, duration in durations.items():
            start = 120.0 + (seconds - 240.0) * (slot + 0.5) / (3 * len(durations))
            if abs(start - seconds * 0.5) < 20:  # keep clear of the system-wide event
                start += 40
            faults.append(Fault(kind, int(rng.integers(0, devices)), start, start + duration))
            slot += 1
    return sorted(faults, key=lambda f: f.start_s)


# ------------------------------------------------------------------------------------------- scoring
@dataclass
class Score:
    detected: int = 0
    total: int = 0
    latencies: list[float] | None = None


def evaluate(
    emitted: list[tuple[float, Anomaly]], faults: list[Fault], devices: list[str], tail_s: float = 10.0
):  # type: ignore[no-untyped-def]
    """Match first versions of anomalies to faults (same device, opened during the fault or `tail_s` after)."""
    opened = [(at, a) for at, a in emitted if a.version == 1]
    used: set[str] = set()
    per_kind: dict[str, Score] = {}
    for fault in faults:
        score = per_kind.setdefault(fault.kind, Score(latencies=[]))
        score.total += 1
        hits = [
            (at, a) for at, a in opened
            if (fault.device < 0 or a.device == devices[fault.device])
            and fault.start_s - 1.0 <= (a.start_ns - T0) / 1e9 <= fault.end_s + tail_s
        ]  # fmt: skip
        used |= {a.id for _, a in hits}
        if hits:
            score.detected += 1
            assert score.latencies is not None
            score.latencies.append(max(0.0, min(at for at, _ in hits) - fault.start_s))
    false_positives = [a for _, a in opened if a.id not in used]
    return per_kind, false_positives


def run_labelled(bank: DetectorBank, batches: Iterator[Columns], kind: str) -> list[tuple[float, Anomaly]]:
    emitted: list[tuple[float, Anomaly]] = []
    for columns in batches:
        now = (int(columns["ts"].max()) - T0) / 1e9 if len(columns["ts"]) else 0.0
        emitted += [(now, a) for a in bank.process(kind, columns)]
    return emitted


def print_quality(
    title: str, per_kind: dict[str, Score], false_positives: list[Anomaly], hours: float
) -> None:
    print(f"\n{title}")
    print(f"{'fault kind':<22}{'recall':>10}{'latency p50 s':>15}{'latency p95 s':>15}")
    for kind, score in sorted(per_kind.items()):
        lat = np.array(score.latencies or [np.nan])
        print(
            f"{kind:<22}{score.detected:>5}/{score.total:<4}{_quantile(lat, 50):>15.2f}{_quantile(lat, 95):>15.2f}"
        )
    detected = sum(s.detected for s in per_kind.values())
    total = sum(s.total for s in per_kind.values())
    opened = detected + len(false_positives)
    by_kind: dict[str, int] = {}
    for anomaly in false_positives:
        by_kind[f"{anomaly.detector}/{anomaly.metric}"] = (
            by_kind.get(f"{anomaly.detector}/{anomaly.metric}", 0) + 1
        )
    print(f"recall {detected}/{total}; false positives {len(false_positives)} "
          f"({len(false_positives) / hours:.1f}/simulated hour) {by_kind}; "
          f"event precision ~{detected / max(opened, 1):.2f}")  # fmt: skip


# --------------------------------------------------------------------------------- real-world-like series
def transformer_series(devices: int, hours: float, seed: int) -> tuple[list[Columns], list[Fault]]:
    """Distribution-transformer sensors once a minute: daily load cycle, weather, heavy-tailed noise, and
    labelled incidents (cooling failure, overload, stuck thermometer, loose-neutral voltage, sensor dropout)."""
    rng = np.random.default_rng(seed)
    minutes = int(hours * 60)
    t_s = np.arange(minutes) * 60.0
    faults: list[Fault] = []
    kinds = ["overheating", "overload", "stuck", "voltage_swing", "gap"]
    for index in range(devices):
        kind = kinds[index % len(kinds)]
        start = float(rng.uniform(0.3, 0.8) * hours * 3600)
        faults.append(
            Fault(kind, index, start, start + 3 * 3600 if kind != "voltage_swing" else start + 1800)
        )
    rows = []
    for index in range(devices):
        phase = rng.uniform(0, 2 * np.pi)
        load = (
            0.5
            + 0.25 * np.sin(2 * np.pi * t_s / 86400 + phase)
            + 0.05 * np.cumsum(rng.standard_t(4, minutes)) / np.sqrt(minutes)
        )
        ambient = 15 + 8 * np.sin(2 * np.pi * (t_s - 5 * 3600) / 86400)
        temperature = ambient + 45 * load**2 + rng.standard_t(3, minutes) * 0.4
        current = 400 * load + rng.standard_t(3, minutes) * 4
        voltage = 240 * (1.0 - 0.02 * load + rng.normal(0, 0.002, minutes))
        for fault in faults:
            if fault.device != index:
                continue
            on = (t_s >= fault.start_s) & (t_s < fault.end_s)
            into = (t_s[on] - fault.start_s) / 3600
            if fault.kind == "overheating":
                temperature[on] += np.minimum(50 * into, 55)  # cooling fan failure
            elif fault.kind == "overload":
                current[on] *= 1.5
                temperature[on] += 25 * np.minimum(into, 1)
            elif fault.kind == "stuck":
                temperature[on] = temperature[on][0]
            elif fault.kind == "voltage_swing":
                voltage[on] *= 1 + 0.08 * np.sign(np.sin(2 * np.pi * t_s[on] / 600))
        ts = T0 + (t_s * 1e9).astype(np.int64)
        keep = np.ones(minutes, dtype=bool)
        for fault in faults:
            if fault.device == index and fault.kind == "gap":
                keep &= ~((t_s >= fault.start_s) & (t_s < fault.end_s))
        rows.append((index, ts[keep], temperature[keep], current[keep], voltage[keep]))
    batches = []
    for minute in range(minutes):  # one batch per minute across the fleet
        stamp = T0 + minute * 60 * 10**9
        parts = [(i, ts, te, cu, vo) for i, ts, te, cu, vo in rows]
        picked = [(i, np.flatnonzero(ts == stamp)) for i, ts, *_ in parts]
        dev = np.array([i for i, p in picked if len(p)], dtype=np.int32)
        columns: Columns = {"device_idx": dev, "ts": np.full(len(dev), stamp, dtype=np.int64)}
        for name, position in (("temperature_c", 2), ("current_a", 3), ("voltage_v", 4)):
            columns[name] = np.array([parts[i][position][p[0]] for i, p in picked if len(p)])
        columns["thd_pct"] = np.full(len(dev), np.nan)
        batches.append(columns)
    return batches, faults


# ------------------------------------------------------------------------------------------- throughput
def throughput(pmus: int, seconds: int) -> None:
    batches = list(pmu_batches(pmus, seconds, 30, 1.0, [], seed=7))
    readings = sum(len(b["ts"]) for b in batches)
    started = time.perf_counter()
    for columns in batches:  # the no-detector baseline: what the worker does with a batch anyway
        sort_batch(columns["device_idx"], columns["ts"], columns)
    plain_s = time.perf_counter() - started
    bank = DetectorBank(BankConfig(), context(pmus, "pmu"))
    started = time.perf_counter()
    for columns in batches:
        bank.process("pmu", columns)
    bank_s = time.perf_counter() - started
    print(f"\nThroughput, {pmus} PMUs × 30 frames/s × {seconds} s = {readings:,} readings in 1 s batches")
    print(f"{'no detectors (sort only)':<28}{readings / plain_s:>14,.0f} readings/s")
    print(
        f"{'DetectorBank (all)':<28}{readings / bank_s:>14,.0f} readings/s   ({bank_s / plain_s:.1f}× the baseline cost)"
    )
    for name, cost in sorted(bank.cost_s.items()):
        print(f"  {name:<26}{cost / readings * 1e6:>10.2f} µs/reading")


def river_comparison(quick: bool) -> None:
    """Vectorised EWMA z-score vs River scorers on the transformer series: recall/FP and µs per sample."""
    from river import anomaly, compose, preprocessing

    batches, faults = transformer_series(10 if quick else 20, 24.0, seed=11)
    devices = 10 if quick else 20
    names = [f"tx{i}" for i in range(devices)]
    candidates: dict[str, Callable[[], Any]] = {
        "river SAD (|x-mean|/sd)": anomaly.StandardAbsoluteDeviation,
        "river GaussianScorer": lambda: anomaly.GaussianScorer(window_size=1440, grace_period=60),
        "river HST on MinMax [0,1]": lambda: compose.Pipeline(
            preprocessing.MinMaxScaler(),
            anomaly.HalfSpaceTrees(n_trees=10, height=6, window_size=120, seed=1),
        ),
    }
    thresholds = {
        "river SAD (|x-mean|/sd)": 6.0,
        "river GaussianScorer": 0.999,
        "river HST on MinMax [0,1]": 0.9,
    }
    print(
        f"\nBaselines on the transformer series ({devices} devices, 24 h at 1/min), temperature/current/voltage:"
    )
    print(f"{'scorer':<30}{'recall':>8}{'FP/h':>8}{'µs/sample':>11}{'scores == max':>15}")
    ctx = context(devices, "tx")
    params = DeviceParams(ctx, BankConfig())
    rows = [("gridmon EWMA z (numpy)", lambda: BaselineDetector(params))]
    rows += [(name, lambda factory=factory, name=name: RiverBaseline(factory, devices, thresholds[name])) for name, factory in candidates.items()]  # fmt: skip
    for name, make in rows:
        detector = make()
        from gridmon.detect.lifecycle import AnomalyLifecycle, DeviceLabels

        lifecycle = AnomalyLifecycle(DeviceLabels(names, list(ctx.zone), list(ctx.feeder)))
        emitted: list[tuple[float, Anomaly]] = []
        scores: list[np.ndarray] = []
        samples = 0
        started = time.perf_counter()
        for columns in batches:
            batch = sort_batch(columns["device_idx"], columns["ts"], columns)
            now = (int(columns["ts"].max()) - T0) / 1e9
            for spec, signal in detector.signals("sensor", batch):
                samples += len(signal.score)
                scores.append(signal.score)
                emitted += [(now, a) for a in lifecycle.apply(spec, signal)]
        elapsed = time.perf_counter() - started
        per_kind, false_positives = evaluate(
            emitted, [f for f in faults if f.kind != "gap"], names, tail_s=600
        )
        detected = sum(s.detected for s in per_kind.values())
        total = sum(s.total for s in per_kind.values())
        allscores = np.concatenate(scores)
        saturated = float(np.mean(allscores >= allscores.max())) if allscores.size else 0.0
        print(
            f"{name:<30}{detected:>4}/{total:<3}{len(false_positives) / 24:>8.2f}{elapsed / samples * 1e6:>11.2f}{saturated:>15.4f}"
        )


def transformer_bank(devices: int) -> DetectorBank:
    ctx = context(devices, "tx")
    ctx.nominal_v[:] = 240.0
    return DetectorBank(BankConfig(), ctx)


def feedback_effect(batches: list[Columns], faults: list[Fault], names: list[str]) -> None:
    """Day 1: an operator labels every false alarm. Day 2 repeats day 1's conditions (the same load cycle
    and quirks, 24 h later): how many of those false alarms come back, and are the real faults still found?"""
    half = len(batches) // 2
    shift_s = half * 60.0
    day2 = [{**columns, "ts": columns["ts"] + int(shift_s * 1e9)} for columns in batches[:half]]
    replayed = [
        Fault(f.kind, f.device, f.start_s + shift_s, f.end_s + shift_s) for f in faults if f.start_s < shift_s
    ]
    print("\nFeedback: every day-1 false alarm labelled `false_alarm`; day 2 repeats day 1's conditions")
    for labelled in (False, True):
        bank = transformer_bank(len(names))
        _, false_positives = evaluate(
            run_labelled(bank, iter(batches[:half]), "sensor"), faults, names, tail_s=600
        )
        if labelled:
            for anomaly in false_positives:
                bank.label(anomaly.id, "false_alarm")
        per_kind, again = evaluate(run_labelled(bank, iter(day2), "sensor"), replayed, names, tail_s=600)
        hit, total = sum(s.detected for s in per_kind.values()), sum(s.total for s in per_kind.values())
        print(f"  {'with labels' if labelled else 'no labels  '}: day-1 false alarms {len(false_positives)}, "
              f"day-2 false alarms {len(again)}, day-2 recall {hit}/{total}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pmus", type=int, default=500)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="smaller labelled runs")
    args = parser.parse_args()
    throughput(args.pmus, args.seconds)

    devices, seconds = (20, 900.0) if args.quick else (40, 1800.0)
    faults = pmu_faults(devices, seconds, np.random.default_rng(3))
    bank = DetectorBank(BankConfig(), context(devices, "pmu"))
    emitted = run_labelled(bank, pmu_batches(devices, seconds, 30, 0.2, faults, seed=5), "pmu")
    per_kind, false_positives = evaluate(emitted, faults, [f"pmu{i}" for i in range(devices)])
    print_quality(f"PMU fleet: {devices} PMUs × 30 frames/s, {seconds / 60:.0f} min, 0.2 s batches",
                  per_kind, false_positives, seconds / 3600)  # fmt: skip

    batches, tx_faults = transformer_series(20, 48.0, seed=4)
    names = [f"tx{i}" for i in range(20)]
    emitted = run_labelled(transformer_bank(20), iter(batches), "sensor")
    per_kind, false_positives = evaluate(emitted, tx_faults, names, tail_s=600)
    print_quality(
        "Transformer sensors (real-world-like): 20 devices, 48 h at 1/min", per_kind, false_positives, 48
    )
    feedback_effect(batches, tx_faults, names)
    river_comparison(args.quick)


def _quantile(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values, q)) if np.isfinite(values).all() else float("nan")


if __name__ == "__main__":
    main()
