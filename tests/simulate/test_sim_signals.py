"""PMU, sensor and meter signals show the injected power-quality and data-quality faults, and only them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from gridmon.simulate import Rates, Simulator


@pytest.fixture(scope="module")
def mixed_run(
    grid_model: Any, run_start_ns: int, decode_batches: Any
) -> tuple[Simulator, dict[str, list[Any]]]:
    simulator = Simulator(
        grid_model, "mixed", seed=2, start_ns=run_start_ns, duration_s=400.0, rates=Rates(pmu_fps=10)
    )
    return simulator, decode_batches(simulator.batches())


def _truth(simulator: Simulator, kind: str) -> Any:
    found = [t for t in simulator.truths if t.kind == kind]
    if not found:
        pytest.fail(f"the mixed scenario placed no {kind}: {simulator.skipped}")
    return found[0]


def _series(readings: list[Any], device: str, field: str) -> tuple[np.ndarray, np.ndarray]:
    rows = sorted((r.ts, getattr(r, field)) for r in readings if r.device == device)
    return np.array([t for t, _ in rows]), np.array([v for _, v in rows], dtype=float)


def test_pmu_frames_are_nominal_frequency_with_a_visible_excursion(mixed_run: Any) -> None:
    simulator, readings = mixed_run
    excursion = _truth(simulator, "frequency_excursion")
    pmu = simulator.topology.pmus[0].id
    ts, freq = _series(readings["pmu"], pmu, "freq_hz")
    outside = (ts < excursion.start_ns) | (ts > excursion.end_ns)
    assert abs(np.median(freq[outside]) - 60.0) < 0.02
    middle = excursion.start_ns + (excursion.end_ns - excursion.start_ns) // 2
    near = np.abs(ts - middle) < 1_000_000_000
    sign = np.sign(float(excursion.detail.split()[2]))
    assert sign * (np.median(freq[near]) - 60.0) > 0.1
    _, angle = _series(readings["pmu"], pmu, "va_angle")
    assert angle.min() > -180.0 and angle.max() <= 180.0


def test_sensor_faults_shape_the_signal(mixed_run: Any) -> None:
    simulator, readings = mixed_run
    stuck = _truth(simulator, "sensor_stuck")
    ts, volts = _series(readings["sensor"], stuck.device, "voltage_v")
    ts -= simulator.clock_skew_ns(stuck.device)
    inside = (ts >= stuck.start_ns) & (ts < stuck.end_ns)
    assert len(set(volts[inside].tolist())) == 1 and len(set(volts[~inside].tolist())) > 5
    heat = _truth(simulator, "sensor_overheating")
    ts, temperature = _series(readings["sensor"], heat.device, "temperature_c")
    ts -= simulator.clock_skew_ns(heat.device)
    assert temperature[(ts >= heat.start_ns) & (ts < heat.end_ns)].max() > 100.0
    assert temperature[ts < heat.start_ns].max() < 90.0
    gap = [t for t in simulator.truths if t.kind == "data_gap"]
    for truth in gap:
        kind = "pmu" if truth.device in {p.id for p in simulator.topology.pmus} else "sensor"
        ts, _ = _series(readings[kind], truth.device, "ts")
        ts -= simulator.clock_skew_ns(truth.device)
        assert not ((ts >= truth.start_ns) & (ts < truth.end_ns)).any()
        assert len(ts) > 0


def test_meters_report_sags_and_tamper(mixed_run: Any) -> None:
    simulator, readings = mixed_run
    sag = _truth(simulator, "voltage_sag")
    sags = [r for r in readings["meter"] if r.event == "voltage_sag"]
    below = {simulator.topology.meter_ids[m] for m in simulator.topology.meters_below(sag.device).tolist()}
    assert sags and {r.device for r in sags} <= below
    assert all(r.voltage_v < 240.0 * 0.9 for r in sags)
    tamper = _truth(simulator, "meter_tamper")
    assert [r.device for r in readings["meter"] if r.event == "tamper"] == [tamper.device]
