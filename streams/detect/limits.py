"""Physical and regulatory limits: ANSI C84.1 ranges A/B on per-unit voltage, frequency bands, thermal and
loading ratings, THD. Hysteresis and minimum duration come from the lifecycle (`ChannelSpec`)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from gridmon.detect.columns import Batch
from gridmon.detect.context import DeviceParams, PerClass
from gridmon.detect.lifecycle import ChannelSpec, Signal, graded

VOLTAGE_COLUMNS = {"pmu": ("va", "vb", "vc"), "sensor": ("voltage_v",), "meter": ("voltage_v",)}


def one_sided(value: np.ndarray, levels: np.ndarray, clear_below: np.ndarray) -> tuple[np.ndarray, ...]:
    """Level = how many of the (rows, 3) thresholds `value` reaches; score = value / warning threshold."""
    with np.errstate(invalid="ignore", divide="ignore"):
        level = graded((value[:, None] >= levels).sum(axis=1))
        score = value / levels[:, 0]
    return level, value < clear_below, score


def two_sided(
    value: np.ndarray, center: float, lows: np.ndarray, highs: np.ndarray, margin: float
) -> tuple[np.ndarray, ...]:
    """Bands around `center` (rows, 3 each, widening); score is the deviation in warning half-widths."""
    with np.errstate(invalid="ignore", divide="ignore"):
        level = np.maximum((value[:, None] < lows).sum(axis=1), (value[:, None] > highs).sum(axis=1))
        score = np.maximum(
            (value - center) / (highs[:, 0] - center), (center - value) / (center - lows[:, 0])
        )
        clear = (value >= lows[:, 0] + margin) & (value <= highs[:, 0] - margin)
    return graded(level), clear, score


def signal(batch: Batch, parts: tuple[np.ndarray, ...], value: np.ndarray) -> Signal:
    level, clear, score = parts
    return Signal(batch.device_idx, batch.ts, batch.group_start, level, clear, score, value)


class LimitDetector:
    """Per-unit voltage against C84.1, frequency bands, temperature, THD and loading against ratings."""

    name = "limits"

    def __init__(self, params: DeviceParams) -> None:
        default = params.config.default.limits
        self.params = params
        self.lows = PerClass.stack(
            [params.per_class(lambda c: c.limits.range_a_pu[0]), params.per_class(lambda c: c.limits.range_b_pu[0]),
             params.per_class(lambda c: c.limits.critical_pu[0])])  # fmt: skip
        self.highs = PerClass.stack(
            [params.per_class(lambda c: c.limits.range_a_pu[1]), params.per_class(lambda c: c.limits.range_b_pu[1]),
             params.per_class(lambda c: c.limits.critical_pu[1])])  # fmt: skip
        self.nominal_hz = params.per_class(lambda c: c.limits.nominal_hz)
        self.freq = params.per_class(lambda c: c.limits.freq_deviation_hz)
        self.temperature = params.per_class(lambda c: c.limits.temperature_c)
        self.thd = params.per_class(lambda c: c.limits.thd_pct)
        self.loading = params.per_class(lambda c: c.limits.loading_fraction)
        self.default = default

    def spec(self, metric: str) -> ChannelSpec:
        min_on_s = self.default.thd_min_on_s if metric == "thd_pct" else self.default.min_on_s
        return ChannelSpec(self.name, metric, "grid", min_on_s, self.default.min_off_s)

    def signals(self, kind: str, batch: Batch) -> Iterator[tuple[ChannelSpec, Signal]]:
        dev = batch.device_idx
        for column in VOLTAGE_COLUMNS.get(kind, ()):
            pu = batch.column(column) / self.params.nominal_v[dev]
            if np.isfinite(pu).any():
                parts = two_sided(
                    pu, 1.0, self.lows[dev], self.highs[dev], self.default.voltage_clear_margin_pu
                )
                yield self.spec(f"{column}_pu"), signal(batch, parts, pu)
        if kind == "pmu":
            deviation = np.abs(batch.column("freq_hz") - self.nominal_hz[dev])
            clear_below = np.full(len(batch), self.default.freq_clear_hz)
            yield (
                self.spec("freq_hz"),
                signal(batch, one_sided(deviation, self.freq[dev], clear_below), deviation),
            )
        if kind == "sensor":
            yield from self._one_sided(batch, "temperature_c", batch.column("temperature_c"), self.temperature,
                                       self.default.temperature_clear_margin_c)  # fmt: skip
            yield from self._one_sided(
                batch, "thd_pct", batch.column("thd_pct"), self.thd, self.default.thd_clear_margin_pct
            )
            loading = batch.column("current_a") / self.params.rated_current_a[dev]
            yield from self._one_sided(
                batch, "loading", loading, self.loading, self.default.loading_clear_margin
            )

    def _one_sided(
        self, batch: Batch, metric: str, value: np.ndarray, levels: PerClass, margin: float
    ) -> Iterator[tuple[ChannelSpec, Signal]]:
        if not np.isfinite(value).any():
            return
        rows = levels[batch.device_idx]
        yield self.spec(metric), signal(batch, one_sided(value, rows, rows[:, 0] - margin), value)
