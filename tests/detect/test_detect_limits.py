"""Limits: C84.1 voltage ranges, frequency bands and thermal ratings, with hysteresis and minimum duration."""

from __future__ import annotations

import numpy as np
from detect_synthetic import T0, pmu_seconds, run


def test_voltage_hovering_on_range_a_raises_one_anomaly(make_bank) -> None:  # type: ignore[no-untyped-def]
    def hover(columns, t):  # type: ignore[no-untyped-def]
        mine = columns["device_idx"] == 1
        wobble = 0.9495 + 0.002 * np.sin(2 * np.pi * 0.5 * t[mine])  # crosses 0.95 pu every second
        for phase in ("va", "vb", "vc"):
            columns[phase][mine] = 7200.0 * wobble

    anomalies = [a for a in run(make_bank(3), pmu_seconds(3, 40, shape=hover)) if a.detector == "limits"]
    va = [a for a in anomalies if a.metric == "va_pu"]
    assert {a.id for a in va} == {va[0].id}  # one anomaly, never closed and reopened
    assert va[0].severity == "warning" and va[0].state == "open"
    assert all(a.device == "dev1" for a in anomalies)


def test_sag_opens_within_a_second_and_closes_after_recovery(make_bank) -> None:  # type: ignore[no-untyped-def]
    def sag(columns, t):  # type: ignore[no-untyped-def]
        hit = (columns["device_idx"] == 0) & (t >= 20) & (t < 25)
        for phase in ("va", "vb", "vc"):
            columns[phase][hit] *= 0.75

    anomalies = [a for a in run(make_bank(2), pmu_seconds(2, 40, shape=sag)) if a.metric == "va_pu"]
    assert [a.state for a in anomalies] == ["open", "closed"]
    assert anomalies[0].severity == "critical"  # 0.75 pu is below the 0.8 pu critical bound
    assert (anomalies[0].start_ns - T0) / 1e9 == 20.0
    assert 25.0 <= (anomalies[1].end_ns - T0) / 1e9 <= 28.0
    assert anomalies[1].value < 0.76


def test_frequency_excursion_and_its_band(make_bank) -> None:  # type: ignore[no-untyped-def]
    def under(columns, t):  # type: ignore[no-untyped-def]
        columns["freq_hz"][(t >= 10) & (t < 16)] = 59.7

    anomalies = [a for a in run(make_bank(2), pmu_seconds(2, 30, shape=under)) if a.metric == "freq_hz" and a.detector == "limits"]  # fmt: skip
    assert {a.device for a in anomalies} == {"dev0", "dev1"}
    assert {a.severity for a in anomalies} == {"major"}  # 0.3 Hz: past the 0.2 Hz band, not the 0.5 Hz one
    assert len({a.group for a in anomalies if a.device == "dev0"}) == 1


def test_sensor_overheating_and_normal_temperature(make_bank) -> None:  # type: ignore[no-untyped-def]
    bank = make_bank(2)
    minutes = np.arange(60)
    ts = T0 + np.repeat(minutes, 2) * 60 * 10**9
    device_idx = np.tile([0, 1], 60).astype(np.int32)
    temperature = np.where((device_idx == 1) & (np.repeat(minutes, 2) >= 30), 112.0, 65.0)
    columns = {"device_idx": device_idx, "ts": ts, "temperature_c": temperature,
               "voltage_v": np.full(120, 7200.0), "current_a": np.full(120, 100.0), "thd_pct": np.full(120, np.nan)}  # fmt: skip
    anomalies = [a for a in bank.process("sensor", columns) if a.detector == "limits"]
    assert [(a.device, a.metric, a.severity) for a in anomalies] == [("dev1", "temperature_c", "major")]
