"""CUSUM on the peer residual: a slow drift of one sensor away from its zone is raised long before any single
reading is far out, on sensors that each sample on their own phase; clean zones raise nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from detect_synthetic import T0, run

from gridmon.detect.baseline import _lindley


def sensor_seconds(
    devices: int, seconds: int, drift_per_s: float = 0.0, seed: int = 3
) -> Iterator[dict[str, Any]]:
    """One reading per sensor per second, each on its own sub-second phase; dev0 drifts from 600 s on."""
    rng = np.random.default_rng(seed)
    phase = rng.integers(0, 10**9, devices)
    for second in range(seconds):
        ts = T0 + second * 10**9 + phase
        volts = 7200.0 * (1 + rng.normal(0, 0.003, devices))
        if second >= 600:
            volts[0] *= 1 + drift_per_s * (second - 600)
        yield {"device_idx": np.arange(devices, dtype=np.int32), "ts": ts, "voltage_v": np.round(volts, 2)}


def cusum(anomalies):  # type: ignore[no-untyped-def]
    return [a for a in anomalies if a.metric == "voltage_v_peer_pu_cusum"]


def test_slow_drift_is_found_by_the_peer_cusum_before_the_z_score(make_bank) -> None:  # type: ignore[no-untyped-def]
    # +8 % over 5 minutes: 0.027 %/s against 0.3 % noise
    anomalies = run(make_bank(8, zones=1), sensor_seconds(8, 900, drift_per_s=0.08 / 300), kind="sensor")
    found = cusum(anomalies)
    assert {a.device for a in found} == {"dev0"}
    latency_s = (found[0].start_ns - T0) / 1e9 - 600
    z_alarms = [a for a in anomalies if a.metric == "voltage_v_peer_pu" and a.device == "dev0"]
    assert 0 < latency_s < 60
    assert not z_alarms or latency_s < (z_alarms[0].start_ns - T0) / 1e9 - 600


def test_a_drift_through_the_pack_leaves_the_neighbours_quiet(make_bank) -> None:  # type: ignore[no-untyped-def]
    # devices sit a few % apart (ten times the noise); dev0 starts lowest and drifts +10 % through them all
    levels = np.linspace(0.985, 1.02, 5)

    def spread() -> Iterator[dict[str, Any]]:
        for columns in sensor_seconds(5, 900, drift_per_s=0.10 / 200):
            columns["voltage_v"] = np.round(columns["voltage_v"] * levels, 2)
            yield columns

    anomalies = run(make_bank(5, zones=1), spread(), kind="sensor")
    peer = [a for a in anomalies if "peer_pu" in a.metric]
    assert {a.device for a in peer} == {"dev0"}


def test_clean_sensors_raise_no_cusum_alarm(make_bank) -> None:  # type: ignore[no-untyped-def]
    anomalies = run(make_bank(8, zones=1), sensor_seconds(8, 900), kind="sensor")
    assert cusum(anomalies) == []


def test_lindley_recursion_matches_the_loop_per_device() -> None:
    rng = np.random.default_rng(1)
    device = np.sort(rng.integers(0, 5, 200))
    starts = np.maximum.accumulate(np.where(np.r_[True, device[1:] != device[:-1]], np.arange(200), 0))
    steps, prior = rng.normal(0, 1, 200), rng.uniform(0, 3, 5)[device]
    expected, value = np.empty(200), 0.0
    for row in range(200):
        value = max(0.0, (prior[row] if starts[row] == row else value) + steps[row])
        expected[row] = value
    assert np.allclose(_lindley(steps, prior, starts), expected)


def test_a_slowly_wandering_sensor_is_not_a_drift(make_bank) -> None:  # type: ignore[no-untyped-def]
    def wandering() -> Iterator[dict[str, Any]]:
        rng = np.random.default_rng(5)
        wander = np.zeros(8)
        for columns in sensor_seconds(8, 1800):
            wander = 0.99 * wander + rng.normal(0, 0.001, 8)  # AR(1): each sensor wanders on its own
            columns["voltage_v"] = np.round(columns["voltage_v"] * (1 + wander), 2)
            yield columns

    assert cusum(run(make_bank(8, zones=1), wandering(), kind="sensor")) == []
