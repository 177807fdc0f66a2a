"""Train a worker's detector baselines on history from ClickHouse (cold start), into its state checkpoint.

History is read in event-time order, one window at a time, as the same columns the ingest produces, and fed to
`DetectorBank.train`: baselines learn, nothing is raised. The trained state is saved as the worker's
`detector` checkpoint, which `gridmon worker` restores at start.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from gridmon.detect.bank import DetectorBank
from gridmon.grid import GridModel
from gridmon.ingest.columns import field_kinds
from gridmon.records import READING_TYPES
from gridmon.store.tables import RAW_TABLES

TRAINED_KINDS = ("pmu", "sensor", "meter")  # SCADA state changes have no baselines


@dataclass(frozen=True)
class ReplayCounts:
    kind: str
    readings: int
    windows: int


def history_batches(
    client: Any, model: GridModel, kind: str, start_ns: int, end_ns: int, window_s: float = 60.0
) -> Iterator[dict[str, Any]]:
    """Column batches of one kind over [start_ns, end_ns), one event-time window each, in time order."""
    kinds = {name: kind for name, kind in field_kinds(READING_TYPES[kind]).items() if name != "ts"}
    step = int(window_s * 1e9)
    select = ", ".join(["toUnixTimestamp64Nano(ts) AS ts_ns", *(f"`{name}`" for name in kinds)])
    query = (
        f"SELECT {select} FROM {RAW_TABLES[kind]} "
        "WHERE ts >= fromUnixTimestamp64Nano({lo:Int64}) AND ts < fromUnixTimestamp64Nano({hi:Int64}) "
        "ORDER BY ts"
    )
    for lo in range(start_ns, end_ns, step):
        result = client.query(query, parameters={"lo": lo, "hi": min(lo + step, end_ns)})
        if not result.result_rows:
            continue
        columns = dict(zip(result.column_names, zip(*result.result_rows, strict=True), strict=True))
        batch = {"ts": np.asarray(columns.pop("ts_ns"), dtype=np.int64)}
        batch |= {name: _column(kinds[name], values) for name, values in columns.items()}
        batch["device_idx"] = model.index_of(list(batch["device"]))
        known = batch["device_idx"] >= 0
        yield {name: values[known] for name, values in batch.items()}


def _column(kind: str, values: tuple[Any, ...]) -> np.ndarray:
    if kind in ("float", "optional_float"):
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    if kind in ("int", "optional_int"):
        return np.array([-1 if v is None else v for v in values], dtype=np.int64)
    return np.array(values, dtype=object)


def replay(
    client: Any, model: GridModel, bank: DetectorBank, start_ns: int, end_ns: int, window_s: float = 60.0
) -> list[ReplayCounts]:
    """Train `bank` on every kind's history in the window; returns what was read."""
    counts = []
    for kind in TRAINED_KINDS:
        readings = windows = 0
        for batch in history_batches(client, model, kind, start_ns, end_ns, window_s):
            bank.train(kind, batch)
            readings += len(batch["device_idx"])
            windows += 1
        counts.append(ReplayCounts(kind, readings, windows))
    return counts
