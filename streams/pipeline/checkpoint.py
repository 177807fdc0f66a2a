"""State checkpoints: detector baselines and open outages saved to ClickHouse every few seconds and at
shutdown, restored when a worker starts, so a restart neither forgets baselines nor re-raises alarms.

Snapshots are taken in the event loop between batches (stages change state synchronously), so each one is
a consistent picture; the insert runs in a worker thread. A checkpoint can be a little ahead of the Kafka
offsets committed when a worker dies: the few replayed batches then meet state that has already seen them
(open outages keep their id; a baseline moves by a few samples), which is why the offsets are recorded too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from clickhouse_connect.driver.exceptions import ClickHouseError

from gridmon.errors import StorageError
from gridmon.store.client import first_line

log = logging.getLogger(__name__)
TABLE = "state_checkpoints"
COLUMNS = ["worker", "component", "saved_ns", "state", "offsets"]
Offsets = Callable[[], dict[str, int]]


class Checkpointable(Protocol):
    """What can be checkpointed: `DetectorBank` and `OutageCorrelator` both are."""

    def snapshot(self) -> bytes: ...

    def restore(self, data: bytes, /) -> None: ...


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

    def _query(self, sql: str, parameters: dict[str, Any]) -> list[Any]:
        try:
            result = self.client.query(sql, parameters=parameters, column_formats={"state": "bytes"})
            return list(result.result_rows)
        except ClickHouseError as exc:
            raise StorageError(
                f"could not read the state checkpoints of worker {self.worker}: {first_line(exc)}; "
                "run `gridmon db migrate` (migration 0005 creates the table)"
            ) from exc


@contextlib.asynccontextmanager
async def checkpointing(checkpointer: StateCheckpointer, interval_s: float) -> AsyncIterator[list[str]]:
    """Restore now, save every `interval_s` while the body runs and once more when it ends.

    Yields the names of the components restored. A failed periodic save is logged and retried at the next
    tick (state is a cache of the input history, the pipeline must not stop for it); the final save raises.
    """
    restored = await asyncio.to_thread(checkpointer.restore)
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
                merged[f"{topic}:{partition}"] = next_offset
        return merged

    return offsets
