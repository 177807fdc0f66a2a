"""Alarm continuity: an anomaly a worker published after its last checkpoint, read back from ClickHouse by the
worker that takes its devices over (or restarts from that checkpoint), is continued under its id and closes,
instead of being raised again while the published one stays open for ever. Real chdb; real detector banks."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np
import pytest
from test_takeover import (
    Shape,
    checkpointer,
    feed,
    frequency_alarms,
    frequency_step,
    pmu_seconds,
    pmus,
    take_over,
)

from gridmon.detect.lifecycle import OpenAnomaly
from gridmon.grid import GridModel
from gridmon.pipeline.assembly import assemble_components
from gridmon.pipeline.continuity import PublishedAlarms, resume_published
from gridmon.pipeline.runner import Components
from gridmon.pipeline.stages import record_columns
from gridmon.pipeline.writer import ClickHouseWriter
from gridmon.records import Anomaly
from gridmon.security.privacy import Privacy
from gridmon.settings import Settings


@dataclass(frozen=True)
class Case:
    """The PMU whose frequency deviates from 61 s to 75 s of event time, among all the model's PMUs."""

    devices: np.ndarray
    target: str
    step: Shape


@pytest.fixture
def case(model: GridModel) -> Case:
    devices = pmus(model)
    return Case(devices, str(model.ids[devices[1]]), frequency_step(int(devices[1]), 61, 75))


def publish(client: Any, privacy: Privacy, anomalies: list[Anomaly]) -> None:
    """What the worker's outputs do with its anomalies: pseudonymise meters, insert into `anomalies`."""
    columns = record_columns(privacy.anomalies(anomalies), Anomaly)
    asyncio.run(ClickHouseWriter(client).write("anomalies", columns, ()))


def alarms_of(client: Any, components: Components, settings: Settings) -> PublishedAlarms:
    assert components.detector is not None
    pseudonyms = Privacy.from_settings(settings, components.registry).pseudonyms
    return PublishedAlarms(client, components.detector, components.registry, pseudonyms)


def raised_and_published(
    client: Any, model: GridModel, settings: Settings, case: Case, checkpoint_at_s: int | None = None
) -> list[Anomaly]:
    """Worker w-a raises the case's anomaly (open at 66 s) and publishes it; with `checkpoint_at_s`, it saved
    its state at that second, before the anomaly opened."""
    a = assemble_components(model)
    assert a.detector is not None
    start_s = 0
    if checkpoint_at_s is not None:
        feed(a.detector, pmu_seconds(case.devices, 0, checkpoint_at_s, case.step))
        checkpointer(client, a, "w-a").save()
        start_s = checkpoint_at_s
    opened = frequency_alarms(
        feed(a.detector, pmu_seconds(case.devices, start_s, 66, case.step)), case.target
    )
    assert [x.state for x in opened] == ["open"]
    publish(client, Privacy.from_settings(settings, model), opened)
    return opened


def test_an_anomaly_raised_after_the_checkpoint_is_continued_by_the_survivor(
    client: Any, model: GridModel, settings: Settings, case: Case
) -> None:
    opened = raised_and_published(client, model, settings, case, checkpoint_at_s=60)  # ... and w-a dies

    def survivor(continuity: bool) -> list[Anomaly]:
        b = assemble_components(model)
        assert b.detector is not None
        assert take_over(client, b) == {"detector": len(case.devices), "outages": 0}
        if continuity:
            assert asyncio.run(resume_published(alarms_of(client, b, settings))) == 1
        # w-a's last 6 s were committed: the survivor goes on from there
        return frequency_alarms(feed(b.detector, pmu_seconds(case.devices, 66, 90, case.step)), case.target)

    later = survivor(continuity=True)
    assert {x.id for x in later} == {opened[0].id}  # continued, not raised again
    assert later[-1].state == "closed" and later[-1].version > opened[-1].version
    without = survivor(continuity=False)  # what happened before: raised again, the published one left open
    assert without and opened[0].id not in {x.id for x in without}


def test_a_device_seen_after_the_anomaly_started_without_the_condition_is_not_taken(
    client: Any, model: GridModel, settings: Settings, case: Case
) -> None:
    raised_and_published(client, model, settings, case)

    b = assemble_components(model)  # another worker that has served the PMU until now, with no deviation
    assert b.detector is not None
    feed(b.detector, pmu_seconds(case.devices, 0, 80))
    assert asyncio.run(resume_published(alarms_of(client, b, settings))) == 1  # read, then judged per device
    feed(b.detector, pmu_seconds(case.devices, 80, 82))
    assert b.detector.resumed == 0 and b.detector.open_anomalies() == []


def test_a_meter_pseudonym_in_the_store_is_mapped_back_to_the_meter(
    client: Any, model: GridModel, settings: Settings
) -> None:
    meter = model.devices_of_kind("meter")[7]
    dev = int(model.index_of([meter])[0])
    record = Anomaly(
        id="a" * 24, version=3, device=meter, zone=model.zone_of(meter), feeder=model.feeder_of(meter),
        metric="voltage_v", detector="limits", category="grid", severity="major", state="open",
        start_ns=1_700_000_000 * 10**9, end_ns=None, score=4.5, value=251.0, parent_outage=None, group="a" * 24,
    )  # fmt: skip
    privacy = Privacy.from_settings(settings, model)
    publish(client, privacy, [record])
    stored = client.query("SELECT device FROM anomalies").result_rows
    assert stored[0][0] != meter  # the store holds the pseudonym only

    components = assemble_components(model)
    (published,) = alarms_of(client, components, settings).read()
    expected = OpenAnomaly(record.id, 3, record.start_ns, 3, 3, 4.5, 251.0, record.group, None)
    assert published[:3] == (dev, "limits", "voltage_v")
    assert msgspec.structs.asdict(published[3]) == msgspec.structs.asdict(expected)
    assert np.array_equal(components.registry.index_of([meter]), [dev])
