"""Score detections (anomalies and outages) against the simulator's ground truth.

A fault counts as detected when a detection on the same device, or on a device on the same upstream path,
overlaps the fault's time span (with a tolerance); latency is the detection's start minus the fault's start,
in event time. Detections that match no fault are false positives.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

Related = Callable[[str, str], bool]


@dataclass(frozen=True)
class Span:
    """A fault or a detection: who, when (ns, end None = still open)."""

    id: str
    device: str
    start_ns: int
    end_ns: int | None
    kind: str = ""


@dataclass(frozen=True)
class Score:
    faults: int
    detected: int
    missed: int
    false_positives: int
    detection_latency_s: dict[str, float | None]
    missed_ids: list[str] = field(default_factory=list)
    false_positive_ids: list[str] = field(default_factory=list)

    def as_report(self) -> dict[str, object]:
        return {
            "faults": self.faults,
            "detected": self.detected,
            "missed": self.missed,
            "false_positives": self.false_positives,
            "detection_latency_s": self.detection_latency_s,
        }


def overlaps(truth: Span, detection: Span, tolerance_ns: int) -> bool:
    truth_end = truth.end_ns if truth.end_ns is not None else 2**62
    detection_end = detection.end_ns if detection.end_ns is not None else 2**62
    return detection.start_ns <= truth_end + tolerance_ns and detection_end >= truth.start_ns - tolerance_ns


def score(
    truths: Sequence[Span], detections: Sequence[Span], related: Related, tolerance_s: float = 30.0
) -> Score:
    tolerance_ns = int(tolerance_s * 1e9)
    matched_detections: set[str] = set()
    latencies: list[float] = []
    missed: list[str] = []
    for truth in truths:
        hits = [d for d in detections if related(truth.device, d.device) and overlaps(truth, d, tolerance_ns)]
        if not hits:
            missed.append(truth.id)
            continue
        matched_detections.update(d.id for d in hits)
        first = min(d.start_ns for d in hits)
        latencies.append(max(0.0, (first - truth.start_ns) / 1e9))
    false_positives = [d.id for d in detections if d.id not in matched_detections]
    return Score(
        faults=len(truths),
        detected=len(truths) - len(missed),
        missed=len(missed),
        false_positives=len(false_positives),
        detection_latency_s=_percentiles(latencies),
        missed_ids=missed,
        false_positive_ids=false_positives,
    )


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None}
    array = np.asarray(values)
    return {
        "p50": round(float(np.percentile(array, 50)), 3),
        "p95": round(float(np.percentile(array, 95)), 3),
    }
