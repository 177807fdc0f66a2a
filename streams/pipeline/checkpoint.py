"""State checkpoints: detector baselines and open outages saved to ClickHouse every few seconds and at
shutdown, restored when a worker starts, so a restart neither forgets baselines nor re-raises alarms.

Snapshots are taken in the event loop between batches (stages change state synchronously), so each one is
a consistent picture; the insert runs in a worker thread. A checkpoint can be a little ahead of the Kafka
offsets committed when a worker dies: the few replayed batches then meet state that has already seen them
(open outages keep their id; a baseline moves by a few samples), which is why the offsets are recorded too.

When a worker is given partitions it did not hold (a rebalance: another worker died, left or joined), it
adopts from the newest checkpoints of the workers that processed them before (`take_over`): per device the
state of whoever saw it last, and the open outages of feeders it now serves (docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from clickhouse_connect.driver.exceptions import ClickHouseError

from gridmon.errors import GridmonError, StorageError
from gridmon.pipeline.consumer import BatchConsumer, Partitions
from gridmon.pipeline.continuity import PublishedAlarms, resume_published
from gridmon.store.client import first_line

log = logging.getLogger(__name__)
TABLE = "state_checkpoints"
COLUMNS = ["worker", "component", "saved_ns", "state", "offsets"]
Offsets = Callable[[], dict[str, int]]
# the correlator follows whole feeders, routed by feeder over this topic: it adopts another worker's outages
# only when it now holds every partition of this topic that worker processed (it serves all their feeders)
FEEDER_TOPIC = "gridmon.outage-events"
WHOLE_FEEDERS = {"outages"}


class Checkpointable(Protocol):
    """What can be checkpointed: `DetectorBank` and `OutageCorrelator` both are."""

    def snapshot(self) -> bytes: ...

    def restore(self, data: bytes, /) -> None: ...


class Adoptable(Protocol):
    """A component that can take over part of another worker's state: `adopt` returns how much it took."""

    def adopt(self, data: bytes, /) -> int: ...


@dataclass(frozen=True)
class Checkpoint:
    """Another worker's newest saved state of one component, and the partitions it had processed."""

    worker: str
    component: str
    state: bytes
    partitions: Partitions


@dataclass
class StateCheckpointer:
    """Saves and restores the named components of one worker in the `state_checkpoints` table.

    >>> checkpointer = StateCheckpointer(client, "worker-0", {"detector": bank})  # doctest: +SKIP
    >>> checkpointer.restore()  # at start: names of the components restored  # doctest: +SKIP
    >>> checkpointer.save()  # periodically and at shutdown  # doctest: +SKIP
    """

    client: Any
    worker: str
    components: Mapping[str, Checkpointable]
    offsets: Offsets = field(default=dict)
    saves: int = 0
    adopted: dict[str, int] = field(default_factory=dict)  # component -> devices / outages taken over

    def restore(self) -> list[str]:
        """Load the newest checkpoint of every component that has one; a cold start restores nothing."""
        rows = self._query(
            f"SELECT component, argMax(state, saved_ns) AS state FROM {TABLE} "
            "WHERE worker = {worker:String} GROUP BY component",
            {"worker": self.worker},
        )
        restored = []
        for component, state in rows:
            target = self.components.get(component)
            if target is None:
                continue
            target.restore(state)
            restored.append(component)
        log.info("worker %s restored state of %s", self.worker, restored or "nothing (cold start)")
        return sorted(restored)

    def others(self, partitions: Partitions) -> list[Checkpoint]:
        """The newest checkpoint of every component of every other worker that processed any of
        `partitions` (a worker of another group has other topic names, so it never matches)."""
        rows = self._query(
            f"SELECT worker, component, argMax(state, saved_ns) AS last_state, "
            f"argMax(offsets, saved_ns) AS last_offsets FROM {TABLE} WHERE worker != {{worker:String}} "
            "GROUP BY worker, component HAVING hasAny(mapKeys(last_offsets), {partitions:Array(String)}) "
            "ORDER BY worker, component",
            {"worker": self.worker, "partitions": sorted(_key(tp) for tp in partitions)},
            column_formats={"last_state": "bytes"},
        )
        return [Checkpoint(w, c, state, {_partition(k) for k in offsets}) for w, c, state, offsets in rows]

    def adopt(self, checkpoints: list[Checkpoint], held: Partitions) -> dict[str, int]:
        """Adopt the components' state from `checkpoints` (call from the event loop, between batches); a
        snapshot this worker cannot read is logged and skipped (those devices start cold)."""
        taken: dict[str, int] = {}
        for checkpoint in checkpoints:
            target = self.components.get(checkpoint.component)
            if not hasattr(target, "adopt") or not self._serves(checkpoint, held):
                continue
            try:
                count = target.adopt(checkpoint.state)  # type: ignore[union-attr]
            except GridmonError as exc:
                log.warning("worker %s cannot adopt %s of worker %s: %s", self.worker,
                            checkpoint.component, checkpoint.worker, exc)  # fmt: skip
                continue
            taken[checkpoint.component] = taken.get(checkpoint.component, 0) + count
            log.info("takeover: worker %s adopted %s of worker %s: %d", self.worker,
                     checkpoint.component, checkpoint.worker, count)  # fmt: skip
        for component, count in taken.items():
            self.adopted[component] = self.adopted.get(component, 0) + count
        return taken

    def _serves(self, checkpoint: Checkpoint, held: Partitions) -> bool:
        if checkpoint.component not in WHOLE_FEEDERS:
            return True
        feeder_partitions = {tp for tp in checkpoint.partitions if tp[0].endswith(FEEDER_TOPIC)}
        if feeder_partitions <= held:
            return True
        log.info("worker %s does not hold every feeder partition of worker %s: its outages stay with it",
                 self.worker, checkpoint.worker)  # fmt: skip
        return False

    def snapshot_rows(self) -> list[list[Any]]:
        """One row per component, taken now (call from the event loop, between batches)."""
        now = time.time_ns()
        offsets = self.offsets()
        return [
            [self.worker, name, now, component.snapshot(), offsets]
            for name, component in self.components.items()
        ]

    def write(self, rows: list[list[Any]]) -> None:
        try:
            self.client.insert(TABLE, rows, column_names=COLUMNS)
        except ClickHouseError as exc:
            raise StorageError(
                f"could not save the state checkpoint of worker {self.worker}: {first_line(exc)}; "
                "run `gridmon db migrate` and check ClickHouse"
            ) from exc
        self.saves += 1

    def save(self) -> None:
        self.write(self.snapshot_rows())

    def _query(
        self, sql: str, parameters: dict[str, Any], column_formats: dict[str, str] | None = None
    ) -> list[Any]:
        try:
            formats = column_formats or {"state": "bytes"}
            result = self.client.query(sql, parameters=parameters, column_formats=formats)
            return list(result.result_rows)
        except ClickHouseError as exc:
            raise StorageError(
                f"could not read the state checkpoints of worker {self.worker}: {first_line(exc)}; "
                "run `gridmon db migrate` (migration 0005 creates the table)"
            ) from exc


