"""Outage correlation on a generated feeder: scopes, nesting, momentaries, restoration, lossy and messy input."""

from __future__ import annotations

import numpy as np
import pytest
from outage_fields import SECOND, T0, Field, newest

from gridmon.grid import GridModel
from gridmon.outages import CorrelatorConfig, OutageCorrelator, reliability
from gridmon.records import Outage, OutageEvent


def run(correlator: OutageCorrelator, events: list[OutageEvent], until_ns: int | None = None) -> list[Outage]:
    events = sorted(events, key=lambda e: e.ts)
    out = correlator.process(events)
    if until_ns is not None:
        out += correlator.flush(until_ns)
    return out


def latest(records: list[Outage]) -> dict[str, Outage]:
    return {r.id: r for r in newest(records).values() if r.customers > 0}


def tick(model: GridModel, feeder: str, ts: int) -> OutageEvent:
    """A meter on another feeder answering a ping: event time moves on."""
    meter = next(m for m in model.devices_of_kind("meter") if model.feeder_of(m) != feeder)
    return OutageEvent(feeder=model.feeder_of(meter), device=meter, ts=ts, source="ami", event="ping_ok")


def first_of(model: GridModel, kind: str, with_meters: int = 2) -> str:
    return next(d for d in model.devices_of_kind(kind) if len(model.meters_below(d)) >= with_meters)


@pytest.mark.parametrize(
    ("kind", "scope"),
    [("meter", "individual"), ("transformer", "street"), ("fuse", "zonal"), ("recloser", "zonal")],
)
def test_each_scope_is_located_at_the_faulted_device(
    model: GridModel, field: Field, kind: str, scope: str
) -> None:
    device = first_of(model, kind, with_meters=1 if kind == "meter" else 4)
    out = latest(
        run(
            OutageCorrelator(model),
            field.gasps(device, T0, loss=0.0 if kind == "meter" else 0.25),
            T0 + 30 * SECOND,
        )
    )
    assert len(out) == 1
    (outage,) = out.values()
    assert (outage.device, outage.scope) == (device, scope)
    assert outage.customers == model.customers_below(device)
    assert outage.customers_out == outage.customers
    assert outage.state in ("probable", "confirmed")


def test_a_few_lost_meters_raise_no_phantom_zonal_outage(model: GridModel, field: Field) -> None:
    """Two dark meters on different transformers of a lateral are two individual outages, not the lateral."""
    fuse = first_of(model, "fuse", with_meters=20)
    transformers = [t for t in model.devices_of_kind("transformer") if fuse in model.upstream(t)]
    meters = [model.meters_of_transformer(t)[0] for t in transformers[:2]]
    out = latest(
        run(OutageCorrelator(model), [field.meter(m, T0, "last_gasp") for m in meters], T0 + 30 * SECOND)
    )
    assert sorted(o.device for o in out.values()) == sorted(meters)
    assert {o.scope for o in out.values()} == {"individual"}


def test_meters_that_still_report_count_against_a_street_outage(model: GridModel, field: Field) -> None:
    transformer = first_of(model, "transformer", with_meters=6)
    meters = model.meters_of_transformer(transformer)
    alive = OutageEvent(feeder=model.feeder_of(transformer), device=transformer, ts=T0 + 2 * SECOND,
                        source="ami", event="alive", value=3.0)  # fmt: skip
    events = [field.meter(m, T0, "last_gasp") for m in meters[:2]] + [alive]
    out = latest(run(OutageCorrelator(model), events, T0 + 30 * SECOND))
    assert {o.scope for o in out.values()} == {"individual"}


def test_lost_last_gasps_still_find_the_lateral(model: GridModel) -> None:
    fuse = first_of(model, "fuse", with_meters=20)
    hits = 0
    for seed in range(10):
        out = latest(
            run(OutageCorrelator(model), Field(model, seed).gasps(fuse, T0, loss=0.3), T0 + 30 * SECOND)
        )
        hits += [o.device for o in out.values()] == [fuse]
    assert hits >= 9


