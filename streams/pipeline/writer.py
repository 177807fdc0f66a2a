"""Adapts stage output (named columns + the messages they came from) to the one batching sink per table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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


class ClickHouseWriter:
    """One BatchSink per table, created on first use with the table's own column list."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self._sinks: dict[str, tuple[BatchSink, list[str]]] = {}

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
        result = await sink.write(
            [columns[name] for name in names],
            offset_ranges(messages),
            columns.get("_partition"),
            columns.get("_offset"),
        )
        return list(result.rejected)
