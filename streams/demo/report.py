"""The demo report: exactly the keys the issue fixes, read back from ClickHouse and scored against the truth."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from gridmon.demo.scoring import Score, Span, score
from gridmon.grid import DeviceKind, GridModel
from gridmon.simulate import GroundTruth
from gridmon.store.client import query_dicts
from gridmon.store.tables import RAW_TABLES

REPORT_KEYS = (
    "seed",
    "events",
    "stored",
    "dead_letter",
    "anomalies",
    "outages",
    "ground_truth",
    "score",
    "reliability",
    "wall_seconds",
)


def iso(ns: int | None) -> str | None:
    if ns is None:
        return None
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def stored_rows(client: Any) -> int:
    return sum(
        int(client.query(f"SELECT count() FROM {table}").result_rows[0][0]) for table in RAW_TABLES.values()
    )


def dead_letter_count(client: Any) -> int:
    return int(client.query("SELECT count() FROM dead_letters FINAL").result_rows[0][0])


def latest_anomalies(client: Any) -> list[dict[str, Any]]:
    """Raised anomalies (suppressed children of outages are not raised), newest version of each."""
    return query_dicts(
        client,
        "SELECT id, detector, device, zone, metric, start_ns, end_ns, severity, score, category "
        "FROM anomalies FINAL WHERE state != 'suppressed' ORDER BY start_ns",
        what="anomalies",
    )


def latest_outages(client: Any) -> list[dict[str, Any]]:
    return query_dicts(
        client,
        "SELECT id, device, zone, scope, state, start_ns, end_ns, customers, confirmed_by "
        "FROM outages FINAL ORDER BY start_ns",
        what="outages",
    )


def related_on_path(model: GridModel) -> Any:
    """Two devices are related when one is the other or lies on its path to the source; a PMU or sensor
    stands for the element it measures (a substation PMU sees a sag on any feeder below it)."""

    def place(device: str) -> str:
        if device in model and model.kind_of(device) in (DeviceKind.PMU, DeviceKind.SENSOR):
            return model.location_of(device)
        return device

    def related(a: str, b: str) -> bool:
        if a == b:
            return True
        if a not in model or b not in model:
            return False
        a, b = place(a), place(b)
        return a == b or a in model.upstream(b) or b in model.upstream(a)

    return related


def score_run(
    model: GridModel,
    truths: Sequence[GroundTruth],
    anomalies: Sequence[dict[str, Any]],
    outages: Sequence[dict[str, Any]],
) -> Score:
    truth_spans = [Span(t.id, t.device, t.start_ns, t.end_ns, str(t.kind)) for t in truths]
    detections = [Span(a["id"], a["device"], a["start_ns"], a["end_ns"], "anomaly") for a in anomalies]
    detections += [Span(o["id"], o["device"], o["start_ns"], o["end_ns"], "outage") for o in outages]
    return score(truth_spans, detections, related_on_path(model))


def build_report(
    *,
    seed: int,
    events: dict[str, int],
    stored: int,
    dead_letter: int,
    anomalies: Sequence[dict[str, Any]],
    outages: Sequence[dict[str, Any]],
    truths: Sequence[GroundTruth],
    run_score: Score,
    reliability: Sequence[dict[str, Any]],
    wall_seconds: float,
) -> dict[str, Any]:
    report = {
        "seed": seed,
        "events": {kind: int(events.get(kind, 0)) for kind in ("pmu", "sensor", "meter", "scada")},
        "stored": stored,
        "dead_letter": dead_letter,
        "anomalies": [
            {
                "id": a["id"],
                "detector": a["detector"],
                "device": a["device"],
                "zone": a["zone"],
                "metric": a["metric"],
                "start": iso(a["start_ns"]),
                "end": iso(a["end_ns"]),
                "severity": a["severity"],
                "score": round(float(a["score"]), 4),
            }
            for a in anomalies
        ],
        "outages": [
            {
                "id": o["id"],
                "device": o["device"],
                "zone": o["zone"],
                "scope": o["scope"],
                "start": iso(o["start_ns"]),
                "end": iso(o["end_ns"]),
                "customers": int(o["customers"]),
                "confirmed_by": list(o["confirmed_by"]),
            }
            for o in outages
        ],
        "ground_truth": [
            {
                "id": t.id,
                "kind": str(t.kind),
                "device": t.device,
                "zone": t.zone,
                "start": iso(t.start_ns),
                "end": iso(t.end_ns),
            }
            for t in truths
        ],
        "score": run_score.as_report(),
        "reliability": list(reliability),
        "wall_seconds": round(wall_seconds, 2),
    }
    assert tuple(report) == REPORT_KEYS
    return report
