"""Real labelled series through the real `DetectorBank` (as a sensor channel, unit-free detectors only), scored
event-wise, beside two simple baselines measured in the same run. Method and results: docs/detect.md.

Run: .venv/bin/python load_tests/bench_detect_real.py [--json out.json] [--tolerance-samples 10]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gridmon.detect.config import BankConfig, BaselineConfig, ClassConfig  # noqa: E402
from gridmon.detect.series import (  # noqa: E402
    EventScore,
    Series,
    flag_events,
    score_events,
    score_series,
)
from load_tests.realdata import CACHE, RealSeries, all_series  # noqa: E402

ROLLING_WINDOW = 256  # samples of trailing history (no look-ahead); fixed, not fitted to any series
ROLLING_Z = 4.0
Flagger = Callable[[np.ndarray], np.ndarray]


def rolling_z_flags(
    values: np.ndarray, window: int = ROLLING_WINDOW, threshold: float = ROLLING_Z
) -> np.ndarray:
    """Per sample: |x - mean| / sd of the `window` samples before it, above `threshold` (per channel, any)."""
    x = np.nan_to_num(values, nan=0.0)
    pad = np.vstack([np.zeros((1, x.shape[1])), x])
    s1, s2 = np.cumsum(pad, axis=0), np.cumsum(pad**2, axis=0)
    n = len(x)
    end = np.arange(n)
    start = np.maximum(end - window, 0)
    count = (end - start)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (s1[end] - s1[start]) / count
        var = (s2[end] - s2[start]) / count - mean**2
        z = np.abs(x - mean) / np.sqrt(np.maximum(var, 1e-12))
    z[: min(window // 4, n)] = 0.0  # warm-up: a quarter window of history first
    return np.asarray((np.nan_to_num(z) > threshold).any(axis=1))


def diff_flags(values: np.ndarray) -> np.ndarray:
    """The same rolling z on the first difference (what changed since the previous sample)."""
    steps = np.vstack([np.zeros((1, values.shape[1])), np.diff(values, axis=0)])
    return rolling_z_flags(steps)


def differenced(series: Series) -> Series:
    steps = np.vstack([np.zeros((1, series.values.shape[1])), np.diff(series.values, axis=0)])
    return Series(series.name + ".diff", series.ts_ns, steps, series.labels, series.channels)


def run(real: RealSeries, tolerance: int) -> list[dict[str, object]]:
    series = real.series
    labels = series.labels if series.labels is not None else np.zeros(len(series), bool)
    rows: list[dict[str, object]] = []

    def add(method: str, score: EventScore, seconds: float, detail: str = "") -> None:
        rows.append({"series": series.name, "real": real.real, "method": method, "seconds": round(seconds, 3),
                     "detail": detail, **score.as_dict()})  # fmt: skip

    gaussian = BankConfig(default=ClassConfig(baseline=BaselineConfig(step_learn_tail=False)))
    for method, target, config in (
        ("gridmon bank", series, None),
        ("bank, Gaussian step z", series, gaussian),
        ("bank on Δvalue", differenced(series), None),
    ):
        started = time.perf_counter()
        result = score_series(target, config)
        elapsed = time.perf_counter() - started
        kinds: dict[str, int] = {}
        for anomaly in result.anomalies:
            key = f"{anomaly.detector}/{anomaly.metric}"
            kinds[key] = kinds.get(key, 0) + 1
        detail = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
        add(method, score_events(series.ts_ns, labels, result.events(), tolerance), elapsed, detail)
    for method, flagger in (
        ("rolling z (256, 4σ)", rolling_z_flags),
        ("rolling z of Δ (256, 4σ)", diff_flags),
    ):
        started = time.perf_counter()
        events = flag_events(series.ts_ns, flagger(series.values), tolerance)
        add(method, score_events(series.ts_ns, labels, events, tolerance), time.perf_counter() - started)
    return rows


def _fmt(value: object, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def print_table(rows: list[dict[str, object]]) -> None:
    head = f"{'series':<28} {'real':<5} {'method':<27} {'samples':>7} {'win':>3} {'found':>5} {'raised':>6} " \
           f"{'FP':>4} {'prec':>5} {'rec':>5} {'F1':>5} {'FP/1k':>6} {'flag%':>6} {'pprec':>5} {'latency s':>10}"  # fmt: skip
    print(head)
    print("-" * len(head))
    for row in rows:
        latency = row["latency_start_s"]
        shown = ", ".join(f"{x:.2f}" for x in latency) if isinstance(latency, list) else ""
        flagged = row["flagged_share"]
        print(f"{row['series']:<28} {'yes' if row['real'] else 'no?':<5} {row['method']:<27} "
              f"{row['samples']:>7} {row['windows']:>3} {row['found']:>5} {row['raised']:>6} "
              f"{row['false_positives']:>4} {_fmt(row['precision']):>5} {_fmt(row['recall']):>5} "
              f"{_fmt(row['f1']):>5} {_fmt(row['fp_per_1000_samples']):>6} "
              f"{100 * float(flagged) if isinstance(flagged, float) else 0:>6.1f} "
              f"{_fmt(row['point_precision']):>5} {shown[:10]:>10}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", type=Path, help="also write the rows as JSON to this file")
    parser.add_argument("--tolerance-samples", type=int, default=10)
    parser.add_argument("--cache", type=Path, default=CACHE)
    args = parser.parse_args()
    rows: list[dict[str, object]] = []
    for real in all_series(args.cache):
        print(f"# {real.series.name}: {len(real.series)} samples × {len(real.series.channels)} channel(s), "
              f"{real.series.interval_s:g} s apart; {real.origin}. {real.note}")  # fmt: skip
        rows += run(real, args.tolerance_samples)
    print()
    print_table(rows)
    print()
    print(json.dumps(rows, indent=None))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
