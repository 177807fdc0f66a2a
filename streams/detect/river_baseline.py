"""River models as per-device baselines for low-rate signals (sensors, meters, SCADA analogs).

One River model per (device, metric), called once per reading: fine at a reading per device per second or
slower, too slow for PMUs (`load_tests/bench_detect.py` prints the cost next to the vectorised baseline).

>>> from river import anomaly
>>> detector = RiverBaseline(anomaly.StandardAbsoluteDeviation, devices=1, threshold=6.0, warmup_samples=3)
>>> [round(detector.score_one("t", 0, x), 1) for x in (20.0, 21.0, 20.5, 20.8, 20.2, 30.0)]
[0.0, 0.0, 0.0, 0.6, 0.9, 23.0]
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from river.base import SupervisedAnomalyDetector

from gridmon.detect.columns import Batch
from gridmon.detect.lifecycle import WARNING, ChannelSpec, Signal

RIVER_COLUMNS = {
    "sensor": ("voltage_v", "current_a", "temperature_c", "thd_pct"),
    "meter": ("voltage_v", "kwh"),
}


class RiverBaseline:
    """Scores each reading with its device's River model, then learns it. `score_one` ≥ `threshold` raises."""

    name = "river"

    def __init__(
        self,
        model_factory: Callable[[], Any],
        devices: int,
        threshold: float,
        warmup_samples: int = 60,
        columns: dict[str, tuple[str, ...]] | None = None,
    ) -> None:
        self.model_factory = model_factory
        self.devices = devices
        self.threshold = threshold
        self.warmup_samples = warmup_samples
        self.columns = RIVER_COLUMNS if columns is None else columns
        self.models: dict[tuple[str, int], Any] = {}
        self.seen: dict[tuple[str, int], int] = {}

    def spec(self, metric: str) -> ChannelSpec:
        return ChannelSpec(self.name, metric, "grid", 0.0, 0.0)

    def score_one(self, metric: str, dev: int, value: float) -> float:
        key = (metric, dev)
        model = self.models.get(key)
        if model is None:
            model = self.models[key] = self.model_factory()
        seen = self.seen.get(key, 0)
        # supervised scorers (GaussianScorer, StandardAbsoluteDeviation) take the value as the target y
        supervised = isinstance(model, SupervisedAnomalyDetector)
        features = {} if supervised else {"x": value}
        args = (features, value) if supervised else (features,)
        score = float(model.score_one(*args)) if seen >= self.warmup_samples else 0.0
        model.learn_one(*args)
        self.seen[key] = seen + 1
        return score

    def signals(self, kind: str, batch: Batch) -> Iterator[tuple[ChannelSpec, Signal]]:
        for column in self.columns.get(kind, ()):
            values = batch.column(column)
            valid = np.isfinite(values)
            if not valid.any():
                continue
            scores = np.zeros(len(batch))
            for row in np.flatnonzero(valid).tolist():
                scores[row] = self.score_one(column, int(batch.device_idx[row]), float(values[row]))
            raised = scores >= self.threshold
            level = np.where(raised, WARNING, 0).astype(np.int8)
            yield self.spec(column), Signal(batch.device_idx, batch.ts, batch.group_start, level, valid & ~raised,
                                            scores, values)  # fmt: skip
