"""Scoring detections against ground truth: hits, misses, false positives and latency by hand."""

from __future__ import annotations

from gridmon.demo.scoring import Span, score

S = 1_000_000_000
PATHS = {"m1": ["t1", "f1", "b1"], "t1": ["f1", "b1"], "f1": ["b1"], "m9": ["t9", "b1"]}


def related(a: str, b: str) -> bool:
    return a == b or a in PATHS.get(b, []) or b in PATHS.get(a, [])


def test_hits_misses_false_positives_and_latency() -> None:
    truths = [
        Span("g1", "f1", 100 * S, 700 * S),  # detected on the fuse itself after 4 s
        Span("g2", "m1", 1000 * S, 1100 * S),  # detected on its transformer (same path) after 10 s
        Span("g3", "t9", 2000 * S, 2100 * S),  # nothing near it: missed
    ]
    detections = [
        Span("d1", "f1", 104 * S, 710 * S),
        Span("d2", "t1", 1010 * S, None),
        Span("d3", "m9", 5000 * S, 5001 * S),  # same path as g3 but hours later: false positive
    ]
    result = score(truths, detections, related, tolerance_s=30)
    assert (result.faults, result.detected, result.missed, result.false_positives) == (3, 2, 1, 1)
    assert result.missed_ids == ["g3"] and result.false_positive_ids == ["d3"]
    assert result.detection_latency_s == {"p50": 7.0, "p95": 9.7}  # percentiles of [4, 10]


def test_no_faults_and_no_detections() -> None:
    result = score([], [], related)
    assert result.as_report() == {
        "faults": 0,
        "detected": 0,
        "missed": 0,
        "false_positives": 0,
        "detection_latency_s": {"p50": None, "p95": None},
    }
