"""Operator feedback on anomalies: store labels (ack, false alarm, confirmed) in ClickHouse and feed them
back to a running `DetectorBank`, which adapts the labelled device/metric/detector.

Needs the table `ANOMALY_LABELS_DDL` (the store's migrations own the schema; this is the shape we use).
"""

from __future__ import annotations

import time
from typing import Any, Literal, Protocol

import msgspec

from gridmon.errors import ConfigError, StorageError

LabelKind = Literal["ack", "false_alarm", "confirmed"]
LABEL_KINDS: tuple[str, ...] = ("ack", "false_alarm", "confirmed")
TABLE = "anomaly_labels"
COLUMNS = ["anomaly_id", "label", "by", "note", "labelled_ns"]
ANOMALY_LABELS_DDL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    anomaly_id String,
    label LowCardinality(String),
    by String,
    note String,
    labelled_ns Int64
) ENGINE = MergeTree ORDER BY (anomaly_id, labelled_ns)
"""


class AnomalyLabel(msgspec.Struct, frozen=True):
    anomaly_id: str
    label: LabelKind
    by: str
    note: str
    labelled_ns: int


class LabelledBank(Protocol):
    def label(self, anomaly_id: str, label: Literal["false_alarm", "confirmed"]) -> bool: ...


def store_label(
    client: Any, anomaly_id: str, label: str, by: str = "", note: str = "", labelled_ns: int | None = None
) -> AnomalyLabel:
    """Append one label; every label is kept (who said what, when), the newest counts."""
    if label not in LABEL_KINDS:
        raise ConfigError(f"unknown label {label!r}: use one of {', '.join(LABEL_KINDS)}")
    record = AnomalyLabel(anomaly_id, label, by, note, labelled_ns or time.time_ns())  # type: ignore[arg-type]
    try:
        client.insert(TABLE, [[record.anomaly_id, record.label, record.by, record.note, record.labelled_ns]],
                      column_names=COLUMNS)  # fmt: skip
    except Exception as exc:
        raise StorageError(_hint(exc)) from exc
    return record


def load_labels(client: Any, since_ns: int = 0) -> list[AnomalyLabel]:
    """Labels written after `since_ns`, oldest first."""
    query = (
        f"SELECT {', '.join(COLUMNS)} FROM {TABLE} WHERE labelled_ns > {{since:Int64}} "
        "ORDER BY labelled_ns, anomaly_id"
    )
    try:
        rows = client.query(query, parameters={"since": since_ns}).result_rows
    except Exception as exc:
        raise StorageError(_hint(exc)) from exc
    return [AnomalyLabel(*row) for row in rows]


def apply_labels(bank: LabelledBank, labels: list[AnomalyLabel]) -> int:
    """Feed false-alarm/confirmed labels to the bank; returns how many anomalies it knew and adapted to."""
    adapted = 0
    for label in labels:
        if label.label in ("false_alarm", "confirmed"):
            adapted += bank.label(label.anomaly_id, label.label)  # type: ignore[arg-type]
    return adapted


def _hint(exc: Exception) -> str:
    text = str(exc)
    if TABLE in text and ("UNKNOWN_TABLE" in text or "doesn't exist" in text or "does not exist" in text):
        return f"ClickHouse has no {TABLE} table: run the store migrations (`gridmon db migrate`)"
    return f"ClickHouse refused the anomaly label operation: {text.splitlines()[0] if text else exc!r}"
