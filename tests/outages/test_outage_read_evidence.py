"""Meters found dark by an interval read (their gasps lost) went dark at some time since their transformer last
had power: outages that began since then are the same fault seen in part and grow into it."""

from __future__ import annotations

from outage_fields import SECOND, T0, Field, newest

from gridmon.grid import GridModel
from gridmon.outages import OutageCorrelator
from gridmon.records import Outage, OutageEvent

READ = 200 * SECOND  # the next interval read after the fault


def _run(model: GridModel, field: Field, gasps: list[OutageEvent], dark_reads: list[str]) -> list[Outage]:
    correlator = OutageCorrelator(model)
    records = correlator.process(sorted(gasps, key=lambda e: e.ts))
    records += correlator.process([_tick(model, T0 + 60 * SECOND)])  # the gasps are located meanwhile
    records += correlator.process([field.meter(m, T0 + READ, "no_voltage") for m in dark_reads])
    records += correlator.flush(T0 + READ + 60 * SECOND)
    return [o for o in newest(records).values() if o.customers > 0]  # merged ones end with none


def _tick(model: GridModel, ts: int) -> OutageEvent:
    meter = model.devices_of_kind("meter")[-1]
    return OutageEvent(feeder=model.feeder_of(meter), device=meter, ts=ts, source="ami", event="ping_ok")


def test_a_customer_outage_grows_into_its_transformer_when_reads_find_the_rest_dark(
    model: GridModel, field: Field
) -> None:
    transformer = next(t for t in model.devices_of_kind("transformer") if len(model.meters_below(t)) == 4)
    first, *rest = model.meters_below(transformer)
    outages = _run(model, field, [field.meter(first, T0, "last_gasp")], rest)
    assert [(o.device, o.scope, o.start_ns, o.customers) for o in outages] == [
        (transformer, "street", T0, model.customers_below(transformer))
    ]
    assert outages[0].id.startswith(f"O-{first}-")  # the id operators saw first is kept


def test_a_lateral_split_by_a_silent_transformer_is_one_outage_once_its_reads_come(
    model: GridModel, field: Field
) -> None:
    fuse = "S01F1-T0L0-FU"
    transformers = [t for t in model.devices_of_kind("transformer") if fuse in model.upstream(t)]
    silent = min(transformers, key=lambda t: len(model.meters_below(t)))
    assert len(transformers) >= 3 and len(model.meters_below(silent)) >= 3  # big enough to look powered
    gasps = [g for t in transformers if t != silent for g in field.gasps(t, T0)]
    outages = _run(model, field, gasps, model.meters_below(silent))
    assert [(o.device, o.start_ns // SECOND, o.customers) for o in outages] == [
        (fuse, T0 // SECOND, model.customers_below(fuse))
    ]


def test_a_read_long_after_another_customer_went_out_stays_apart(model: GridModel, field: Field) -> None:
    transformer = next(t for t in model.devices_of_kind("transformer") if len(model.meters_below(t)) == 4)
    first, second, *_ = model.meters_below(transformer)
    alive_read = OutageEvent(feeder=model.feeder_of(transformer), device=transformer, ts=T0 + 100 * SECOND,
                             source="ami", event="alive", value=2.0)  # fmt: skip
    correlator = OutageCorrelator(model)
    records = correlator.process([field.meter(first, T0, "last_gasp")])
    records += correlator.process([_tick(model, T0 + 60 * SECOND), alive_read])  # the others had power since
    records += correlator.process([field.meter(second, T0 + READ, "no_voltage")])
    records += correlator.flush(T0 + READ + 60 * SECOND)
    assert sorted({r.device for r in records if r.customers > 0}) == sorted([first, second])
