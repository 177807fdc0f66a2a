"""Field realities and rates: how often messages are late, duplicated, lost or stamped by a wrong clock.

All of them are drawn from the simulator's seed, so a run with the same seed has the same imperfections.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Rates:
    """How much traffic: PMU frame rate and nominal frequency, sensor period, AMI interval and batching."""

    pmu_fps: int = 30
    # PDCs batch frames for transport: frames per envelope; 0 = as many as fit in 0.2 s (6 at 30 fps)
    pmu_frames_per_message: int = 0
    nominal_hz: float = 60.0
    pmu_nominal_v: float = 7200.0  # line-to-neutral at the feeder head
    sensor_period_s: float = 1.0
    meter_interval_s: int = 900  # shorten for the demo (e.g. 60) to see interval reads within minutes
    meter_nominal_v: float = 240.0
    ami_batch: int = 2000  # readings per head-end message
    ami_collect_s: float = 60.0  # head-ends spread the collection of one interval over this long

    @property
    def pdc_frames_per_message(self) -> int:
        """Frames of one PDC per envelope: the explicit setting, or the frames of 0.2 s (at least one)."""
        return self.pmu_frames_per_message or max(1, self.pmu_fps // 5)

    def __post_init__(self) -> None:
        if not 1 <= self.pmu_fps <= 240:
            raise ValueError(f"pmu_fps must be 1…240, got {self.pmu_fps}")
        if self.nominal_hz not in (50.0, 60.0):
            raise ValueError(f"nominal_hz must be 50 or 60, got {self.nominal_hz}")
        if self.pmu_frames_per_message < 0:
            raise ValueError(f"pmu_frames_per_message must be ≥ 0, got {self.pmu_frames_per_message}")
        if self.meter_interval_s < 1 or self.sensor_period_s <= 0:
            raise ValueError("meter_interval_s and sensor_period_s must be positive")


@dataclass(frozen=True)
class Realities:
    """Imperfections of field data; `Realities.ideal()` switches them all off (for exact checks)."""

    last_gasp_loss: float = 0.2  # share of last gasps that never arrive (typically 10–30 %)
    late_last_gasp: float = 0.1  # share of last gasps read only after the meter has recovered
    late_share: float = 0.01  # share of messages delivered late
    late_max_s: float = 120.0
    duplicate_share: float = 0.005  # share of messages sent twice
    skewed_share: float = 0.02  # share of meters and sensors whose clock is off
    max_skew_s: float = 90.0

    @classmethod
    def ideal(cls) -> Realities:
        return cls(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


def clock_skews(count: int, realities: Realities, rng: np.random.Generator) -> np.ndarray:
    """Per device, the offset of its clock in ns (zero for most; ±1 s … ±max_skew_s for a few)."""
    skew = np.zeros(count, dtype=np.int64)
    if realities.skewed_share <= 0 or realities.max_skew_s <= 0:
        return skew
    skewed = rng.random(count) < realities.skewed_share
    magnitude = rng.uniform(1.0, max(1.0, realities.max_skew_s), int(skewed.sum()))
    sign = rng.choice([-1.0, 1.0], int(skewed.sum()))
    skew[skewed] = (magnitude * sign * 1e9).astype(np.int64)
    return skew
