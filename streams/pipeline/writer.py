"""Adapts stage output (named columns + the messages they came from) to the one batching sink per table.

Every insert costs ClickHouse a new part in the table and in each of its materialized views (~30–60 ms in
embedded chdb, whatever the rows): the number of inserts, not rows, sets a worker's pace. Raw tables have one
stage each (one insert per batch, exactly-once by offsets). The shared tables (anomalies, dead letters,
outages) are written by every stage of a batch at once, so writes that meet are merged: group commit.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gridmon.ingest.messages import RawMessage
from gridmon.store.sink import BatchSink, OffsetRange


def offset_ranges(messages: Sequence[RawMessage]) -> list[OffsetRange]:
    """One range per (topic, partition) of the batch: the input positions these rows derive from."""
    bounds: dict[tuple[str, int], list[int]] = {}
    for message in messages:
        span = bounds.setdefault((message.topic, message.partition), [message.offset, message.offset])
        span[0] = min(span[0], message.offset)
        span[1] = max(span[1], message.offset)
    return [
        OffsetRange(topic, partition, first, last) for (topic, partition), (first, last) in bounds.items()
    ]


@dataclass
class _Pending:
    columns: list[Any]
    messages: Sequence[RawMessage]
    done: asyncio.Future[list[tuple[int, str]]]


@dataclass
class _Group:
    """Writes waiting for one table's next insert, and the task that inserts them."""

    pending: list[_Pending] = field(default_factory=list)
    flusher: asyncio.Future[None] | None = None


class ClickHouseWriter:
    """One BatchSink per table, created on first use with the table's own column list. All tables share the
    worker's client: a lane per table (`store.client.lane_of`) gained nothing end to end (docs/performance.md,
    "Lanes")."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self._sinks: dict[str, tuple[BatchSink, list[str]]] = {}
        self._groups: dict[str, _Group] = {}
        self.inserts = 0  # for benchmarks: how many inserts the writes cost

    def _sink(self, table: str, available: Sequence[str]) -> tuple[BatchSink, list[str]]:
        if table not in self._sinks:
            table_columns = [
                row[0]
                for row in self.client.query(
                    "SELECT name FROM system.columns WHERE database = currentDatabase() AND table = {table:String} "
                    "AND default_kind = '' ORDER BY position",
                    parameters={"table": table},
                ).result_rows
            ]
            names = [name for name in table_columns if name in available]
            self._sinks[table] = (BatchSink(self.client, table, names), names)
        return self._sinks[table]

    async def write(
        self, table: str, columns: dict[str, Any], messages: Sequence[RawMessage]
    ) -> list[tuple[int, str]]:
        sink, names = self._sink(table, list(columns))
        has_rows = len(columns[names[0]]) if names else 0
        if not has_rows:
            return []
        if "_partition" not in columns:  # no row offsets: merge with the other stages' writes
            return await self._group_commit(sink, [columns[name] for name in names], messages)
        self.inserts += 1
        result = await sink.write(
            [columns[name] for name in names],
            offset_ranges(messages),
            columns.get("_partition"),
            columns.get("_offset"),
        )
        return list(result.rejected)

    async def _group_commit(
        self, sink: BatchSink, columns: list[Any], messages: Sequence[RawMessage]
    ) -> list[tuple[int, str]]:
        """Queue the rows for the table's next insert; the first writer of a round starts it. The merged
        insert's token derives from every merged batch's offsets; these tables also collapse repeats by key
        (ReplacingMergeTree), so a replay merged differently is not doubled when read with FINAL."""
        group = self._groups.setdefault(sink.table, _Group())
        done: asyncio.Future[list[tuple[int, str]]] = asyncio.get_running_loop().create_future()
        group.pending.append(_Pending(columns, messages, done))
        if group.flusher is None or group.flusher.done():
            group.flusher = asyncio.ensure_future(self._flush(sink, group))
        return await done

    async def _flush(self, sink: BatchSink, group: _Group) -> None:
        while group.pending:
            await asyncio.sleep(0)  # the other stages of this batch reach their write in the same tick
            round_, group.pending = group.pending, []
            merged = [_concat([entry.columns[i] for entry in round_]) for i in range(len(sink.column_names))]
            offsets = offset_ranges(list(itertools.chain.from_iterable(e.messages for e in round_)))
            try:
                self.inserts += 1
                result = await sink.write(merged, offsets)
            except (
                BaseException
            ) as exc:  # every waiting stage fails with it (and the worker exits uncommitted)
                for entry in round_:
                    entry.done.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            start = 0
            for entry in round_:
                end = start + len(entry.columns[0])
                entry.done.set_result(
                    [(row - start, why) for row, why in result.rejected if start <= row < end]
                )
                start = end


def _concat(parts: list[Any]) -> Any:
    if len(parts) == 1:
        return parts[0]
    if all(isinstance(part, np.ndarray) for part in parts):
        return np.concatenate(parts)
    return list(itertools.chain.from_iterable(parts))
