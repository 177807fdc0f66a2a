"""Data quality judged on each device's own behaviour: stuck runs against its learned repeat rate, gaps against
its learned lag behind its peers (a clock running behind or ahead is not a gap, and does not hide one)."""

from __future__ import annotations

import numpy as np
from detect_synthetic import T0, pmu_seconds, run


def found(anomalies, metric):  # type: ignore[no-untyped-def]
    return {a.device: a for a in anomalies if a.metric == metric}


def test_a_noisy_signal_that_freezes_is_stuck_within_a_few_samples_from_where_it_froze(make_bank) -> None:  # type: ignore[no-untyped-def]
    def frozen(columns, t):  # type: ignore[no-untyped-def]
        columns["va"][(columns["device_idx"] == 0) & (t >= 20)] = 7191.25

    stuck = found(run(make_bank(3), pmu_seconds(3, 25, shape=frozen)), "va_stuck")
    assert set(stuck) == {"dev0"}
    assert stuck["dev0"].start_ns == T0 + 20 * 10**9  # where the value froze, not where the run got long
    assert stuck["dev0"].value == 7191.25


def test_a_coarse_signal_that_often_repeats_needs_a_much_longer_run(make_bank) -> None:  # type: ignore[no-untyped-def]
    def coarse(columns, t):  # type: ignore[no-untyped-def]
        # dev1 reads in 10 V steps: about every other frame repeats the previous value by itself
        dev1 = columns["device_idx"] == 1
        columns["va"][dev1] = np.round(columns["va"][dev1] / 10.0) * 10.0
        # at 20 s both dev0 (fine resolution) and dev1 hold one value for 6 frames (0.2 s)
        hold = (t >= 20) & (t < 20.2)
        columns["va"][hold & (columns["device_idx"] == 0)] = 7195.55
        columns["va"][hold & dev1] = 7200.0

    stuck = found(run(make_bank(3), pmu_seconds(3, 25, shape=coarse)), "va_stuck")
    assert set(stuck) == {"dev0"}  # six equal frames are news for dev0, ordinary for dev1


def test_a_coarse_signal_frozen_for_long_is_stuck(make_bank) -> None:  # type: ignore[no-untyped-def]
    def coarse_then_frozen(columns, t):  # type: ignore[no-untyped-def]
        dev1 = columns["device_idx"] == 1
        columns["va"][dev1] = np.round(columns["va"][dev1] / 10.0) * 10.0
        columns["va"][dev1 & (t >= 20)] = 7200.0

    stuck = found(run(make_bank(3), pmu_seconds(3, 30, shape=coarse_then_frozen)), "va_stuck")
    assert set(stuck) == {"dev1"}


def test_a_clock_behind_is_not_a_gap_and_a_clock_ahead_does_not_hide_one(make_bank) -> None:  # type: ignore[no-untyped-def]
    bank = make_bank(6)
    anomalies = []
    for second, columns in enumerate(pmu_seconds(6, 40)):
        device = columns["device_idx"]
        columns["ts"] = np.where(device == 1, columns["ts"] - 30 * 10**9, columns["ts"])  # 30 s behind
        columns["ts"] = np.where(device == 2, columns["ts"] + 30 * 10**9, columns["ts"])  # 30 s ahead
        if 20 <= second < 30:  # dev2 goes silent for 10 s
            columns = {k: v[device != 2] for k, v in columns.items()}
        anomalies += bank.process("pmu", columns)
    gaps = [a for a in anomalies if a.metric == "gap"]
    assert [(a.device, a.state) for a in gaps] == [("dev2", "open"), ("dev2", "closed")]
    assert T0 + 20 * 10**9 < gaps[0].start_ns <= T0 + 22 * 10**9  # seen within 2 s of event time (floor 1 s)


def test_event_driven_scada_points_have_no_gaps(make_bank) -> None:  # type: ignore[no-untyped-def]
    bank = make_bank(2)
    anomalies = []
    for second in range(
        0, 600, 10
    ):  # dev0 reports every 10 s; dev1 as often for a while, then on change only
        devices = [0] if 100 <= second < 500 else [0, 1]
        columns = {
            "device_idx": np.array(devices, dtype=np.int32),
            "ts": np.full(len(devices), T0 + second * 10**9),
            "event": ["analog"] * len(devices),
            "value": np.full(len(devices), 1.0 + 0.01 * second),
        }
        anomalies += bank.process("scada", columns)
    assert not any(a.metric == "gap" for a in anomalies)
