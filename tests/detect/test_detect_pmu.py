"""PMU detectors: oscillation (and not a step), angle jump of one PMU (not a fleet-wide shift), unbalance, ROCOF."""

from __future__ import annotations

import numpy as np
from detect_synthetic import T0, pmu_seconds, run


def pmu_anomalies(make_bank, shape, devices: int = 4, seconds: int = 50):  # type: ignore[no-untyped-def]
    return [
        a for a in run(make_bank(devices), pmu_seconds(devices, seconds, shape=shape)) if a.detector == "pmu"
    ]


def test_forced_oscillation_is_found_on_its_pmu_only(make_bank) -> None:  # type: ignore[no-untyped-def]
    def oscillate(columns, t):  # type: ignore[no-untyped-def]
        hit = (columns["device_idx"] == 3) & (t >= 20)
        columns["freq_hz"][hit] += 0.04 * np.sin(2 * np.pi * 0.8 * t[hit])

    anomalies = [a for a in pmu_anomalies(make_bank, oscillate) if a.metric == "freq_oscillation"]
    assert {a.device for a in anomalies} == {"dev3"}
    assert 20.0 <= (anomalies[0].start_ns - T0) / 1e9 <= 30.0
    assert 30.0 <= max(a.value for a in anomalies) <= 50.0  # amplitude in mHz, about the injected 40


def test_voltage_step_is_not_an_oscillation(make_bank) -> None:  # type: ignore[no-untyped-def]
    def step(columns, t):  # type: ignore[no-untyped-def]
        hit = (columns["device_idx"] == 1) & (t >= 25)
        for phase in ("va", "vb", "vc"):
            columns[phase][hit] *= 0.97  # a tap change
        columns["freq_hz"][hit] += 0.02

    assert not [a for a in pmu_anomalies(make_bank, step) if a.metric.endswith("oscillation")]


def test_angle_jump_of_one_pmu_but_not_a_fleet_wide_shift(make_bank) -> None:  # type: ignore[no-untyped-def]
    def jumps(columns, t):  # type: ignore[no-untyped-def]
        columns["va_angle"][t >= 15] += 30.0  # the whole system moves: relative angles do not
        columns["va_angle"][(columns["device_idx"] == 2) & (t >= 30)] += 25.0  # a line trips near dev2

    anomalies = [a for a in pmu_anomalies(make_bank, jumps, devices=6) if a.metric == "va_angle_rel"]
    assert anomalies and {a.device for a in anomalies} == {"dev2"}
    assert (anomalies[0].start_ns - T0) / 1e9 == 30.0
    assert anomalies[0].severity == "major"


def test_unbalance_and_rocof(make_bank) -> None:  # type: ignore[no-untyped-def]
    def faults(columns, t):  # type: ignore[no-untyped-def]
        dev = columns["device_idx"]
        columns["vc"][(dev == 0) & (t >= 10) & (t < 20)] *= 0.94  # about 4 % unbalance
        columns["rocof_hz_s"][(dev == 1) & (t >= 12) & (t < 14)] = 1.5

    anomalies = pmu_anomalies(make_bank, faults, seconds=30)
    found = {(a.device, a.metric, a.severity) for a in anomalies}
    assert ("dev0", "unbalance_pct", "major") in found
    assert ("dev1", "rocof_hz_s", "major") in found
    assert {a.metric for a in anomalies} == {"unbalance_pct", "rocof_hz_s"}


def test_a_pmu_dropping_out_does_not_move_the_others_relative_angles(make_bank) -> None:  # type: ignore[no-untyped-def]
    def drop(columns, t):  # type: ignore[no-untyped-def]
        columns["va_angle"] += 40.0 * columns["device_idx"]  # PMUs far apart on the network
        gone = (columns["device_idx"] == 4) & (t >= 15)
        columns["status"] = np.where(gone, 0x8000, 0)  # dev4 loses voltage: its frames carry no angle

    anomalies = [a for a in pmu_anomalies(make_bank, drop, devices=5) if a.metric == "va_angle_rel"]
    assert anomalies == []
