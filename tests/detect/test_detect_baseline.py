"""Adaptive baselines: the vectorised EWMA equals River's, hits real deviations, ignores noise and flatlines."""

from __future__ import annotations

import numpy as np
from detect_synthetic import T0, pmu_seconds, run
from river import stats

from gridmon.detect.baseline import EwmaState
from gridmon.detect.columns import group_starts


def test_batch_fold_matches_river_one_by_one() -> None:
    rng = np.random.default_rng(3)
    alpha = np.array([0.02, 0.3, 0.1])
    state = EwmaState(3)
    reference = [(stats.EWMean(a), stats.EWVar(a)) for a in alpha]
    for _ in range(6):
        dev = np.sort(rng.integers(0, 3, 25))
        x = rng.normal(230.0, 3.0, 25)
        for d, value in zip(dev, x, strict=True):
            reference[d][0].update(value)
            reference[d][1].update(value)
        first = (state.count[dev] == 0) & (group_starts(dev) == np.arange(len(dev)))
        state.shift[dev[first]] = x[first]
        state.fold(dev, x - state.shift[dev], alpha.__getitem__)
    for d, (mean, var) in enumerate(reference):
        assert abs(state.mean[d] + state.shift[d] - mean.get()) < 1e-9
        assert abs(state.std(np.array([d]))[0] ** 2 - var.get()) < 1e-7


def test_step_in_one_device_is_found_and_noise_is_not(make_bank) -> None:  # type: ignore[no-untyped-def]
    def step(columns, t):  # type: ignore[no-untyped-def]
        hit = (columns["device_idx"] == 2) & (t >= 40) & (t < 44)
        columns["freq_hz"][hit] += 0.06  # inside the frequency bands: only the baseline can see it

    anomalies = run(make_bank(4), pmu_seconds(4, 60, shape=step))
    found = {(a.device, a.detector, a.metric) for a in anomalies}
    assert ("dev2", "baseline", "freq_hz") in found
    assert all(a.device == "dev2" for a in anomalies if a.detector == "baseline")
    opened = [a for a in anomalies if a.metric == "freq_hz" and a.detector == "baseline"]
    assert (opened[0].start_ns - T0) / 1e9 == 40.0


def test_constant_signal_scores_finite_and_keeps_ranking(make_bank) -> None:  # type: ignore[no-untyped-def]
    bank = make_bank(2)

    def flat(columns, t):  # type: ignore[no-untyped-def]
        columns["freq_hz"][:] = 60.0

    run(bank, pmu_seconds(2, 12, shape=flat))  # past the warm-up: 60 samples and 10 s
    columns = next(pmu_seconds(2, 1, start_s=12, shape=flat))
    columns["freq_hz"][:5] = [60.001, 60.01, 60.1, 61.0, 65.0]
    from gridmon.detect.columns import sort_batch

    batch = sort_batch(columns["device_idx"], columns["ts"], columns)
    signal = bank.baseline.score("freq_hz", batch, batch.column("freq_hz"))
    scores = signal.score[:5]
    assert np.all(np.isfinite(scores))
    assert np.all(np.diff(scores) > 0)  # no saturation: a bigger deviation always scores higher
    assert signal.level[0] == 0  # 1 mHz on a flat signal is within the variance floor


def test_peer_residual_finds_a_drifting_sensor_despite_shared_load_swings(make_bank) -> None:  # type: ignore[no-untyped-def]
    def swings_and_drift(columns, t):  # type: ignore[no-untyped-def]
        shared = 1.0 + 0.02 * np.sin(2 * np.pi * t / 40.0)  # the whole zone moves by ±2 %, in range A
        dev = columns["device_idx"]
        drift = np.where((dev == 4) & (t >= 30), 1 + 0.002 * (t - 30), 1.0)  # +0.2 %/s gain drift
        for phase in ("va", "vb", "vc"):
            columns[phase] *= shared * drift

    anomalies = run(make_bank(5, zones=1), pmu_seconds(5, 45, shape=swings_and_drift))
    peer = [a for a in anomalies if a.metric == "va_peer_pu"]
    assert {a.device for a in peer} == {"dev4"}
    assert 30.0 <= (peer[0].start_ns - T0) / 1e9 <= 36.0
    assert not [a for a in anomalies if a.detector == "limits"]  # still inside range A: only peers see it


def test_step_channel_finds_jitter_at_a_normal_level(make_bank) -> None:  # type: ignore[no-untyped-def]
    """A burst of sample-to-sample jitter inside a slow swing: the level z-score (its sd set by the swing)
    stays below its threshold, the step channel raises it."""

    def swing_and_jitter(columns, t):  # type: ignore[no-untyped-def]
        columns["freq_hz"][:] = 60.0 + 0.05 * np.sin(2 * np.pi * t / 20.0)
        burst = (columns["device_idx"] == 1) & (t >= 50) & (t < 51)
        columns["freq_hz"][burst] += np.where(np.arange(burst.sum()) % 2, 0.02, -0.02)

    anomalies = run(make_bank(3), pmu_seconds(3, 60, shape=swing_and_jitter))
    baseline = {(a.device, a.metric) for a in anomalies if a.detector == "baseline"}
    assert baseline == {("dev1", "freq_hz_step")}
    step = next(a for a in anomalies if a.metric == "freq_hz_step")
    assert 50.0 <= (step.start_ns - T0) / 1e9 < 50.2


def test_step_threshold_follows_the_sample_rate(make_bank) -> None:  # type: ignore[no-untyped-def]
    """One false alarm per 10,000 device-hours of Gaussian steps: z 6.1 at 30 samples/s, 6.5 at 360/s;
    slower devices keep the level's warning z (6)."""
    bank = make_bank(3)
    levels = bank.baseline.step_levels(np.arange(3), np.array([1 / 30, 1 / 360, 60.0]))
    assert np.allclose(levels[:, 0], [6.11, 6.50, 6.0], atol=0.03)
    assert np.allclose(levels[:, 1] / levels[:, 0], 10 / 6)


def test_tail_inflation_is_one_for_gaussian_steps_and_large_for_heavy_tails() -> None:
    """The tail-aware step threshold: Gaussian steps keep the Gaussian quantile (to within the counts' 95 %
    bound), Student-t(3)
    steps (scaled to sd 1) need one several times further out for the same false-alarm rate at 1 sample a minute."""
    from gridmon.detect.baseline import _learn_tail, tail_inflation

    rng = np.random.default_rng(1)
    rate = np.array([1 / 600_000])
    found = []
    for noise in (rng.normal(size=5000), rng.standard_t(3, size=5000) / np.sqrt(3)):
        state = EwmaState(1)
        _learn_tail(state, np.zeros(5000, dtype=np.int64), np.abs(noise), np.full(5000, 6.0))
        found.append(float(tail_inflation(state, np.zeros(1, dtype=np.int64), rate)[0]))
    assert found[0] < 1.05 and found[1] > 5.0
