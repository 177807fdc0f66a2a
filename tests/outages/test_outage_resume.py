"""Outages published as open and read back after a takeover continue in the correlator that now owns their
feeder (same id, next version) and close with their restores, instead of staying open for ever while the
restores look like outages nobody saw."""

from __future__ import annotations

from outage_fields import SECOND, T0, Field, newest

from gridmon.grid import GridModel
from gridmon.outages import OutageCorrelator
from gridmon.records import Outage, OutageEvent

BACK = T0 + 400 * SECOND


def published_outage(model: GridModel, field: Field) -> tuple[str, Outage]:
    """A transformer outage the first owner located and published, then died (no checkpoint after it)."""
    transformer = next(t for t in model.devices_of_kind("transformer") if len(model.meters_below(t)) >= 3)
    first = OutageCorrelator(model)
    records = first.process([field.meter(m, T0, "last_gasp") for m in model.meters_below(transformer)])
    records += first.flush(T0 + 60 * SECOND)
    (record,) = newest(records).values()
    assert (record.device, record.state) == (transformer, "confirmed")
    return transformer, record


def after_takeover(model: GridModel, events: list[OutageEvent], published: list[Outage]) -> dict[str, Outage]:
    survivor = OutageCorrelator(model)
    survivor.await_resume(published)
    records = survivor.process(sorted(events, key=lambda e: e.ts))
    return newest(records + survivor.flush(BACK + 900 * SECOND))


def test_a_published_outage_continues_and_closes_with_its_restores(model: GridModel, field: Field) -> None:
    transformer, record = published_outage(model, field)
    restores = field.restored(transformer, BACK)
    outages = after_takeover(model, restores, [record])
    assert list(outages) == [record.id]  # no outage raised again, none made of its restores
    final = outages[record.id]
    assert final.state == "restored" and final.end_ns == BACK and final.version > record.version
    assert (final.start_ns, final.customers_out) == (record.start_ns, 0)


def test_without_the_read_back_the_restores_become_another_outage(model: GridModel, field: Field) -> None:
    transformer, record = published_outage(model, field)
    outages = after_takeover(model, field.restored(transformer, BACK), [])
    assert record.id not in outages and len(outages) == 1  # the published one would stay open for ever


def test_an_outage_waits_for_an_event_of_its_own_feeder(model: GridModel, field: Field) -> None:
    transformer, record = published_outage(model, field)
    elsewhere = next(m for m in model.devices_of_kind("meter") if model.feeder_of(m) != record.feeder)
    outages = after_takeover(model, [field.meter(elsewhere, BACK, "ping_ok")], [record])
    assert outages == {}  # another worker owns its feeder: this one says nothing about it
