"""`gridmon anomalies list|show|ack|label`: anomalies for people, and operator feedback to the detectors."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from gridmon.detect.feedback import LABEL_KINDS, load_labels, store_label
from gridmon.errors import StorageError
from gridmon.settings import get_settings
from gridmon.store.client import query_dicts

anomalies_app = typer.Typer(help="Anomalies: list and show them; acknowledge or label them.")
console = Console()
FIELDS = ["id", "version", "device", "zone", "feeder", "metric", "detector", "category", "severity", "state",
          "start_ns", "end_ns", "score", "value", "parent_outage", "group"]  # fmt: skip
LATEST = (
    "SELECT {fields} FROM anomalies WHERE start_ns >= {{since:Int64}} {device_filter} "
    "ORDER BY id, version DESC LIMIT 1 BY id"
)


def latest_anomalies(
    client: Any, since_ns: int, device: str | None = None, states: tuple[str, ...] = (), limit: int = 50
) -> list[dict[str, Any]]:
    """The newest version of each anomaly that started after `since_ns`, newest first."""
    fields = ", ".join(f"`{name}`" for name in FIELDS)
    inner = LATEST.format(fields=fields, device_filter="AND device = {device:String}" if device else "")
    state_filter = "WHERE state IN {states:Array(String)}" if states else ""
    query = f"SELECT * FROM ({inner}) {state_filter} ORDER BY start_ns DESC LIMIT {{limit:UInt32}}"
    parameters = {"since": since_ns, "device": device or "", "states": list(states), "limit": limit}
    return query_dicts(client, query, parameters, what="anomalies")


def anomaly_versions(client: Any, anomaly_id: str) -> list[dict[str, Any]]:
    fields = ", ".join(f"`{name}`" for name in FIELDS)
    query = f"SELECT {fields} FROM anomalies WHERE id = {{id:String}} ORDER BY version"
    return query_dicts(client, query, {"id": anomaly_id}, what="anomalies")


def _client() -> Any:
    """The store's ClickHouse client (the store owns connection settings and migrations)."""
    try:
        from gridmon.store import client as store_client
    except ImportError:
        raise StorageError("the ClickHouse store is not available in this install (gridmon.store)") from None
    factory = getattr(store_client, "make_client", None) or getattr(store_client, "get_client", None)
    if factory is None:
        raise StorageError("gridmon.store.client has no make_client(settings): update gridmon")
    return factory(get_settings())


def _time(ns: int | None) -> str:
    if not ns:
        return ""
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


@anomalies_app.command("list")
def list_anomalies(
    hours: float = typer.Option(24.0, help="anomalies that started in the last N hours"),
    device: str | None = typer.Option(None, help="only this device"),
    state: list[str] = typer.Option([], help="open, closed or suppressed (repeatable)"),
    limit: int = typer.Option(50, min=1, max=10_000),
) -> None:
    """Newest anomalies, one line each (their latest version)."""
    since = int((datetime.now(tz=UTC).timestamp() - hours * 3600) * 1e9)
    rows = latest_anomalies(_client(), since, device, tuple(state), limit)
    table = Table("id", "start (UTC)", "device", "zone", "metric", "detector", "severity", "state", "score")
    for row in rows:
        table.add_row(row["id"], _time(row["start_ns"]), row["device"], row["zone"], row["metric"],
                      row["detector"], row["severity"], row["state"], f"{row['score']:.2f}")  # fmt: skip
    console.print(table)


@anomalies_app.command("show")
def show(anomaly_id: str) -> None:
    """Every version of one anomaly, and its labels."""
    client = _client()
    versions = anomaly_versions(client, anomaly_id)
    if not versions:
        raise StorageError(f"no anomaly with id {anomaly_id!r}: see `gridmon anomalies list`")
    table = Table("version", "state", "severity", "score", "value", "end (UTC)", "outage", "group")
    for row in versions:
        table.add_row(str(row["version"]), row["state"], row["severity"], f"{row['score']:.2f}",
                      f"{row['value']:.4g}", _time(row["end_ns"]), row["parent_outage"] or "", row["group"] or "")  # fmt: skip
    first = versions[0]
    console.print(f"{first['id']}: {first['detector']}/{first['metric']} on {first['device']} "
                  f"(zone {first['zone']}, feeder {first['feeder']}), {first['category']}, from {_time(first['start_ns'])}")  # fmt: skip
    console.print(table)
    for label in [lb for lb in load_labels(client) if lb.anomaly_id == anomaly_id]:
        console.print(f"  {_time(label.labelled_ns)} {label.label} by {label.by or '?'} {label.note}")


