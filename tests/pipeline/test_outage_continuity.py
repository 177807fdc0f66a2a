"""Outage continuity through ClickHouse: a customer's outage published with its meter pseudonymised is read
back by the worker that takes its feeder over, mapped to the meter, continued under the published id and closed
by the meter's restore. Real chdb, real correlators, the worker's privacy."""

from __future__ import annotations

import asyncio
from typing import Any

from gridmon.grid import GridModel
from gridmon.outages import OutageCorrelator
from gridmon.pipeline.assembly import assemble_components
from gridmon.pipeline.continuity import PublishedAlarms, resume_published
from gridmon.pipeline.stages import record_columns
from gridmon.pipeline.writer import ClickHouseWriter
from gridmon.records import Outage, OutageEvent
from gridmon.security.privacy import Privacy
from gridmon.settings import Settings

SECOND = 1_000_000_000
T0 = 1_700_000_000 * SECOND


def event(model: GridModel, meter: str, ts: int, name: str) -> OutageEvent:
    return OutageEvent(feeder=model.feeder_of(meter), device=meter, ts=ts, source="ami", event=name)


def test_a_customer_outage_is_read_back_continued_and_closed(
    client: Any, model: GridModel, settings: Settings
) -> None:
    privacy = Privacy.from_settings(settings, model)
    meter = model.devices_of_kind("meter")[3]
    first = OutageCorrelator(model)
    located = first.process([event(model, meter, T0, "last_gasp")]) + first.flush(T0 + 90 * SECOND)
    published = privacy.outages([max(located, key=lambda o: o.version)])
    columns = record_columns(published, Outage)
    asyncio.run(ClickHouseWriter(client).write("outages", columns, ()))
    assert published[0].device != meter and meter not in published[0].id  # stored under its pseudonym

    survivor = assemble_components(model)
    assert survivor.detector is not None and survivor.correlator is not None
    alarms = PublishedAlarms(client, survivor.detector, model, privacy.pseudonyms, survivor.correlator)
    (read,) = alarms.read_outages()
    assert (read.id, read.device, read.version) == (published[0].id, meter, published[0].version)

    asyncio.run(resume_published(alarms))
    back = T0 + 600 * SECOND
    records = survivor.correlator.process([event(model, meter, back, "power_restored")])
    records += survivor.correlator.flush(back + 120 * SECOND)
    assert {r.id for r in records} == {published[0].id}  # continued, not raised again
    final = privacy.outages([max(records, key=lambda o: o.version)])[0]
    assert (final.id, final.device, final.state, final.end_ns) == (
        published[0].id,
        published[0].device,
        "restored",
        back,
    )
    assert final.version > published[0].version
