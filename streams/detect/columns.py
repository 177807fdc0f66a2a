"""Column helpers shared by the detectors: event-time ordering, per-device groups and forward fills.

Every detector sees a batch sorted by (device, event time); these helpers keep per-reading work in numpy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Batch:
    """One kind's readings sorted by (device_idx, ts): `columns` are the value columns in the same order."""

    device_idx: np.ndarray
    ts: np.ndarray
    columns: Mapping[str, Any]
    group_start: np.ndarray  # per row: position of the first row of its device in this batch

    def __len__(self) -> int:
        return len(self.device_idx)

    def column(self, name: str) -> np.ndarray:
        """A float column; a column the batch lacks reads as NaN (absent quantity)."""
        values = self.columns.get(name)
        if values is None:
            return np.full(len(self), np.nan)
        return np.asarray(values, dtype=np.float64)

    def select(self, keep: np.ndarray) -> Batch:
        columns = {name: _take(values, keep) for name, values in self.columns.items()}
        device_idx = self.device_idx[keep]
        return Batch(device_idx, self.ts[keep], columns, group_starts(device_idx))


def sort_batch(device_idx: np.ndarray, ts: np.ndarray, columns: Mapping[str, Any]) -> Batch:
    """Order rows by device, then event time (stable, so equal times keep arrival order)."""
    device_idx = np.asarray(device_idx, dtype=np.int64)
    ts = np.asarray(ts, dtype=np.int64)
    order = np.lexsort((ts, device_idx))
    sorted_idx = device_idx[order]
    ordered = {name: _take(values, order) for name, values in columns.items()}
    return Batch(sorted_idx, ts[order], ordered, group_starts(sorted_idx))


def group_starts(sorted_idx: np.ndarray) -> np.ndarray:
    """For each row of a device-sorted array, the position of the first row of the same device."""
    n = len(sorted_idx)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    is_first = np.empty(n, dtype=bool)
    is_first[0] = True
    np.not_equal(sorted_idx[1:], sorted_idx[:-1], out=is_first[1:])
    return np.maximum.accumulate(np.where(is_first, np.arange(n), 0))


def group_first(group_start: np.ndarray) -> np.ndarray:
    """Mask of the first row of each device group."""
    return group_start == np.arange(len(group_start))


def group_last(group_start: np.ndarray) -> np.ndarray:
    """Mask of the last row of each device group."""
    n = len(group_start)
    last = np.ones(n, dtype=bool)
    if n > 1:
        last[:-1] = group_start[1:] != group_start[:-1]
    return last


def forward_fill(
    mask: np.ndarray, values: np.ndarray, prior: np.ndarray, group_start: np.ndarray
) -> np.ndarray:
    """Per row: `values` at the latest row of the same group where `mask` is set, else `prior` (per row)."""
    n = len(mask)
    positions = np.where(mask, np.arange(n), -1)
    latest = np.maximum.accumulate(positions) if n else positions
    inside = latest >= group_start
    return np.where(inside, values[np.maximum(latest, 0)], prior)


def previous_in_group(values: np.ndarray, prior: np.ndarray, group_start: np.ndarray) -> np.ndarray:
    """Per row: the value of the previous row of the same device, or `prior` (per row) for a group's first row."""
    shifted = np.empty_like(values)
    if len(values):
        shifted[1:] = values[:-1]
        first = group_first(group_start)
        shifted[first] = prior[first]
    return shifted


def rank_in_group(group_start: np.ndarray) -> np.ndarray:
    return np.arange(len(group_start)) - group_start


def batch_from(source: Any) -> tuple[np.ndarray, Mapping[str, Any]]:
    """Accept the ingest's `IngestBatch` (columns + device_idx) or a plain mapping with a `device_idx` column."""
    if isinstance(source, Mapping):
        return np.asarray(source["device_idx"]), source
    return np.asarray(source.device_idx), source.columns


def _take(values: Any, rows: np.ndarray) -> Any:
    if isinstance(values, np.ndarray):
        return values[rows]
    array = np.asarray(values, dtype=object)
    return array[rows]