@anomalies_app.command("ack")
def ack(anomaly_id: str, by: str = typer.Option("", help="who acknowledges"), note: str = "") -> None:
    """Acknowledge an anomaly (someone is on it); does not change detection."""
    store_label(_client(), anomaly_id, "ack", by, note)
    console.print(f"acknowledged {anomaly_id}")


@anomalies_app.command("label")
def label(
    anomaly_id: str,
    kind: str = typer.Argument(..., help="false_alarm or confirmed"),
    by: str = typer.Option("", help="who labels"),
    note: str = "",
) -> None:
    """Label an anomaly; the detector that raised it adapts for that device (a false alarm desensitises it)."""
    if kind not in LABEL_KINDS or kind == "ack":
        raise typer.BadParameter("use false_alarm or confirmed")
    store_label(_client(), anomaly_id, kind, by, note)
    console.print(f"labelled {anomaly_id} {kind}; workers apply it on their next label poll")


@anomalies_app.command("score")
def score(
    path: Path = typer.Argument(
        ..., help="CSV of timestamp,value[,label] (header optional; named value columns)"
    ),
    interval_s: float | None = typer.Option(
        None,
        help="samples are this many seconds apart: for value[,label] files (overrides a timestamp column)",
    ),
    tolerance_samples: int = typer.Option(
        10, min=0, help="a labelled window is found by an anomaly overlapping it or this many samples after"
    ),
    batch_s: float = typer.Option(1.0, min=0.001, help="event time per batch fed to the detectors"),
    limit: int = typer.Option(50, min=1, help="anomalies to list"),
) -> None:
    """Run one series through the detectors (as a sensor: unit-free checks only) and, when it has labels,
    print event-wise precision, recall, F1, latency and false positives per 1,000 samples."""
    from gridmon.detect.series import read_series_csv, score_events, score_series

    series = read_series_csv(path, interval_s)
    result = score_series(series, batch_s=batch_s)
    first = int(series.ts_ns[0])
    table = Table("sample", "t (s)", "end (s)", "channel", "detector", "metric", "category", "severity", "score",
                  "value", title=f"{len(result.anomalies)} anomalies in {len(series)} samples of {series.name}")  # fmt: skip
    for anomaly in result.anomalies[:limit]:
        end = "open" if anomaly.end_ns is None else f"{(anomaly.end_ns - first) / 1e9:.3f}"
        table.add_row(str(int(series.ts_ns.searchsorted(anomaly.start_ns))), f"{(anomaly.start_ns - first) / 1e9:.3f}",
                      end, anomaly.device, anomaly.detector, anomaly.metric, anomaly.category, anomaly.severity,
                      f"{anomaly.score:.2f}", f"{anomaly.value:.4g}")  # fmt: skip
    console.print(table)
    if series.labels is None:
        console.print("no label column: nothing to score against")
        return
    scores = score_events(series.ts_ns, series.labels, result.events(), tolerance_samples)
    summary = Table("labelled windows", "found", "raised", "false positives", "precision", "recall", "F1",
                    "FP / 1,000 samples", "latency p50 (s)", "flagged share", title="event-wise scores")  # fmt: skip
    latency = f"{float(np.median(scores.latency_start_s)):.3f}" if scores.latency_start_s else "–"
    summary.add_row(str(scores.windows), str(scores.found), str(scores.raised), str(scores.false_positives),
                    _ratio(scores.precision), _ratio(scores.recall), _ratio(scores.f1),
                    f"{scores.false_positives_per_1000:.2f}", latency, f"{scores.flagged_share:.1%}")  # fmt: skip
    console.print(summary)


def _ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def register(app: typer.Typer) -> None:
    app.add_typer(anomalies_app, name="anomalies")
