"""Data quality: stuck values, gaps, out-of-order bursts, impossible jumps and clock skew are data_quality."""

from __future__ import annotations

import numpy as np
from detect_synthetic import pmu_seconds, run


def quality(anomalies):  # type: ignore[no-untyped-def]
    assert all(a.category == "data_quality" for a in anomalies if a.detector == "quality")
    return {(a.device, a.metric) for a in anomalies if a.detector == "quality"}


def test_clean_stream_has_no_data_quality_anomaly(make_bank) -> None:  # type: ignore[no-untyped-def]
    assert quality(run(make_bank(3), pmu_seconds(3, 30))) == set()


def test_stuck_value_and_impossible_jump(make_bank) -> None:  # type: ignore[no-untyped-def]
    def broken(columns, t):  # type: ignore[no-untyped-def]
        dev = columns["device_idx"]
        columns["va"][(dev == 0) & (t >= 5)] = 7190.0
        columns["freq_hz"][(dev == 1) & (np.abs(t - 12.5) < 0.01)] = 63.0

    found = quality(run(make_bank(3), pmu_seconds(3, 25, shape=broken)))
    assert found == {("dev0", "va_stuck"), ("dev1", "freq_hz_jump")}


def test_gap_opens_while_silent_and_closes_when_data_returns(make_bank) -> None:  # type: ignore[no-untyped-def]
    bank = make_bank(3)
    anomalies = []
    for second, columns in enumerate(pmu_seconds(3, 30)):
        if 10 <= second < 20:
            keep = columns["device_idx"] != 2
            columns = {k: v[keep] for k, v in columns.items()}
        anomalies += bank.process("pmu", columns)
    gaps = [a for a in anomalies if a.metric == "gap"]
    assert [(a.device, a.state) for a in gaps] == [("dev2", "open"), ("dev2", "closed")]


def test_out_of_order_burst_and_clock_skew(make_bank) -> None:  # type: ignore[no-untyped-def]
    bank = make_bank(3)
    anomalies = []
    for second, columns in enumerate(pmu_seconds(3, 60)):
        # dev1's frames keep arriving reversed; dev2's once (late and reordered rows are normal)
        for device, reversed_now in ((1, second >= 10), (2, second == 5)):
            if reversed_now:
                rows = np.flatnonzero(columns["device_idx"] == device)
                order = np.arange(len(columns["ts"]))
                order[rows] = rows[::-1]
                columns = {k: v[order] for k, v in columns.items()}
        if second >= 12:  # dev0's clock runs 5 s ahead of its gateway
            columns["ts"] = np.where(columns["device_idx"] == 0, columns["ts"] + 5 * 10**9, columns["ts"])
        anomalies += bank.process("pmu", columns)
    assert quality(anomalies) == {("dev1", "out_of_order"), ("dev0", "clock_skew")}


def test_a_backlog_of_old_pmu_frames_is_not_clock_skew_but_one_lagging_clock_is(make_bank) -> None:  # type: ignore[no-untyped-def]
    bank = make_bank(4)
    anomalies = []
    for columns in pmu_seconds(4, 30):
        # the worker catches up 10 minutes late: every frame was sent long after its stamp
        columns["sent_ns"] = columns["ts"] + 600 * 10**9
        # dev3's clock is 60 s behind (from the start: a clock stepping back would make its frames stale)
        columns["ts"] = np.where(columns["device_idx"] == 3, columns["ts"] - 60 * 10**9, columns["ts"])
        anomalies += bank.process("pmu", columns)
    assert {(d, m) for d, m in quality(anomalies) if m == "clock_skew"} == {("dev3", "clock_skew")}
