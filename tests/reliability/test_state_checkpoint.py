"""Worker state survives a restart through ClickHouse: open outages continue (no re-raised alarm), detector
state comes back byte for byte, periodic saves happen, and a worker starts cold when it has no checkpoint."""

from __future__ import annotations

import asyncio

import pytest

from gridmon.grid import GridModel
from gridmon.grid.generate import generate
from gridmon.pipeline.assembly import assemble_components
from gridmon.pipeline.checkpoint import StateCheckpointer, checkpointing, components_of
from gridmon.pipeline.runner import Components
from gridmon.records import Outage, OutageEvent
from gridmon.settings import Settings
from gridmon.store.client import connect
from gridmon.store.migrations import migrate

SECOND = 1_000_000_000
T0 = 1_700_000_000 * SECOND


@pytest.fixture(scope="module")
def model() -> GridModel:
    return generate("small", seed=1)


def meter_events(model: GridModel, device: str, ts: int, event: str) -> list[OutageEvent]:
    return [
        OutageEvent(feeder=model.feeder_of(m), device=m, ts=ts + i, source="ami", event=event)
        for i, m in enumerate(model.meters_below(device))
    ]


def street_outage(model: GridModel) -> str:
    return next(d for d in model.devices_of_kind("transformer") if len(model.meters_below(d)) >= 4)


def checkpointer(client: object, components: Components, worker: str = "w1") -> StateCheckpointer:
    return StateCheckpointer(client, worker, components_of(components.detector, components.correlator))


def open_outage(model: GridModel, components: Components, transformer: str) -> Outage:
    correlator = components.correlator
    assert correlator is not None
    out = correlator.process(meter_events(model, transformer, T0, "last_gasp"))
    out += correlator.flush(T0 + 30 * SECOND)
    (outage,) = [o for o in out if o.device == transformer]
    return outage


def test_open_outage_continues_after_a_restart_without_being_raised_again(
    settings: Settings, model: GridModel
) -> None:
    client = connect(settings)
    migrate(client)
    transformer = street_outage(model)
    first = assemble_components(model)
    raised = open_outage(model, first, transformer)
    checkpointer(client, first).save()

    restarted = assemble_components(model)
    assert checkpointer(client, restarted).restore() == ["detector", "outages"]
    correlator = restarted.correlator
    assert correlator is not None
    assert [o.id for o in correlator.open_outages()] == [raised.id]
    replayed = correlator.process(meter_events(model, transformer, T0, "last_gasp"))  # redelivered batch
    replayed += correlator.flush(T0 + 40 * SECOND)
    assert {o.id for o in replayed} <= {raised.id}
    # restored after 6 minutes: a sustained outage (IEEE 1366: 5 minutes or less is momentary)
    back = correlator.process(meter_events(model, transformer, T0 + 360 * SECOND, "power_restored"))
    back += correlator.flush(T0 + 420 * SECOND)
    final = [o for o in back if o.device == transformer]
    assert final and {o.id for o in final} == {raised.id}
    assert final[-1].state in ("restored", "momentary") and final[-1].version > raised.version
    assert restarted.detector is not None and first.detector is not None
    assert restarted.detector.snapshot() == first.detector.snapshot()


def test_without_a_checkpoint_a_worker_starts_cold_and_workers_do_not_share_state(
    settings: Settings, model: GridModel
) -> None:
    client = connect(settings)
    migrate(client)
    first = assemble_components(model)
    open_outage(model, first, street_outage(model))
    checkpointer(client, first, worker="w1").save()
    other = assemble_components(model)
    assert checkpointer(client, other, worker="w2").restore() == []
    assert other.correlator is not None and other.correlator.open_outages() == []


def test_checkpointing_saves_periodically_and_at_the_end(settings: Settings, model: GridModel) -> None:
    client = connect(settings)
    migrate(client)
    components = assemble_components(model)
    saver = checkpointer(client, components)

    async def body() -> None:
        async with checkpointing(saver, interval_s=0.05) as restored:
            assert restored == []
            await asyncio.sleep(0.4)
            open_outage(model, components, street_outage(model))  # state changes while running

    asyncio.run(body())
    assert saver.saves >= 3
    restarted = assemble_components(model)
    checkpointer(client, restarted).restore()
    assert restarted.correlator is not None and len(restarted.correlator.open_outages()) == 1
    rows = client.query("SELECT count() FROM state_checkpoints FINAL").result_rows[0][0]
    assert rows == 2  # one current row per (worker, component)
