"""The one writer every processor uses to put rows into ClickHouse: native column inserts, exactly once.

Exactly once under redelivery takes two layers. (1) Each insert carries an `insert_deduplication_token` made
from the table and the input offset ranges, so a retried block (same batch boundaries) is dropped by
ClickHouse, in the table and in its rollups. (2) Raw tables carry `_topic/_partition/_offset`; the sink keeps
a per-(topic, partition) high-water offset, loaded from ClickHouse when it cannot know it (first sight of a
partition, or a batch that does not follow the last one it wrote), and drops rows at or below it, so a
redelivered batch with different boundaries is not doubled either.

The caller awaits `write` before it lets Kafka commit the input offsets: awaiting is the backpressure, and a
`StorageError` (ClickHouse down for longer than the retry policy) stops the worker with nothing committed.

What the caller passes, column by column, in `column_names` order:
- `DateTime64` columns (`ts`): numpy int64 nanoseconds since the epoch, UTC (or datetimes);
- numbers: numpy arrays (int or float). Absent optional floats are NaN and are stored as NaN (raw tables
  use plain `Float64`, not `Nullable`); absent `interval_s` is -1;
- strings, arrays and nullable columns: Python lists (None for NULL);
- `row_partition`/`row_offset`: the Kafka partition and offset each row came from (numpy ints), or None
  for tables without `_partition/_offset` (state tables: they rely on the token and on their version).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import compress
from typing import Any

import numpy as np
from clickhouse_connect.driver.exceptions import DataError, OperationalError, ProgrammingError
from clickhouse_connect.driver.insert import InsertContext

from gridmon.errors import StorageError
from gridmon.store.client import check_identifier, first_line

log = logging.getLogger(__name__)

# Server error codes where the same insert may succeed later (overload, network, merges behind).
TRANSIENT_CODES = frozenset({3, 159, 202, 203, 209, 210, 241, 242, 252, 285, 319, 425, 999})
# Server error codes that say the data itself is wrong: bisect to find the rows.
DATA_CODES = frozenset({6, 26, 27, 38, 41, 53, 69, 70, 72, 117, 131, 190, 321, 469, 1001})
CODE_IN_MESSAGE = re.compile(r"Code: (\d+)")
INSERT_SETTINGS = {
    # Rollups (materialized views) must skip a deduplicated block too, or they would count it twice.
    "deduplicate_blocks_in_dependent_materialized_views": 1,
    # A backfill of meter reads may span many days (one partition per day).
    "max_partitions_per_insert_block": 400,
}


@dataclass(frozen=True)
class OffsetRange:
    """The input messages a batch derives from: `first`..`last` (inclusive) of one topic partition."""

    topic: str
    partition: int
    first: int
    last: int


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff for connection and server errors; after `attempts` tries the write fails."""

    attempts: int = 6
    initial_delay_s: float = 0.2
    max_delay_s: float = 5.0
    multiplier: float = 2.0

    def delays(self) -> Iterator[float]:
        """The pause before each retry (one fewer than the attempts)."""
        delay = self.initial_delay_s
        for _ in range(self.attempts - 1):
            yield min(delay, self.max_delay_s)
            delay *= self.multiplier


@dataclass
class WriteResult:
    """`written` rows went in; `replayed` rows were already stored (redelivery); `rejected` rows the server
    refused, as (index in the caller's columns, server message): dead-letter them as `sink_rejected`."""

    written: int = 0
    replayed: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)


class _Rejected(Exception):
    """ClickHouse refused the data of an insert (not a fault of the connection or the server)."""