def test_a_second_transformer_on_the_lateral_grows_the_outage(model: GridModel, field: Field) -> None:
    fuse = first_of(model, "fuse", with_meters=20)
    transformers = [t for t in model.devices_of_kind("transformer") if fuse in model.upstream(t)]
    correlator = OutageCorrelator(model)
    first = run(correlator, field.gasps(transformers[0], T0))
    first += correlator.process(
        [field.meter(model.meters_below(transformers[0])[0], T0 + 8 * SECOND, "ping_fail")]
    )
    assert [o.device for o in first] == [transformers[0]]
    rest = [e for t in transformers[1:] for e in field.gasps(t, T0 + 3 * SECOND)]
    grown = run(correlator, rest, T0 + 60 * SECOND)
    out = latest(first + grown)
    assert len(out) == 1
    (outage,) = out.values()
    assert outage.id == first[0].id  # the raised outage grew: same id, now at the fuse
    assert (outage.device, outage.customers) == (fuse, model.customers_below(fuse))


def test_a_fuse_outage_nests_inside_a_later_recloser_trip(model: GridModel, field: Field) -> None:
    recloser = first_of(model, "recloser", with_meters=50)
    fuse = next(f for f in model.devices_of_kind("fuse") if recloser in model.upstream(f))
    correlator = OutageCorrelator(model)
    records = run(correlator, field.gasps(fuse, T0, loss=0.2))
    later = T0 + 120 * SECOND
    trip = [field.scada(recloser, later, "trip"), field.scada(recloser, later + 2 * SECOND, "lockout")]
    records += run(correlator, trip + field.gasps(recloser, later, loss=0.2), later + 30 * SECOND)
    out = {o.device: o for o in latest(records).values()}
    assert set(out) == {fuse, recloser}
    assert out[fuse].parent == out[recloser].id
    assert out[recloser].confirmed_by == ["ami", "scada"]
    assert correlator.active_outage_for(model.meters_below(fuse)[0]) == out[fuse].id
    # the recloser closes: its customers are back except the fuse's, which stay with the fuse outage
    close = later + 400 * SECOND
    records += run(
        correlator,
        [field.scada(recloser, close, "close"), *field.restored(recloser, close, skip_below=fuse)],
        close + 120 * SECOND,
    )
    out = {o.device: o for o in latest(records).values()}
    assert (out[recloser].state, out[recloser].customers_out) == ("restored", 0)
    assert out[fuse].state in ("probable", "confirmed") and out[fuse].customers_out == model.customers_below(
        fuse
    )


def test_a_recloser_cycle_is_momentary_not_sustained(model: GridModel, field: Field) -> None:
    recloser = first_of(model, "recloser", with_meters=50)
    events = [field.scada(recloser, T0, "trip"), field.scada(recloser, T0 + 20 * SECOND, "reclose")]
    events += field.gasps(recloser, T0, loss=0.2) + field.restored(recloser, T0 + 21 * SECOND)
    records = run(OutageCorrelator(model), events, T0 + 400 * SECOND)
    assert [r.state for r in records] == ["momentary"]  # never raised as a sustained outage
    assert records[0].end_ns == T0 + 21 * SECOND


def test_a_momentary_over_before_its_gasps_are_located_is_still_one_momentary(model: GridModel) -> None:
    """The SCADA trip is lost and power is back before the window closes: 'power restored' is no proof that
    the area had power (those meters were out), so the recloser is blamed, once, as a momentary."""
    recloser = first_of(model, "recloser", with_meters=50)
    field = Field(model, seed=4)
    events = field.gasps(recloser, T0, loss=0.2) + field.restored(recloser, T0 + 3 * SECOND)
    events.append(tick(model, model.feeder_of(recloser), T0 + 20 * SECOND))
    out = latest(run(OutageCorrelator(model), events, T0 + 400 * SECOND))
    assert [(o.device, o.state) for o in out.values()] == [(recloser, "momentary")]


