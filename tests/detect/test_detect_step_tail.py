"""The step channel's threshold follows each device's learned tail: heavy-tailed steady noise raises no step
anomaly (the Gaussian rule of session 3 raised many), while a jitter burst or a large jump still does."""

from __future__ import annotations

import numpy as np

from gridmon.detect.config import BankConfig, BaselineConfig, ClassConfig
from gridmon.detect.series import EPOCH_NS, Series, score_series

GAUSSIAN_STEP = BankConfig(default=ClassConfig(baseline=BaselineConfig(step_learn_tail=False)))
SAMPLES, CHANNELS, RATE_HZ = 4000, 3, 10.0


def _series(values: np.ndarray, name: str) -> Series:
    stamps = EPOCH_NS + (np.arange(len(values)) * 1e9 / RATE_HZ).astype(np.int64)
    return Series(name, stamps, values, None, tuple(f"c{i}" for i in range(values.shape[1])))


def _step_starts(series: Series, config: BankConfig | None = None) -> list[tuple[str, int]]:
    """(device, sample index) where each raised step anomaly starts."""
    result = score_series(series, config)
    interval_ns = int(1e9 / RATE_HZ)
    return [
        (a.device, int((a.start_ns - series.ts_ns[0]) // interval_ns))
        for a in result.anomalies
        if a.metric == "value_step"
    ]


def test_heavy_tailed_steady_noise_raises_no_step_anomaly() -> None:
    """Student-t(3) noise on a flat level: the Gaussian step threshold is crossed every few hundred
    samples; the learned tail raises it by how much heavier the device's steps are."""
    noise = np.random.default_rng(5).standard_t(3, size=(SAMPLES, CHANNELS))
    series = _series(100.0 + noise, "heavy")
    assert len(_step_starts(series, GAUSSIAN_STEP)) >= 3  # the old rule: false alarms on noise alone
    assert _step_starts(series) == []


def test_a_jitter_burst_still_raises_a_step_anomaly() -> None:
    """Gaussian noise with a burst of sample-to-sample jitter at a normal level (KDD 135's incident):
    the learned tail is Gaussian, so the threshold stays where it was and the burst is seen at once."""
    rng = np.random.default_rng(6)
    values = 100.0 + rng.normal(size=(SAMPLES, 1))
    burst = slice(3000, 3020)
    values[burst, 0] += 12.0 * np.where(np.arange(20) % 2 == 0, 1.0, -1.0)
    starts = _step_starts(_series(values, "burst"))
    assert starts and all(3000 <= start < 3020 for _, start in starts)


def test_a_large_jump_in_heavy_tailed_noise_still_raises_a_step_anomaly() -> None:
    """A level jump far beyond what the device's heavy tail reaches: found where it happens."""
    values = 100.0 + np.random.default_rng(7).standard_t(3, size=(SAMPLES, 1))
    values[3000:, 0] += 1000.0
    assert 3000 in [start for _, start in _step_starts(_series(values, "jump"))]