class BatchSink:
    """Writes column batches into one table, exactly once per input offset, with retries and bisection."""

    def __init__(
        self, client: Any, table: str, column_names: Sequence[str], *, retry: RetryPolicy | None = None
    ) -> None:
        self.client = client
        self.table = check_identifier(table, "table")
        self.column_names = list(column_names)
        self.retry = retry or RetryPolicy()
        self._types: list[Any] | None = None
        self._types_lock = threading.Lock()
        self._high_water: dict[tuple[str, int], int] = {}
        self._next_first: dict[tuple[str, int], int] = {}

    async def write(
        self,
        columns: Sequence[Sequence[Any] | np.ndarray],
        offsets: Sequence[OffsetRange],
        row_partition: np.ndarray | None = None,
        row_offset: np.ndarray | None = None,
    ) -> WriteResult:
        """Insert the rows not stored yet; returns when ClickHouse confirmed them (run in a worker thread)."""
        return await asyncio.to_thread(self.write_sync, columns, offsets, row_partition, row_offset)

    def write_sync(
        self,
        columns: Sequence[Sequence[Any] | np.ndarray],
        offsets: Sequence[OffsetRange],
        row_partition: np.ndarray | None = None,
        row_offset: np.ndarray | None = None,
    ) -> WriteResult:
        if len(columns) != len(self.column_names):
            raise StorageError(
                f"{self.table}: got {len(columns)} columns for {len(self.column_names)} names (a gridmon bug)"
            )
        rows = len(columns[0]) if columns else 0
        kept = self._new_rows(rows, offsets, row_partition, row_offset)
        data = columns if kept is None else [_take(column, kept) for column in columns]
        result = WriteResult(replayed=0 if kept is None else rows - len(kept))
        todo = rows - result.replayed
        if todo:
            self._write_rows(data, 0, todo, dedup_token(self.table, offsets, todo), result.rejected)
        if kept is not None:
            result.rejected = [(int(kept[index]), message) for index, message in result.rejected]
        result.written = todo - len(result.rejected)
        self._advance(offsets)
        return result

    # -- layer 2: drop replayed rows ------------------------------------------------------------------

    def _new_rows(
        self,
        rows: int,
        offsets: Sequence[OffsetRange],
        row_partition: np.ndarray | None,
        row_offset: np.ndarray | None,
    ) -> np.ndarray | None:
        """Indexes of the rows above the high-water offset of their partition (None: keep every row)."""
        if row_partition is None or row_offset is None or not rows:
            return None
        topics = {r.topic for r in offsets}
        if len(topics) > 1:
            raise StorageError(
                f"{self.table}: a batch with row offsets must come from one topic, got {topics}"
            )
        partitions = np.asarray(row_partition)
        positions = np.asarray(row_offset)
        replayed = np.zeros(rows, dtype=bool)
        for offset_range in offsets:
            high_water = self._high_water_for(offset_range)
            if high_water >= offset_range.first:
                replayed |= (partitions == offset_range.partition) & (positions <= high_water)
        return np.flatnonzero(~replayed) if replayed.any() else None

    def _high_water_for(self, offset_range: OffsetRange) -> int:
        """The last input offset stored for the range's partition; asks ClickHouse unless this batch
        follows the one this sink wrote last (then nothing else can have written in between)."""
        key = (offset_range.topic, offset_range.partition)
        if self._next_first.get(key) != offset_range.first:
            self._high_water[key] = self._stored_high_water(*key)
        return self._high_water.get(key, -1)

    def _stored_high_water(self, topic: str, partition: int) -> int:
        query = (
            f"SELECT max(_offset), count() FROM {self.table} "
            "WHERE _topic = {topic:String} AND _partition = {partition:UInt16}"
        )
        parameters = {"topic": topic, "partition": partition}
        highest, count = self._with_retry(
            lambda: self.client.query(query, parameters=parameters).result_rows[0]
        )
        return int(highest) if count else -1

    def _advance(self, offsets: Sequence[OffsetRange]) -> None:
        for offset_range in offsets:
            key = (offset_range.topic, offset_range.partition)
            self._high_water[key] = max(self._high_water.get(key, -1), offset_range.last)
            self._next_first[key] = offset_range.last + 1

    # -- inserts, bisection on rejected data ----------------------------------------------------------

    def _write_rows(
        self, data: Sequence[Any], lo: int, hi: int, token: str, rejected: list[tuple[int, str]]
    ) -> None:
        """Insert rows [lo, hi); if ClickHouse refuses the data, halve until the bad rows are alone."""
        try:
            self._with_retry(lambda: self._insert([_slice(c, lo, hi) for c in data], token))
        except _Rejected as exc:
            if hi - lo == 1:
                rejected.append((lo, str(exc)))
                return
            mid = (lo + hi) // 2
            log.info("%s: ClickHouse refused rows %d..%d, bisecting: %s", self.table, lo, hi - 1, exc)
            self._write_rows(data, lo, mid, f"{token}|{lo}:{mid}", rejected)
            self._write_rows(data, mid, hi, f"{token}|{mid}:{hi}", rejected)

    def _insert(self, data: Sequence[Any], token: str) -> None:
        types = self._column_types()
        int_times: dict[str, str | dict[str, str]] = {
            name: "int"
            for name, ch_type, column in zip(self.column_names, types, data, strict=True)
            if ch_type.base_type in ("DateTime64", "DateTime") and _is_int_array(column)
        }
        context = InsertContext(
            f"`{self.table}`",
            self.column_names,
            types,
            data=data,
            column_oriented=True,
            settings={**INSERT_SETTINGS, "insert_deduplication_token": token},
            column_formats=int_times,  # int64 nanoseconds go in as they are, no datetime objects per row
            server_tz=self.client.server_tz,
        )
        try:
            self.client.insert(context=context)
        except DataError as exc:  # the client could not encode a value for its column type
            raise _Rejected(first_line(exc)) from exc

    def _column_types(self) -> list[Any]:
        with self._types_lock:
            if self._types is None:
                context = self.client.create_insert_context(
                    self.table, self.column_names, column_oriented=True
                )
                self._types = list(context.column_types)
            return self._types

    def _with_retry(self, operation: Any) -> Any:
        delays = self.retry.delays()
        while True:
            try:
                return operation()
            except _Rejected:
                raise
            except Exception as exc:
                kind = classify(exc)
                if kind == "data":
                    raise _Rejected(first_line(exc)) from exc
                delay = next(delays, None) if kind == "transient" else None
                if delay is None:
                    raise self._failure(exc, kind) from exc
                log.warning("%s: ClickHouse error, retrying in %.1fs: %s", self.table, delay, first_line(exc))
                time.sleep(delay)

    def _failure(self, exc: Exception, kind: str) -> StorageError:
        if kind == "transient":
            return StorageError(
                f"ClickHouse did not accept rows for {self.table} after {self.retry.attempts} attempts: "
                f"{first_line(exc)}. Nothing was committed to Kafka: restart the worker when ClickHouse is back"
            )
        return StorageError(
            f"ClickHouse cannot store rows in {self.table}: {first_line(exc)}; run `gridmon db migrate` "
            "and check `gridmon db status`"
        )


