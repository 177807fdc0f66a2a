"""Synthetic device fleets and PMU batches for the detector tests (labelled: we know what we injected)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from gridmon.detect import DetectorBank, DeviceContext

T0 = 1_700_000_000 * 10**9
Columns = dict[str, Any]


def fleet(devices: int, nominal_v: float = 7200.0, zones: int = 2) -> DeviceContext:
    return DeviceContext(
        devices=[f"dev{i}" for i in range(devices)],
        zone=[f"zone{i % zones}" for i in range(devices)],
        feeder=[f"feeder{i % zones}" for i in range(devices)],
        nominal_v=np.full(devices, nominal_v),
        rated_current_a=np.full(devices, 400.0),
    )


def pmu_seconds(
    devices: int, seconds: int, fps: int = 30, seed: int = 0, start_s: int = 0,
    shape: Callable[[Columns, np.ndarray], None] | None = None,
) -> Iterator[Columns]:  # fmt: skip
    """One batch per second of event time for every PMU; `shape(columns, t_seconds)` injects faults."""
    rng = np.random.default_rng(seed)
    for second in range(start_s, start_s + seconds):
        frame = np.arange(fps)
        ts = T0 + second * 10**9 + frame * 10**9 // fps
        stamp = np.tile(ts, devices)
        device_idx = np.repeat(np.arange(devices, dtype=np.int32), fps)
        va = 7200.0 * (1 + rng.normal(0, 0.001, len(stamp)))
        columns: Columns = {
            "device_idx": device_idx,
            "ts": stamp,
            "freq_hz": 60.0 + rng.normal(0, 0.003, len(stamp)),
            "rocof_hz_s": rng.normal(0, 0.02, len(stamp)),
            "va": va,
            "vb": va * (1 + rng.normal(0, 0.001, len(stamp))),
            "vc": va * (1 + rng.normal(0, 0.001, len(stamp))),
            "va_angle": rng.normal(0, 0.05, len(stamp)) + device_idx * 0.5,
            "sent_ns": stamp + 20_000_000,
        }
        if shape is not None:
            shape(columns, (stamp - T0) / 1e9)
        yield columns


def run(bank: DetectorBank, batches: Iterator[Columns], kind: str = "pmu") -> list[Any]:
    out = []
    for columns in batches:
        out += bank.process(kind, columns)
    return out
