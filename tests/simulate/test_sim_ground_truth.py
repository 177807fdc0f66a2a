"""Ground truth is consistent with the topology and the traffic: dark meters, last gasps, restoration steps, SCADA."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import pytest

from gridmon.simulate import OUTAGE_KINDS, Rates, Realities, Simulator, Topology

SECOND = 1_000_000_000


@pytest.fixture(scope="module")
def outage_run(
    grid_model: Any, run_start_ns: int, decode_batches: Any
) -> tuple[Simulator, dict[str, list[Any]]]:
    simulator = Simulator(
        grid_model,
        "outages",
        seed=5,
        start_ns=run_start_ns,
        duration_s=900.0,  # the default demo length: it holds sustained outages (6–12 min) whole
        rates=Rates(meter_interval_s=60),
    )
    return simulator, decode_batches(simulator.batches())


def _meters_dark_during(simulator: Simulator, meter: int, ts: int) -> bool:
    dark = simulator.dark
    rows = dark.meter == meter
    return bool(((dark.start[rows] <= ts) & (ts < dark.end[rows])).any())


def test_faults_are_placed_on_model_elements_of_the_right_kind(outage_run: Any) -> None:
    simulator, _ = outage_run
    topology: Topology = simulator.topology
    truths = simulator.truths
    assert {"customer_loss", "transformer_loss", "fuse_trip", "momentary"} <= {t.kind for t in truths}
    expected = {"customer_loss": "meter", "transformer_loss": "transformer", "breaker_trip": "breaker"}
    for truth in truths:
        assert truth.kind in OUTAGE_KINDS
        assert truth.start_ns < truth.end_ns <= simulator.end_ns
        assert truth.customers == topology.customers_below(truth.device) > 0
        if truth.kind in expected:
            assert topology.kind_of(truth.device) == expected[truth.kind]
        # IEEE 1366: momentary under 5 minutes, sustained over (the whole span of a stepped restoration)
        if truth.kind == "momentary":
            assert truth.end_ns - truth.start_ns < 300 * SECOND
        else:
            assert truth.end_ns - truth.start_ns > 300 * SECOND
        assert truth.scope == {"customer_loss": "individual", "transformer_loss": "street"}.get(
            truth.kind, "zonal"
        )


def test_every_meter_below_a_faulted_device_goes_dark_and_reads_zero_volts(outage_run: Any) -> None:
    simulator, readings = outage_run
    topology: Topology = simulator.topology
    interval_volts = {(r.device, r.ts): r.voltage_v for r in readings["meter"] if r.event == "interval"}
    checked = 0
    for truth in simulator.truths:
        end_ns = truth.steps[0].ts_ns if truth.steps else truth.end_ns  # the first step restores part of it
        for meter in topology.meters_below(truth.device).tolist():
            assert _meters_dark_during(simulator, meter, (truth.start_ns + end_ns) // 2)
            # an interval read stamped inside the outage (meter clock skew aside) reports no voltage
            meter_id = topology.meter_ids[meter]
            for boundary in range(-(-truth.start_ns // (60 * SECOND)) * 60 * SECOND, end_ns, 60 * SECOND):
                stamped = boundary + int(simulator.meter_skew[meter])
                if (meter_id, stamped) in interval_volts and truth.kind != "momentary":
                    assert interval_volts[(meter_id, stamped)] == 0.0
                    checked += 1
    assert checked > 0
    faulted = np.unique(np.concatenate([topology.meters_below(t.device) for t in simulator.truths]))
    assert set(simulator.dark.meter.tolist()) == set(faulted.tolist())  # no meter goes dark without a fault


def test_last_gasp_loss_stays_within_the_configured_fraction(outage_run: Any) -> None:
    simulator, readings = outage_run
    gasps = sum(1 for r in readings["meter"] if r.event == "last_gasp")
    unique_gasps = len({(r.device, r.ts) for r in readings["meter"] if r.event == "last_gasp"})
    intervals = len(simulator.dark.meter)
    loss = simulator.realities.last_gasp_loss
    assert intervals > 40
    assert gasps >= unique_gasps  # duplicates are re-sends of the same last gasp
    assert (1 - loss) - 0.12 <= unique_gasps / intervals <= (1 - loss) + 0.12
    assert simulator.stats["last_gasp_lost"] + simulator.stats["last_gasp_sent"] == intervals


def test_nested_outage_inner_lasts_longer_than_outer(outage_run: Any) -> None:
    simulator, _ = outage_run
    by_id = {t.id: t for t in simulator.truths}
    nested = [t for t in simulator.truths if t.parent]
    assert nested
    topology: Topology = simulator.topology
    for inner in nested:
        outer = by_id[inner.parent]
        assert outer.device in topology.upstream(inner.device)
        assert inner.start_ns < outer.start_ns < outer.end_ns < inner.end_ns
        only_outer = np.setdiff1d(topology.meters_below(outer.device), topology.meters_below(inner.device))
        meter = int(only_outer[0])
        assert _meters_dark_during(simulator, meter, outer.start_ns + 1)
        assert not _meters_dark_during(simulator, meter, outer.end_ns + 1)


def test_stepped_restoration_gives_power_back_section_by_section(outage_run: Any) -> None:
    simulator, readings = outage_run
    topology: Topology = simulator.topology
    stepped = [t for t in simulator.truths if t.steps]
    assert stepped
    restored_at = defaultdict(list)
    for r in readings["meter"]:
        if r.event == "power_restored":
            restored_at[r.device].append(r.ts)
    for truth in stepped:
        times = [step.ts_ns for step in truth.steps]
        assert times == sorted(times) and times[-1] == truth.end_ns
        assert sum(step.customers for step in truth.steps) == truth.customers
        assert all(step.customers > 0 for step in truth.steps)
        # meters restored by step k come back after step k's time and before step k+1's
        for step, later in zip(truth.steps, [*truth.steps[1:], None], strict=True):
            below = set(topology.meters_below(step.device).tolist())
            if later is not None:
                below -= set(topology.meters_below(later.device).tolist())
            for meter in below:
                skew = int(simulator.meter_skew[meter])
                stamps = [
                    ts - skew for ts in restored_at[topology.meter_ids[meter]] if ts - skew >= truth.start_ns
                ]
                assert stamps and step.ts_ns <= min(stamps) <= step.ts_ns + 10 * SECOND


def test_scada_reports_trips_and_closes_of_protective_devices(outage_run: Any) -> None:
    simulator, readings = outage_run
    events = defaultdict(list)
    for r in readings["scada"]:
        events[r.device].append((r.ts, r.event))
    topology: Topology = simulator.topology
    for truth in simulator.truths:
        if not topology.has_scada(truth.device):
            continue
        sequence = [
            event for ts, event in sorted(events[truth.device]) if truth.start_ns <= ts <= truth.end_ns
        ]
        assert sequence[0] == "trip"
        assert sequence[-1] == ("reclose" if truth.kind == "momentary" else "close")
        if truth.kind != "momentary":
            assert "lockout" in sequence


def test_ideal_realities_deliver_everything_in_order(
    grid_model: Any, run_start_ns: int, decode_batches: Any
) -> None:
    simulator = Simulator(
        grid_model, "outages", seed=5, start_ns=run_start_ns, duration_s=300.0, realities=Realities.ideal()
    )
    readings = decode_batches(simulator.batches())
    gasps = {r.device for r in readings["meter"] if r.event == "last_gasp"}
    assert len([r for r in readings["meter"] if r.event == "last_gasp"]) == len(simulator.dark.meter)
    assert gasps == {simulator.topology.meter_ids[m] for m in simulator.dark.meter.tolist()}
    assert simulator.stats["duplicate_messages"] == 0 and simulator.stats["late_messages"] == 0