def classify(exc: BaseException) -> str:
    """`transient` (retry), `data` (bisect, reject rows) or `fatal` (schema or programming error)."""
    if isinstance(exc, OperationalError):
        return "transient"
    if isinstance(exc, DataError):
        return "data"
    code = getattr(exc, "code", None)
    if code is None:
        match = CODE_IN_MESSAGE.search(str(exc))
        code = int(match.group(1)) if match else None
    if code == 252 and "partitions for single INSERT" in str(exc):
        return "data"
    if code in DATA_CODES:
        return "data"
    if code in TRANSIENT_CODES:
        return "transient"
    if code is None and (not isinstance(exc, ProgrammingError) or "closed" in str(exc)):
        return "transient"  # connection-level trouble with no server answer
    return "fatal"


def dedup_token(table: str, offsets: Sequence[OffsetRange], rows: int) -> str:
    """The same input ranges and row count always give the same token, whatever the order of the ranges.

    Rows that derive from no input offsets (e.g. windows closed at the end of a run) have no redelivery
    identity: they get a unique token, so two such writes of equal size are never taken for one another.
    """
    if not offsets:
        return f"{table}-unkeyed-{uuid.uuid4().hex}"
    spans = sorted(f"{r.topic}:{r.partition}:{r.first}-{r.last}" for r in offsets)
    digest = hashlib.sha256("|".join([table, *spans, str(rows)]).encode()).hexdigest()
    return f"{table}-{digest[:32]}"


def _is_int_array(column: Any) -> bool:
    return isinstance(column, np.ndarray) and column.dtype.kind in "iu"


def _take(column: Sequence[Any] | np.ndarray, indexes: np.ndarray) -> Any:
    if isinstance(column, np.ndarray):
        return column[indexes]
    mask = np.zeros(len(column), dtype=bool)
    mask[indexes] = True
    return list(compress(column, mask.tolist()))


def _slice(column: Sequence[Any] | np.ndarray, lo: int, hi: int) -> Any:
    if lo == 0 and hi == len(column):
        return column
    return column[lo:hi]
