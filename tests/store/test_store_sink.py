"""BatchSink on the embedded ClickHouse: exact values, exactly-once under replay, bad rows, outages."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from store_batches import BASE_NS, PMU_COLUMNS, concat, pmu_batch

from gridmon.errors import StorageError
from gridmon.settings import Settings
from gridmon.store.client import connect
from gridmon.store.sink import BatchSink, OffsetRange, RetryPolicy, WriteResult

FAST_RETRY = RetryPolicy(attempts=4, initial_delay_s=0.05, max_delay_s=0.2)


def write(sink: BatchSink, columns: dict[str, Any], ranges: list[OffsetRange]) -> WriteResult:
    data = [columns[name] for name in sink.column_names]
    return asyncio.run(sink.write(data, ranges, columns["_partition"], columns["_offset"]))


def write_batches(sink: BatchSink, topic: str, partition: int, first: int, last: int, size: int) -> None:
    for start in range(first, last + 1, size):
        stop = min(start + size - 1, last)
        write(sink, pmu_batch(topic, partition, start, stop), [OffsetRange(topic, partition, start, stop)])


def rows_per_offset(client: Any, table: str = "pmu_readings") -> dict[tuple[int, int], int]:
    query = f"SELECT _partition, _offset, count() FROM {table} GROUP BY _partition, _offset"
    return {(p, o): n for p, o, n in client.query(query).result_rows}


def test_values_round_trip_exactly(client: Any, topic: str) -> None:
    sink = BatchSink(client, "pmu_readings", PMU_COLUMNS)
    result = write(sink, pmu_batch(topic, 0, 10, 12), [OffsetRange(topic, 0, 10, 12)])
    assert (result.written, result.replayed, result.rejected) == (6, 0, [])
    rows = client.query(
        "SELECT device, toUnixTimestamp64Nano(ts), freq_hz, isNaN(va), sent_ns, _topic, _partition, _offset "
        "FROM pmu_readings ORDER BY _offset, device"
    ).result_rows
    assert rows[0] == ("pmu-0-0", BASE_NS + 10 * 33_333_333, 50.001, 1, BASE_NS + 10 * 33_333_333 + 1_000_000,
                       topic, 0, 10)  # fmt: skip
    assert [r[3] for r in rows] == [1, 0] * 3  # absent va is stored as NaN
    assert [r[7] for r in rows] == [10, 10, 11, 11, 12, 12]


def test_same_batches_three_times_store_each_row_once(client: Any, topic: str) -> None:
    sink = BatchSink(client, "pmu_readings", PMU_COLUMNS)
    for _ in range(3):
        write_batches(sink, topic, 0, 0, 49, size=10)
    assert rows_per_offset(client) == {(0, o): 2 for o in range(50)}


def test_replay_with_other_boundaries_after_restart_stores_each_row_once(client: Any, topic: str) -> None:
    write_batches(BatchSink(client, "pmu_readings", PMU_COLUMNS), topic, 1, 0, 59, size=10)
    # A new sink knows nothing (a restarted worker): it must learn the high water from ClickHouse.
    restarted = BatchSink(client, "pmu_readings", PMU_COLUMNS)
    write_batches(restarted, topic, 1, 25, 89, size=7)  # overlaps 25..59, then new rows 60..89
    write_batches(BatchSink(client, "pmu_readings", PMU_COLUMNS), topic, 1, 0, 89, size=13)
    assert rows_per_offset(client) == {(1, o): 2 for o in range(90)}


def test_replay_is_per_partition(client: Any, topic: str) -> None:
    sink = BatchSink(client, "pmu_readings", PMU_COLUMNS)
    write_batches(sink, topic, 0, 0, 9, size=5)
    both = concat(pmu_batch(topic, 0, 5, 14), pmu_batch(topic, 1, 0, 4))
    result = write(sink, both, [OffsetRange(topic, 0, 5, 14), OffsetRange(topic, 1, 0, 4)])
    assert (result.written, result.replayed) == (2 * 5 + 2 * 5, 2 * 5)
    expected = {(0, o): 2 for o in range(15)} | {(1, o): 2 for o in range(5)}
    assert rows_per_offset(client) == expected


def test_retried_block_is_dropped_by_its_token(client: Any, topic: str) -> None:
    """A state-table write has no row offsets: only the deduplication token protects it."""
    names = ["id", "version", "device", "zone", "feeder", "metric", "detector", "category", "severity",
             "state", "start_ns", "end_ns", "score", "value", "parent_outage", "group", "schema"]  # fmt: skip
    row = ["a1", 1, "pmu-1", "z1", "f1", "freq_hz", "limits", "grid", "major", "open", BASE_NS, None,
           3.5, 49.1, None, None, "gridmon.anomaly/1"]  # fmt: skip
    columns = [[value] for value in row]
    ranges = [OffsetRange(topic, 0, 100, 120)]
    for _ in range(3):
        asyncio.run(BatchSink(client, "anomalies", names).write(columns, ranges, None, None))
    assert client.query("SELECT count() FROM anomalies").result_rows == [(1,)]  # no FINAL: really one row


def test_bad_rows_are_isolated_and_the_rest_written(client: Any, topic: str) -> None:
    sink = BatchSink(client, "pmu_readings", PMU_COLUMNS)
    batch = pmu_batch(topic, 0, 0, 19)  # 40 rows
    batch["ts"][7] = 946_684_799 * 10**9  # 1999-12-31: violates the table's ts constraint (server side)
    batch["status"][30] = 70_000  # does not fit UInt16 (refused while encoding)
    result = write(sink, batch, [OffsetRange(topic, 0, 0, 19)])
    assert [index for index, _ in result.rejected] == [7, 30]
    assert "ts_after_2000" in result.rejected[0][1]
    assert "status" in result.rejected[1][1]
    assert result.written == 38
    assert sum(rows_per_offset(client).values()) == 38
    again = write(BatchSink(client, "pmu_readings", PMU_COLUMNS), batch, [OffsetRange(topic, 0, 0, 19)])
    assert (again.written, again.replayed) == (0, 40)
    assert sum(rows_per_offset(client).values()) == 38


def test_unknown_table_fails_at_once_with_advice(client: Any) -> None:
    sink = BatchSink(client, "no_such_table", ["x"], retry=FAST_RETRY)
    with pytest.raises(StorageError, match="gridmon db migrate"):
        asyncio.run(sink.write([[1]], [], None, None))


class ReopenableClient:
    """A real chdb client that the test closes (ClickHouse goes away) and reopens (it is back)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.real = connect(settings)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def go_down(self) -> None:
        self.real.close()

    def come_back(self) -> None:
        self.real = connect(self.settings)


