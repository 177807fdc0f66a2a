"""What the detectors know about devices, by device index: ids, zone, feeder, class, nominal and ratings.

`DeviceParams` gives per-class settings indexed by device (`PerClass`), so thresholds are looked up in numpy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gridmon.detect.config import BankConfig, ClassConfig
from gridmon.errors import ConfigError


@dataclass
class DeviceContext:
    """Per device index: `nominal_v` is the phase-to-neutral RMS nominal (V) its voltages are compared with
    (NaN: unknown, voltage limits skipped); `rated_current_a` NaN when unknown."""

    devices: Sequence[str]
    zone: Sequence[str]
    feeder: Sequence[str]
    nominal_v: np.ndarray
    device_class: Sequence[str] | None = None
    rated_current_a: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.devices)
        sizes = {"zone": len(self.zone), "feeder": len(self.feeder), "nominal_v": len(self.nominal_v)}
        if self.device_class is not None:
            sizes["device_class"] = len(self.device_class)
        if self.rated_current_a is not None:
            sizes["rated_current_a"] = len(self.rated_current_a)
        wrong = {name: size for name, size in sizes.items() if size != n}
        if wrong:
            raise ConfigError(f"device context: {wrong} do not match {n} devices; give one entry per device")

    def __len__(self) -> int:
        return len(self.devices)


class DeviceParams:
    """Per-device arrays of class settings: `levels(lambda c: c.limits.thd_pct)` → shape (devices, 3)."""

    def __init__(self, context: DeviceContext, config: BankConfig) -> None:
        self.context = context
        self.config = config
        classes = context.device_class or ["default"] * len(context)
        self.names = sorted(set(classes))
        self.class_idx = np.array([self.names.index(c) for c in classes], dtype=np.int32)  # 4 B per device
        self.nominal_v = np.asarray(context.nominal_v, dtype=np.float64)
        rated = context.rated_current_a
        self.rated_current_a = np.full(len(context), np.nan) if rated is None else np.asarray(rated, float)
        zones = sorted(set(context.zone))
        position = {zone: index for index, zone in enumerate(zones)}
        self.zone_idx = np.array([position[zone] for zone in context.zone], dtype=np.int32)
        self.zones = len(zones)

    def per_class(self, getter: Callable[[ClassConfig], Any]) -> PerClass:
        """A class setting, looked up per device: `params.per_class(lambda c: c.limits.thd_pct)[dev]`."""
        table = np.array([getter(self.config.for_class(name)) for name in self.names], dtype=np.float64)
        return PerClass(table, self.class_idx)


class PerClass:
    """A setting of each device's class, indexed like a per-device array (`setting[dev]`, `setting[dev, 0]`) but
    holding a row per class: a per-device copy took 9.6 MB per setting (29 MB for three levels) at 1.2M
    devices, ~0.4 GB for the bank's ~40 settings, for a handful of distinct values."""

    def __init__(self, table: np.ndarray, class_idx: np.ndarray) -> None:
        self.table = table  # one row per class
        self.class_idx = class_idx  # per device: its row of `table`

    def __getitem__(self, index: Any) -> np.ndarray:
        if isinstance(index, tuple):
            return np.asarray(self.table[(self.class_idx[index[0]], *index[1:])])
        return np.asarray(self.table[self.class_idx[index]])

    def map(self, function: Callable[[np.ndarray], np.ndarray]) -> PerClass:
        """The setting transformed class by class, e.g. `half_life.map(lambda h: 0.5 ** (1 / h))`."""
        return PerClass(function(self.table), self.class_idx)

    def any(self) -> bool:
        """Whether any class (so any device: every class has one) has a true setting."""
        return bool(self.table.any())

    @staticmethod
    def stack(settings: list[PerClass]) -> PerClass:
        """Settings side by side, `[dev, i]` the i-th (e.g. the warning, major and critical levels)."""
        return PerClass(np.stack([s.table for s in settings], axis=1), settings[0].class_idx)
