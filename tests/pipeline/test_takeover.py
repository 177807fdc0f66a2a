"""Takeover: a worker given another worker's partitions adopts that worker's checkpointed state from ClickHouse
(baselines, open anomalies, open outages), continues its alarms under the same ids, never overwrites its own
fresher state, and adopting twice changes nothing. Real chdb checkpoints; the last test runs the hook through
the batch consumer on the real embedded broker."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from gridmon.detect.bank import DetectorBank
from gridmon.grid import GridModel
from gridmon.grid.model import DeviceKind
from gridmon.ingest.messages import RawMessage
from gridmon.kafka.clients import make_producer
from gridmon.outages import OutageCorrelator
from gridmon.pipeline.assembly import assemble_components
from gridmon.pipeline.checkpoint import StateCheckpointer, checkpointing, components_of
from gridmon.pipeline.consumer import BatchConsumer
from gridmon.pipeline.runner import Components, prepare_topics
from gridmon.records import Anomaly, Outage, OutageEvent
from gridmon.settings import Settings

SECOND = 1_000_000_000
T0 = 1_700_000_000 * SECOND
FPS = 10
Shape = Callable[[dict[str, Any], np.ndarray], None]


def pmus(model: GridModel) -> np.ndarray:
    return model.indexes_of_kind(DeviceKind.PMU).astype(np.int32)


def pmu_seconds(
    devices: np.ndarray, start_s: int, end_s: int, shape: Shape | None = None
) -> Iterator[dict[str, Any]]:
    """One batch per second of event time for `devices` (model positions); `shape` injects a deviation."""
    rng = np.random.default_rng(start_s)
    for second in range(start_s, end_s):
        ts = np.tile(T0 + second * SECOND + np.arange(FPS) * SECOND // FPS, len(devices))
        device_idx = np.repeat(devices, FPS)
        va = 7200.0 * (1 + rng.normal(0, 0.001, len(ts)))
        columns = {
            "device_idx": device_idx,
            "ts": ts,
            "freq_hz": 60.0 + rng.normal(0, 0.003, len(ts)),
            "va": va,
            "vb": va * (1 + rng.normal(0, 0.001, len(ts))),
            "vc": va * (1 + rng.normal(0, 0.001, len(ts))),
        }
        if shape is not None:
            shape(columns, (ts - T0) / SECOND)
        yield columns


def frequency_step(device: int, from_s: float, to_s: float) -> Shape:
    def shape(columns: dict[str, Any], t: np.ndarray) -> None:
        hit = (columns["device_idx"] == device) & (t >= from_s) & (t < to_s)
        columns["freq_hz"][hit] += 0.06  # inside the frequency limits: only a learned baseline sees it

    return shape


def feed(bank: DetectorBank, batches: Iterator[dict[str, Any]]) -> list[Anomaly]:
    out: list[Anomaly] = []
    for columns in batches:
        out += bank.process("pmu", columns)
    return out


def frequency_alarms(anomalies: list[Anomaly], device: str) -> list[Anomaly]:
    return [a for a in anomalies if a.device == device and (a.detector, a.metric) == ("baseline", "freq_hz")]


def meter_events(model: GridModel, device: str, ts: int, event: str) -> list[OutageEvent]:
    return [
        OutageEvent(feeder=model.feeder_of(m), device=m, ts=ts + i, source="ami", event=event)
        for i, m in enumerate(model.meters_below(device))
    ]


def street_outage(model: GridModel, correlator: OutageCorrelator) -> Outage:
    transformer = next(d for d in model.devices_of_kind("transformer") if len(model.meters_below(d)) >= 4)
    out = correlator.process(meter_events(model, transformer, T0, "last_gasp"))
    out += correlator.flush(T0 + 30 * SECOND)
    (outage,) = [o for o in out if o.device == transformer]
    return outage


PARTITIONS = {("t.grid.pmu", 0), ("t.grid.pmu", 1), ("t.gridmon.outage-events", 0)}


def checkpointer(client: Any, components: Components, worker: str) -> StateCheckpointer:
    offsets = {f"{topic}:{partition}": 100 for topic, partition in PARTITIONS}
    return StateCheckpointer(
        client, worker, components_of(components.detector, components.correlator), lambda: offsets
    )


def take_over(client: Any, components: Components, worker: str = "w-b") -> dict[str, int]:
    taker = checkpointer(client, components, worker)
    return taker.adopt(taker.others({("t.grid.pmu", 1)}), held=PARTITIONS)


def test_a_baseline_learned_by_a_is_used_by_b_after_takeover(client: Any, model: GridModel) -> None:
    devices = pmus(model)
    target = str(model.ids[devices[2]])
    a = assemble_components(model)
    assert a.detector is not None
    feed(a.detector, pmu_seconds(devices, 0, 60))  # 600 samples per PMU: warm
    checkpointer(client, a, "w-a").save()

    b, cold = assemble_components(model), assemble_components(model)
    assert b.detector is not None and cold.detector is not None
    assert take_over(client, b) == {"detector": len(devices), "outages": 0}
    step = frequency_step(int(devices[2]), 61, 65)
    on_a = frequency_alarms(feed(a.detector, pmu_seconds(devices, 60, 70, step)), target)
    on_b = frequency_alarms(feed(b.detector, pmu_seconds(devices, 60, 70, step)), target)
    on_cold = frequency_alarms(feed(cold.detector, pmu_seconds(devices, 60, 70, step)), target)
    assert on_a and [(x.id, x.state) for x in on_b] == [(x.id, x.state) for x in on_a]
    assert on_cold == []  # what a takeover without state gave: warm-up, the deviation is missed


def test_open_anomaly_and_open_outage_of_a_are_continued_by_b_and_close(
    client: Any, model: GridModel
) -> None:
    devices = pmus(model)
    target = str(model.ids[devices[1]])
    step = frequency_step(int(devices[1]), 61, 75)
    a = assemble_components(model)
    assert a.detector is not None and a.correlator is not None
    opened = frequency_alarms(feed(a.detector, pmu_seconds(devices, 0, 66, step)), target)
    assert [x.state for x in opened] == ["open"]
    outage = street_outage(model, a.correlator)
    checkpointer(client, a, "w-a").save()  # ... and w-a dies

    b = assemble_components(model)
    assert b.detector is not None and b.correlator is not None
    assert take_over(client, b) == {"detector": len(devices), "outages": 1}
    assert [o.id for o in b.correlator.open_outages()] == [outage.id]
    later = frequency_alarms(feed(b.detector, pmu_seconds(devices, 66, 90, step)), target)
    assert {x.id for x in later} == {opened[0].id}  # continued, never raised again under a new id
    assert later[-1].state == "closed"
    assert min(x.version for x in later) > opened[-1].version  # its versions go on: the newest record wins
    back = b.correlator.process(meter_events(model, outage.device, T0 + 360 * SECOND, "power_restored"))
    back += b.correlator.flush(T0 + 420 * SECOND)
    mine = [o for o in back if o.device == outage.device]
    assert {o.id for o in mine} == {outage.id}
    assert mine[-1].state == "restored" and mine[-1].version > outage.version


def test_adopting_twice_changes_nothing_and_own_fresher_state_wins(client: Any, model: GridModel) -> None:
    devices = pmus(model)
    a = assemble_components(model)
    assert a.detector is not None and a.correlator is not None
    feed(a.detector, pmu_seconds(devices, 0, 60))
    street_outage(model, a.correlator)
    checkpointer(client, a, "w-a").save()

    b = assemble_components(model)
    assert b.detector is not None and b.correlator is not None
    own = devices[:1]  # b has served this PMU more recently than a (at another level)

    def higher(columns: dict[str, Any], t: np.ndarray) -> None:
        columns["freq_hz"] += 0.5

    feed(b.detector, pmu_seconds(own, 30, 90, higher))
    own_mean = b.detector.baseline.state("freq_hz").get("mean", own)
    assert take_over(client, b) == {"detector": len(devices) - 1, "outages": 1}
    after_first = (b.detector.snapshot(), b.correlator.snapshot())
    assert take_over(client, b) == {"detector": 0, "outages": 0}
    assert (b.detector.snapshot(), b.correlator.snapshot()) == after_first
    assert np.array_equal(b.detector.baseline.state("freq_hz").get("mean", own), own_mean)
    taken = devices[1:]
    their = a.detector.baseline.state("freq_hz")
    assert np.array_equal(b.detector.baseline.state("freq_hz").get("mean", taken), their.get("mean", taken))


def test_outages_stay_with_a_worker_whose_feeders_this_one_does_not_all_serve(
    client: Any, model: GridModel
) -> None:
    a = assemble_components(model)
    assert a.correlator is not None
    street_outage(model, a.correlator)
    checkpointer(client, a, "w-a").save()
    b = assemble_components(model)
    assert b.correlator is not None
    taker = checkpointer(client, b, "w-b")
    held = PARTITIONS - {("t.gridmon.outage-events", 0)}  # a third worker serves a's feeders now
    assert taker.adopt(taker.others({("t.grid.pmu", 1)}), held) == {"detector": 0}
    assert b.correlator.open_outages() == []
    assert taker.others({("u.grid.pmu", 1)}) == []  # another group's (topic prefix's) checkpoints: never


def test_the_consumer_adopts_the_previous_owners_state_before_the_first_batch(
    settings: Settings, client: Any, model: GridModel
) -> None:
    prepare_topics(settings, settings.kafka_bootstrap or "")
    topic = settings.topic("grid.pmu")
    devices = pmus(model)
    a = assemble_components(model)
    assert a.detector is not None
    feed(a.detector, pmu_seconds(devices, 0, 10))
    offsets = {f"{topic}:{partition}": 0 for partition in range(settings.partitions)}
    components = components_of(a.detector, None)
    StateCheckpointer(client, "w-a", components, lambda: offsets).save()

    b = assemble_components(model)
    taker = StateCheckpointer(client, "w-b", components_of(b.detector, b.correlator))
    producer = make_producer(settings, settings.kafka_bootstrap or "")
    for number in range(50):
        producer.produce(topic, key=str(number).encode(), value=b"{}")
    assert producer.flush(30) == 0
    adopted_at_first_batch: list[dict[str, int]] = []

    async def stage(messages: Sequence[RawMessage]) -> None:
        adopted_at_first_batch.append(dict(taker.adopted))

    async def run() -> BatchConsumer:
        consumer = BatchConsumer(
            settings, settings.kafka_bootstrap or "", {topic: stage},
            group_id=settings.topic("takeover"), max_messages=100, window_s=0.2,
        )  # fmt: skip
        async with checkpointing(taker, interval_s=60, consumer=consumer):
            await consumer.start()
            try:
                while not adopted_at_first_batch:
                    await asyncio.sleep(0.05)
            finally:
                await consumer.stop()
        return consumer

    consumer = asyncio.run(run())
    assert consumer.stats.takeovers == 1
    assert adopted_at_first_batch[0] == {"detector": len(devices)}


def test_the_last_batch_is_committed_without_waiting_for_another(settings: Settings) -> None:
    """A rebalance waits until every fetched batch is committed: the last batch of a backlog must not wait for
    a next one that may never come (it stalled the takeover for the rebalance timeout, 60 s)."""
    prepare_topics(settings, settings.kafka_bootstrap or "")
    topic = settings.topic("grid.pmu")
    group = settings.topic("last-batch")
    producer = make_producer(settings, settings.kafka_bootstrap or "")
    for number in range(20):
        producer.produce(topic, key=str(number).encode(), value=b"{}", partition=0)
    assert producer.flush(30) == 0
    handled: list[int] = []

    async def stage(messages: Sequence[RawMessage]) -> None:
        handled.extend(m.offset for m in messages)

    async def run() -> int:
        consumer = BatchConsumer(
            settings, settings.kafka_bootstrap or "", {topic: stage},
            group_id=group, max_messages=100, window_s=0.2,
        )  # fmt: skip
        await consumer.start()
        try:
            for _ in range(200):  # up to 10 s
                await asyncio.sleep(0.05)
                if len(handled) == 20 and consumer.stats.commits:
                    break
            return consumer.stats.commits
        finally:
            await consumer.stop()

    assert asyncio.run(run()) >= 1  # committed while still running, not only when it stopped
