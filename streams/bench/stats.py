"""Figures from worker snapshots: throughput over the window where every worker was busy, latency percentiles,
memory and lag trends."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gridmon.bench.worker import Snapshot


@dataclass(frozen=True)
class Throughput:
    messages_per_s: float
    readings_per_s: float
    window_s: float


def busy_window(series: Sequence[Sequence[Snapshot]]) -> tuple[float, float]:
    """From the moment the last worker started on its first batch to the moment the first one ran out of work
    (its counter stopped moving): a run where every worker had a backlog the whole time. The start is when
    the batch reached the stages, not when it was done: a batch may hold many seconds of backlog."""
    starts, ends = [], []
    for snapshots in series:
        moving = [
            s for previous, s in zip(snapshots, snapshots[1:], strict=False) if s.messages > previous.messages
        ]
        busy = [s for s in snapshots if s.messages > 0]
        if not busy or not moving:
            raise RuntimeError(f"worker {snapshots[0].worker if snapshots else '?'} processed nothing")
        started = [s.started_t for s in snapshots if s.started_t is not None]
        starts.append(started[0] if started else busy[0].t)
        ends.append(moving[-1].t)
    return max(starts), min(ends)


def throughput(series: Sequence[Sequence[Snapshot]]) -> Throughput:
    start, end = busy_window(series)
    if end <= start:
        raise RuntimeError("no window where every worker was busy: give the benchmark more backlog")
    messages = sum(_at(s, end).messages - _at(s, start).messages for s in series)
    readings = sum(_at(s, end).readings - _at(s, start).readings for s in series)
    return Throughput(messages / (end - start), readings / (end - start), end - start)


def _at(snapshots: Sequence[Snapshot], t: float) -> Snapshot:
    """The last snapshot taken at or before `t` (counters are cumulative)."""
    chosen = snapshots[0]
    for snapshot in snapshots:
        if snapshot.t > t:
            break
        chosen = snapshot
    return chosen


def percentiles(histogram: dict[int, int], points: Sequence[float] = (50, 95, 99)) -> dict[str, float]:
    """Percentiles (ms) of a histogram of whole milliseconds."""
    if not histogram:
        return {f"p{p:g}": float("nan") for p in points}
    ms = np.array(sorted(histogram), dtype=np.float64)
    counts = np.array([histogram[int(m)] for m in ms], dtype=np.float64)
    cumulative = np.cumsum(counts) / counts.sum()
    return {f"p{p:g}": float(ms[np.searchsorted(cumulative, p / 100.0)]) for p in points}


def merge_histograms(histograms: Sequence[dict[int, int]]) -> dict[int, int]:
    merged: dict[int, int] = {}
    for histogram in histograms:
        for ms, count in histogram.items():
            merged[ms] = merged.get(ms, 0) + count
    return merged


def slope_per_minute(t: Sequence[float], values: Sequence[float]) -> float:
    """Least-squares trend of `values` per minute (flat memory or lag ≈ 0)."""
    if len(t) < 3:
        return 0.0
    return float(np.polyfit(np.asarray(t) - t[0], np.asarray(values), 1)[0] * 60.0)
