"""Alarm continuity: an anomaly a worker published after its last checkpoint, read back from ClickHouse by the
worker that takes its devices over (or restarts from that checkpoint), is continued under its id and closes,
instead of being raised again while the published one stays open for ever. Real chdb; real detector banks."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import numpy as np
import pytest
from test_takeover import feed, frequency_alarms, frequency_step, pmu_seconds, pmus

from gridmon.detect.lifecycle import OpenAnomaly
from gridmon.grid import GridModel
from gridmon.grid.generate import generate
from gridmon.pipeline.assembly import assemble_components
from gridmon.pipeline.checkpoint import StateCheckpointer, components_of
from gridmon.pipeline.continuity import PublishedAlarms, resume_published
from gridmon.pipeline.runner import Components
from gridmon.pipeline.stages import record_columns
from gridmon.pipeline.writer import ClickHouseWriter
from gridmon.records import Anomaly
from gridmon.security.privacy import Privacy
from gridmon.settings import Settings
from gridmon.store.client import connect
from gridmon.store.migrations import migrate

PARTITIONS = {("t.grid.pmu", 0), ("t.grid.pmu", 1)}


@pytest.fixture(scope="module")
def model() -> GridModel:
    return generate("small", seed=1)


@pytest.fixture
def client(settings: Settings) -> Any:
    client = connect(settings)
    migrate(client)
    client.command("TRUNCATE TABLE IF EXISTS anomalies")
    client.command("TRUNCATE TABLE IF EXISTS state_checkpoints")
    return client


def checkpointer(client: Any, components: Components, worker: str) -> StateCheckpointer:
    offsets = {f"{topic}:{partition}": 100 for topic, partition in PARTITIONS}
    return StateCheckpointer(client, worker, components_of(components.detector, None), lambda: offsets)


def publish(client: Any, privacy: Privacy, anomalies: list[Anomaly]) -> None:
    """What the worker's outputs do with its anomalies: pseudonymise meters, insert into `anomalies`."""
    columns = record_columns(privacy.anomalies(anomalies), Anomaly)
    asyncio.run(ClickHouseWriter(client).write("anomalies", columns, ()))


def alarms_of(client: Any, components: Components, settings: Settings) -> PublishedAlarms:
    assert components.detector is not None
    pseudonyms = Privacy.from_settings(settings, components.registry).pseudonyms
    return PublishedAlarms(client, components.detector, components.registry, pseudonyms)


def test_an_anomaly_raised_after_the_checkpoint_is_continued_by_the_survivor(
    client: Any, model: GridModel, settings: Settings
) -> None:
    devices = pmus(model)
    target = str(model.ids[devices[1]])
    step = frequency_step(int(devices[1]), 61, 75)
    a = assemble_components(model)
    assert a.detector is not None
    feed(a.detector, pmu_seconds(devices, 0, 60, step))
    checkpointer(client, a, "w-a").save()  # the last checkpoint: nothing open yet
    opened = frequency_alarms(feed(a.detector, pmu_seconds(devices, 60, 66, step)), target)
    assert [x.state for x in opened] == ["open"]
    publish(client, Privacy.from_settings(settings, model), opened)  # ... published, and w-a dies

    def survivor(continuity: bool) -> list[Anomaly]:
        b = assemble_components(model)
        assert b.detector is not None
        taker = checkpointer(client, b, "w-b")
        assert taker.adopt(taker.others({("t.grid.pmu", 1)}), held=PARTITIONS) == {"detector": len(devices)}
        if continuity:
            assert asyncio.run(resume_published(alarms_of(client, b, settings))) == 1
        # w-a's last 6 s were committed: the survivor goes on from there
        return frequency_alarms(feed(b.detector, pmu_seconds(devices, 66, 90, step)), target)

    later = survivor(continuity=True)
    assert {x.id for x in later} == {opened[0].id}  # continued, not raised again
    assert later[-1].state == "closed" and later[-1].version > opened[-1].version
    without = survivor(continuity=False)  # what happened before: raised again, the published one left open
    assert without and opened[0].id not in {x.id for x in without}


def test_a_device_seen_after_the_anomaly_started_without_the_condition_is_not_taken(
    client: Any, model: GridModel, settings: Settings
) -> None:
    devices = pmus(model)
    target = str(model.ids[devices[1]])
    step = frequency_step(int(devices[1]), 61, 75)
    a = assemble_components(model)
    assert a.detector is not None
    opened = frequency_alarms(feed(a.detector, pmu_seconds(devices, 0, 66, step)), target)
    publish(client, Privacy.from_settings(settings, model), opened)

    b = assemble_components(model)  # another worker that has served the PMU until now, with no deviation
    assert b.detector is not None
    feed(b.detector, pmu_seconds(devices, 0, 80))
    assert asyncio.run(resume_published(alarms_of(client, b, settings))) == 1  # read, then judged per device
    feed(b.detector, pmu_seconds(devices, 80, 82))
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