async def take_over(
    checkpointer: StateCheckpointer, alarms: PublishedAlarms | None, new: Partitions, held: Partitions
) -> dict[str, int]:
    """`BatchConsumer.on_takeover`: read the previous owners' checkpoints (in a thread), adopt them here, then
    the anomalies published as open that the adopted state may be too old to know (`continuity`)."""
    checkpoints = await asyncio.to_thread(checkpointer.others, new)
    taken = checkpointer.adopt(checkpoints, held)
    await resume_published(alarms)
    return taken


@contextlib.asynccontextmanager
async def checkpointing(
    checkpointer: StateCheckpointer,
    interval_s: float,
    consumer: BatchConsumer | None = None,
    alarms: PublishedAlarms | None = None,
) -> AsyncIterator[list[str]]:
    """Restore now, save every `interval_s` while the body runs and once more when it ends; with `consumer`,
    adopt the previous owners' state of every partition it is given that this worker did not hold, and with
    `alarms` continue the anomalies published since those checkpoints were taken (a restarted worker is given
    every partition anew, so this covers its own checkpoint too).

    Yields the names of the components restored. A failed periodic save is logged and retried at the next
    tick (state is a cache of the input history, the pipeline must not stop for it); the final save raises.
    """
    restored = await asyncio.to_thread(checkpointer.restore)
    if consumer is not None:
        consumer.on_takeover = partial(take_over, checkpointer, alarms)
    task = asyncio.create_task(_save_every(checkpointer, interval_s))
    try:
        yield restored
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await asyncio.to_thread(checkpointer.write, checkpointer.snapshot_rows())


async def _save_every(checkpointer: StateCheckpointer, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        rows = checkpointer.snapshot_rows()
        try:
            await asyncio.to_thread(checkpointer.write, rows)
        except StorageError as exc:
            log.warning("%s (retrying in %.0f s)", exc, interval_s)


def components_of(detector: Any, correlator: Any) -> dict[str, Checkpointable]:
    """The checkpointable parts of a worker's `Components` (either may be absent)."""
    named = {"detector": detector, "outages": correlator}
    return {name: part for name, part in named.items() if part is not None and hasattr(part, "snapshot")}


def progress_offsets(stages: list[Any]) -> Offsets:
    """A callable giving `topic:partition` → next offset processed, over the pipeline's stages."""

    def offsets() -> dict[str, int]:
        merged: dict[str, int] = {}
        for stage in stages:
            for (topic, partition), next_offset in stage.progress.next_offset.items():
                merged[_key((topic, partition))] = next_offset
        return merged

    return offsets


def _key(partition: tuple[str, int]) -> str:
    return f"{partition[0]}:{partition[1]}"


def _partition(key: str) -> tuple[str, int]:
    topic, number = key.rsplit(":", 1)
    return topic, int(number)
