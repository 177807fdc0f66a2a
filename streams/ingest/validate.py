"""Vectorised validation of a column batch: physical ranges, event-time skew and unknown devices.

Each rule yields a boolean mask of failing rows; the first failing rule names the dead-letter reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from gridmon.records import DeadLetterReason


@dataclass(frozen=True)
class Range:
    column: str
    low: float
    high: float
    unit: str


# Physically possible (not "normal") ranges: beyond them a reading is an error, not an anomaly.
RANGES: dict[str, tuple[Range, ...]] = {
    "pmu": (
        Range("freq_hz", 40.0, 70.0, "Hz"),
        Range("rocof_hz_s", -100.0, 100.0, "Hz/s"),
        *(Range(c, 0.0, 2.0e6, "V") for c in ("va", "vb", "vc")),
        *(Range(c, 0.0, 1.0e5, "A") for c in ("ia", "ib", "ic")),
        *(Range(f"{p}_angle", -360.0, 360.0, "deg") for p in ("va", "vb", "vc", "ia", "ib", "ic")),
    ),
    "sensor": (
        Range("voltage_v", 0.0, 2.0e6, "V"),
        Range("current_a", 0.0, 1.0e5, "A"),
        Range("temperature_c", -60.0, 300.0, "°C"),
        Range("thd_pct", 0.0, 100.0, "%"),
    ),
    "meter": (Range("kwh", 0.0, 1.0e5, "kWh"), Range("voltage_v", 0.0, 1.0e4, "V")),
    "scada": (Range("value", -1.0e9, 1.0e9, "units"),),
}


_LOWS = {kind: np.array([rule.low for rule in rules]) for kind, rules in RANGES.items()}
_HIGHS = {kind: np.array([rule.high for rule in rules]) for kind, rules in RANGES.items()}


class DeviceRegistry(Protocol):
    """What the ingest needs from the grid model: device ids → stable int indexes, -1 when unknown."""

    def index_of(self, ids: Any) -> np.ndarray: ...


class SetRegistry:
    """A registry of known ids (used when no grid model is loaded, and in tests)."""

    def __init__(self, ids: Any) -> None:
        self._index = {device: position for position, device in enumerate(ids)}

    def index_of(self, ids: Any) -> np.ndarray:
        get = self._index.get
        return np.fromiter((get(device, -1) for device in ids), dtype=np.int32, count=len(ids))


@dataclass(frozen=True)
class Rejection:
    rows: np.ndarray  # row positions
    reason: DeadLetterReason
    details: list[str]


def range_rejections(kind: str, columns: dict[str, Any]) -> list[Rejection]:
    """Values outside their rule's range (±inf included; NaN is an absent value, not a bad one)."""
    rules = RANGES[kind]
    values = np.stack([columns[rule.column] for rule in rules], axis=1)
    # one check for all rules: the common batch has nothing out of range (NaN compares False both ways)
    if not ((values < _LOWS[kind]) | (values > _HIGHS[kind])).any():
        return []
    rejections = []
    for rule in rules:
        values = columns[rule.column]
        rows = np.flatnonzero((values < rule.low) | (values > rule.high))
        if rows.size:
            details = [
                f"{rule.column}={float(values[r])!r} outside [{rule.low:g}, {rule.high:g}] {rule.unit}"
                for r in rows
            ]
            rejections.append(Rejection(rows, "out_of_range", details))
    return rejections


def time_rejections(ts: np.ndarray, now_ns: int, max_future_s: float, max_age_s: float) -> list[Rejection]:
    ahead = ts > now_ns + int(max_future_s * 1e9)
    behind = ts < now_ns - int(max_age_s * 1e9)
    rows = np.flatnonzero(ahead | behind)
    if not rows.size:
        return []
    details = [
        f"event time {(int(ts[r]) - now_ns) / 1e9:+.0f} s from now (allowed -{max_age_s:g} s … +{max_future_s:g} s)"
        for r in rows
    ]
    return [Rejection(rows, "time_skew", details)]


def unknown_device_rejections(device_idx: np.ndarray, devices: list[str]) -> list[Rejection]:
    rows = np.flatnonzero(device_idx < 0)
    if not rows.size:
        return []
    return [
        Rejection(rows, "unknown_device", [f"device {devices[r]!r} is not in the grid model" for r in rows])
    ]