def test_outage_retries_then_writes_once(client: Any, store_settings: Settings, topic: str) -> None:
    flaky = ReopenableClient(store_settings)
    sink = BatchSink(flaky, "pmu_readings", PMU_COLUMNS, retry=RetryPolicy(attempts=8, initial_delay_s=0.05))
    write_batches(sink, topic, 0, 0, 9, size=10)
    flaky.go_down()
    threading.Timer(0.3, flaky.come_back).start()
    result = write(sink, pmu_batch(topic, 0, 10, 19), [OffsetRange(topic, 0, 10, 19)])
    assert result.written == 20
    assert rows_per_offset(flaky) == {(0, o): 2 for o in range(20)}


def test_long_outage_raises_and_the_replay_loses_and_doubles_nothing(
    client: Any, store_settings: Settings, topic: str
) -> None:
    flaky = ReopenableClient(store_settings)
    sink = BatchSink(flaky, "pmu_readings", PMU_COLUMNS, retry=FAST_RETRY)
    write_batches(sink, topic, 0, 0, 9, size=10)
    flaky.go_down()
    with pytest.raises(StorageError, match="Nothing was committed"):
        write(sink, pmu_batch(topic, 0, 10, 19), [OffsetRange(topic, 0, 10, 19)])
    flaky.come_back()
    # Kafka redelivers from the last committed offset (10), with other boundaries, to a restarted worker.
    write_batches(BatchSink(flaky, "pmu_readings", PMU_COLUMNS), topic, 0, 10, 29, size=6)
    assert rows_per_offset(flaky) == {(0, o): 2 for o in range(30)}


def test_high_water_query_uses_no_scan_of_the_table(client: Any, topic: str) -> None:
    sink = BatchSink(client, "pmu_readings", PMU_COLUMNS)
    write_batches(sink, topic, 0, 0, 99, size=25)
    plan = client.query(
        "EXPLAIN SELECT max(_offset), count() FROM pmu_readings WHERE _topic = {t:String} AND _partition = 0",
        parameters={"t": topic},
    ).result_rows
    assert "offsets_high_water" in " ".join(str(row[0]) for row in plan)
    replay = write(BatchSink(client, "pmu_readings", PMU_COLUMNS), pmu_batch(topic, 0, 90, 109),
                   [OffsetRange(topic, 0, 90, 109)])  # fmt: skip
    assert (replay.replayed, replay.written) == (20, 20)
