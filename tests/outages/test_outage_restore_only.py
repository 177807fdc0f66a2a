"""A meter whose last gasp was lost says "power restored" when it comes back: an outage nobody saw is still
recorded (start unknown, never called momentary), unless an outage above the meter explains the restore."""

from __future__ import annotations

from outage_fields import SECOND, T0, Field, newest

from gridmon.grid import GridModel
from gridmon.outages import OutageCorrelator
from gridmon.records import Outage, OutageEvent


def run(model: GridModel, *batches: list[OutageEvent], until_s: float = 600) -> dict[str, Outage]:
    correlator = OutageCorrelator(model)
    records = []
    for batch in batches:
        records += correlator.process(sorted(batch, key=lambda e: e.ts))
    records += correlator.flush(T0 + int(until_s * SECOND))
    return newest(records)


def test_a_restore_without_a_gasp_records_the_customers_outage(model: GridModel, field: Field) -> None:
    meter = model.devices_of_kind("meter")[0]
    back = T0 + 400 * SECOND
    outages = run(model, [field.meter(meter, back, "power_restored")], until_s=900)
    assert [(o.device, o.scope, o.state, o.customers, o.end_ns) for o in outages.values()] == [
        (meter, "individual", "restored", model.customers_below(meter), back)
    ]
    assert next(iter(outages.values())).start_ns <= back  # when it began is unknown: not before the news


def test_a_duplicate_restore_records_one_outage(model: GridModel, field: Field) -> None:
    meter = model.devices_of_kind("meter")[0]
    restore = field.meter(meter, T0 + 400 * SECOND, "power_restored")
    assert len(run(model, [restore], [restore], until_s=900)) == 1


def test_a_restore_delivered_after_its_outage_ended_adds_none(model: GridModel, field: Field) -> None:
    transformer = next(t for t in model.devices_of_kind("transformer") if len(model.meters_below(t)) >= 3)
    silent, *gasping = model.meters_below(transformer)  # its gasp was lost
    gasps = [field.meter(m, T0, "last_gasp") for m in gasping]
    back = T0 + 400 * SECOND
    restores = [field.meter(m, back, "power_restored") for m in gasping]
    late = field.meter(silent, back + 200 * SECOND, "power_restored")  # after the outage settled
    outages = run(model, gasps, restores, [late], until_s=1200)
    assert [(o.device, o.state) for o in outages.values()] == [(transformer, "restored")]


def test_a_restore_of_a_meter_inside_an_open_outage_is_part_of_it(model: GridModel, field: Field) -> None:
    transformer = next(t for t in model.devices_of_kind("transformer") if len(model.meters_below(t)) >= 3)
    silent, *gasping = model.meters_below(transformer)
    gasps = [field.meter(m, T0, "last_gasp") for m in gasping]
    restore = field.meter(silent, T0 + 100 * SECOND, "power_restored")  # its unit is back: the outage ends
    outages = run(model, gasps, [restore], until_s=300)
    assert [(o.device, o.end_ns) for o in outages.values()] == [(transformer, restore.ts)]