def test_a_locked_out_recloser_is_raised_within_seconds(model: GridModel, field: Field) -> None:
    recloser = first_of(model, "recloser", with_meters=50)
    events = [field.scada(recloser, T0, "trip"), field.scada(recloser, T0 + SECOND, "reclose"),
              field.scada(recloser, T0 + 1200 * SECOND // 1000, "trip"), field.scada(recloser, T0 + 2 * SECOND, "lockout")]  # fmt: skip
    events += field.gasps(recloser, T0 + 1200 * SECOND // 1000, loss=0.2)
    elsewhere = next(
        b for b in model.devices_of_kind("breaker") if model.feeder_of(b) != model.feeder_of(recloser)
    )
    events.append(field.meter(model.meters_below(elsewhere)[0], T0 + 6 * SECOND, "ping_ok"))  # time moves on
    records = run(OutageCorrelator(model), events)
    assert [(r.device, r.state) for r in records] == [(recloser, "confirmed")]


def test_restoration_in_steps_tracks_customers_out(model: GridModel, field: Field) -> None:
    recloser = first_of(model, "recloser", with_meters=50)
    fuses = [f for f in model.devices_of_kind("fuse") if recloser in model.upstream(f)][:2]
    correlator = OutageCorrelator(model)
    records = run(correlator, field.gasps(recloser, T0, loss=0.2))
    records += run(correlator, [tick(model, field.model.feeder_of(recloser), T0 + 10 * SECOND)])
    total = model.customers_below(recloser)
    step1 = T0 + 400 * SECOND
    back = [
        e for e in field.restored(recloser, step1) if not any(f in model.upstream(e.device) for f in fuses)
    ]
    records += run(correlator, back + [field.meter(back[0].device, step1 + 5 * SECOND, "ping_ok")])
    mid = latest(records)[records[0].id]
    assert mid.state == "restoring"
    assert mid.customers_out == sum(model.customers_below(f) for f in fuses)
    step2 = T0 + 900 * SECOND
    records += run(correlator, [e for f in fuses for e in field.restored(f, step2)], step2 + 5 * SECOND)
    final = latest(records)[records[0].id]
    assert (final.state, final.customers_out, final.customers, final.end_ns) == ("restored", 0, total, step2)
    versions = [r.customers_out for r in records if r.id == final.id]
    assert versions == sorted(versions, reverse=True) and len(set(versions)) >= 3
    # IEEE 1366 customer-minutes follow the steps: everyone until step 1, the fuses' customers until step 2
    fused = sum(model.customers_below(f) for f in fuses)
    expected = (total * (step1 - final.start_ns) + fused * (step2 - step1)) / (60 * SECOND)
    minutes = correlator.customer_minutes()[final.id]
    assert minutes == pytest.approx(expected, rel=1e-3)
    peak_minutes = total * (step2 - final.start_ns) / (60 * SECOND)
    system = reliability(records, model, T0 - SECOND, step2, {final.id: minutes})[0]
    assert system.customer_minutes == pytest.approx(minutes) and minutes < peak_minutes
    assert reliability(records, model, T0 - SECOND, step2)[0].customer_minutes == pytest.approx(peak_minutes)


def test_duplicate_and_late_events_change_nothing(model: GridModel) -> None:
    transformer = first_of(model, "transformer", with_meters=6)
    field = Field(model, seed=3)
    gasps = field.gasps(transformer, T0, loss=0.2)
    restored = field.restored(transformer, T0 + 600 * SECOND)
    clean = run(OutageCorrelator(model), gasps + restored, T0 + 1200 * SECOND)
    late_gasp = field.meter(model.meters_of_transformer(transformer)[0], T0 + SECOND // 10, "last_gasp")
    messy = gasps[::-1] + gasps[:3] + restored + restored[:2] + [late_gasp]  # reversed, duplicated, read late
    correlator = OutageCorrelator(model)
    out = correlator.process(messy[: len(gasps) + 3])
    out += correlator.process(messy[len(gasps) + 3 :])
    out += correlator.flush(T0 + 1200 * SECOND)
    assert latest(out) == latest(clean)
    assert [o.state for o in latest(out).values()] == ["restored"]


def test_ids_are_deterministic_and_a_restart_does_not_reraise(model: GridModel) -> None:
    fuse = first_of(model, "fuse", with_meters=20)
    field = Field(model, seed=5)
    first = OutageCorrelator(model)
    records = run(first, field.gasps(fuse, T0, loss=0.2), T0 + 30 * SECOND)
    again = run(OutageCorrelator(model), field.gasps(fuse, T0, loss=0.2), T0 + 30 * SECOND)
    assert [r.id for r in records] == [r.id for r in again]
    resumed = OutageCorrelator(model)
    resumed.restore(first.snapshot())
    assert resumed.process(field.gasps(fuse, T0, loss=0.2)) == []  # replayed input: nothing new
    restored = run(resumed, field.restored(fuse, T0 + 900 * SECOND), T0 + 1000 * SECOND)
    assert [(r.id, r.version, r.state) for r in restored] == [
        (records[-1].id, records[-1].version + 1, "restored")
    ]


def test_storm_updates_are_coalesced_per_outage(model: GridModel) -> None:
    breaker = first_of(model, "breaker", with_meters=100)
    field = Field(model, seed=7)
    gasps = field.gasps(breaker, T0, loss=0.2)  # stamped within 0.2 s: the breaker opened once
    arrival = np.linspace(0, 30, len(gasps))  # ... but a congested head-end delivers them over 30 s
    correlator = OutageCorrelator(model, CorrelatorConfig(update_interval_s=1.0))
    records: list[Outage] = []
    for start in range(0, len(gasps), 25):  # many small batches, as from the topic
        now = T0 + int(arrival[start] * SECOND)
        records += correlator.process(
            gasps[start : start + 25] + [tick(model, model.feeder_of(breaker), now)]
        )
    records += correlator.flush(T0 + 40 * SECOND)
    out = latest(records)
    assert [o.device for o in out.values()] == [breaker]
    assert len(records) <= 40  # ≤ one update per outage per second of event time, not one per meter


def test_fuses_blowing_seconds_apart_are_separate_outages_not_their_recloser(model: GridModel) -> None:
    """Every lateral of a recloser dark within 20 s: their gasps' onsets disagree, so each fuse is blamed."""
    recloser = first_of(model, "recloser", with_meters=40)
    fuses = [f for f in model.devices_of_kind("fuse") if recloser in model.upstream(f)]
    fuses = [f for f in fuses if model.meters_below(f)]
    below = {m for f in fuses for m in model.meters_below(f)}
    assert below == set(model.meters_below(recloser))  # nothing but laterals: AMI alone could blame it
    events = []
    for n, fuse in enumerate(fuses):
        events += Field(model, seed=n).gasps(fuse, T0 + n * 3 * SECOND, loss=0.2)
    feeder = model.feeder_of(recloser)
    correlator = OutageCorrelator(model)
    records: list[Outage] = []
    for second in range(3 * len(fuses) + 10):  # delivered as they come, a second at a time
        now = T0 + second * SECOND
        batch = [e for e in events if now - SECOND <= e.ts < now]
        records += correlator.process(sorted(batch, key=lambda e: e.ts) + [tick(model, feeder, now)])
    records += correlator.flush(T0 + 120 * SECOND)
    out = latest(records)
    assert sorted(o.device for o in out.values()) == sorted(fuses)
    assert all(o.customers == model.customers_below(o.device) for o in out.values())
