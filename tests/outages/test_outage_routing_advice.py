"""The router on real ingest batches, isolation advice with a tie switch, at-risk warnings, reliability indices."""

from __future__ import annotations

import time

import msgspec
from outage_fields import SECOND, Field

from gridmon.grid import GridModel
from gridmon.ingest import IngestProcessor, RawMessage
from gridmon.outages import FeederRouter, OutageCorrelator, reliability
from gridmon.records import Envelope, MeterReading, Outage, PmuReading, ScadaReading
from gridmon.settings import load_settings

NOW = time.time_ns() - 60 * SECOND


def ingest(model: GridModel, kind: str, readings: list[msgspec.Struct]) -> object:
    processor = IngestProcessor(kind, load_settings(), model)
    value = msgspec.json.encode(Envelope(readings=readings, source="test"))
    return processor.process([RawMessage(f"grid.{kind}", 0, 0, value)])


def test_router_picks_outage_evidence_and_summarises_interval_reads(model: GridModel) -> None:
    transformer = next(t for t in model.devices_of_kind("transformer") if len(model.meters_below(t)) >= 4)
    meters = model.meters_of_transformer(transformer)
    readings = [
        MeterReading(meters[0], NOW, "last_gasp"),
        MeterReading(meters[1], NOW, "voltage_sag", voltage_v=200.0),
    ]
    readings += [
        MeterReading(m, NOW + i, "interval", kwh=0.3, voltage_v=240.0, interval_s=900)
        for i, m in enumerate(meters[2:])
    ]
    readings.append(MeterReading(meters[1], NOW + SECOND, "interval", kwh=0.0, voltage_v=0.0, interval_s=900))
    events = FeederRouter(model).route("meter", ingest(model, "meter", readings))  # type: ignore[arg-type]
    feeder = model.feeder_of(transformer)
    assert {(e.device, e.event, e.feeder) for e in events} == {
        (meters[0], "last_gasp", feeder),
        (meters[1], "no_voltage", feeder),
        (transformer, "alive", feeder),  # one event for the transformer's reads, not one per meter
    }
    alive = next(e for e in events if e.event == "alive")
    # stamped with the reads' median time: one meter whose clock runs ahead cannot move it
    assert (alive.value, alive.ts) == (len(meters) - 2, NOW + (len(meters) - 3) // 2)


def test_router_passes_scada_operations_and_pmu_voltage_collapse(model: GridModel) -> None:
    recloser = model.devices_of_kind("recloser")[0]
    scada = [
        ScadaReading(recloser, NOW, "trip", value=0.0),
        ScadaReading(recloser, NOW, "analog", point="amps", value=3.0),
    ]
    router = FeederRouter(model)
    assert [e.event for e in router.route("scada", ingest(model, "scada", scada))] == ["trip"]  # type: ignore[arg-type]
    pmu = model.devices_of_kind("pmu")[1]
    frames = [
        PmuReading(pmu, NOW + i * SECOND // 30, 60.0, va=7200.0, vb=7200.0, vc=7200.0) for i in range(3)
    ]
    frames += [PmuReading(pmu, NOW + (3 + i) * SECOND // 30, 60.0, va=5.0, vb=4.0, vc=3.0) for i in range(3)]
    events = router.route("pmu", ingest(model, "pmu", frames))  # type: ignore[arg-type]
    assert [(e.device, e.event, e.source, e.ts) for e in events] == [
        (pmu, "collapse", "pmu", NOW + 3 * SECOND // 30)
    ]
    assert router.route("pmu", ingest(model, "pmu", frames[3:])) == []  # type: ignore[arg-type]  # still down: no repeat


def test_advice_isolates_the_section_and_backfeeds_through_the_tie(model: GridModel, field: Field) -> None:
    tie = model.ties[0]
    recloser = next(r for r in model.devices_of_kind("recloser") if r in model.upstream(tie.a_end))
    events = [field.scada(recloser, NOW, "trip"), field.scada(recloser, NOW + 2 * SECOND, "lockout")]
    correlator = OutageCorrelator(model)
    records = correlator.process(events + field.gasps(recloser, NOW, loss=0.2))
    records += correlator.flush(NOW + 10 * SECOND)
    advice = records[-1].advice
    switch = next(s for s in model.devices_of_kind("switch") if recloser in model.upstream(s) and s != tie.id)
    downstream = model.customers_below(switch)
    assert advice[0] == f"1. open {switch} to isolate the faulted section below {recloser}"
    assert tie.id in advice[1] and f"restores {downstream} customers below {switch}" in advice[1]
    assert advice[2].endswith(
        f"close {recloser}: restores {model.customers_below(recloser) - downstream} customers"
    )


def test_reliability_indices_follow_ieee_1366(model: GridModel) -> None:
    fuse = model.devices_of_kind("fuse")[0]
    customers = model.customers_below(fuse)
    served = int(model.customers[model.indexes_of_kind("meter")].sum())
    base = dict(feeder=model.feeder_of(fuse), device=fuse, zone=fuse, scope="zonal", confirmed_by=["ami"])
    outages = [
        Outage(id="a", version=2, state="restored", start_ns=NOW, end_ns=NOW + 60 * 60 * SECOND,
               customers=customers, customers_out=0, **base),  # type: ignore[arg-type]
        Outage(id="a", version=1, state="confirmed", start_ns=NOW, customers=customers, customers_out=customers, **base),  # type: ignore[arg-type]
        Outage(id="b", version=1, state="momentary", start_ns=NOW, end_ns=NOW + 30 * SECOND,
               customers=customers, customers_out=0, **base),  # type: ignore[arg-type]
    ]  # fmt: skip
    indices = {(i.level, i.area): i for i in reliability(outages, model, NOW, NOW + 86400 * SECOND)}
    system = indices[("system", "system")]
    assert system.customers_served == served
    assert system.saifi == customers / served
    assert abs(system.saidi_min - 60 * customers / served) < 1e-9
    assert abs(system.caidi_min - 60.0) < 1e-9
    assert system.maifi == customers / served
    assert indices[("zone", fuse)].saifi == 1.0
