"""Rollups agree with the raw rows, leave absent (NaN) values out, and stay exact when batches are replayed."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
from store_batches import BASE_NS, PMU_COLUMNS, pmu_batch

from gridmon.store.sink import BatchSink, OffsetRange

PMU_ROLLUP = (
    "SELECT device, sum(samples), min(freq_min), max(freq_max), round(avgMerge(freq_avg), 9), "
    "min(va_min), max(va_max) FROM {table} GROUP BY device ORDER BY device"
)
PMU_RAW = (
    "SELECT device, count(), min(freq_hz), max(freq_hz), round(avg(freq_hz), 9), min(va), max(va) "
    "FROM pmu_readings GROUP BY device ORDER BY device"
)


def write_pmu(client: Any, topic: str, first: int, last: int, size: int) -> None:
    sink = BatchSink(client, "pmu_readings", PMU_COLUMNS)
    for start in range(first, last + 1, size):
        stop = min(start + size - 1, last)
        batch = pmu_batch(topic, 0, start, stop)
        batch["va"] = np.nan_to_num(batch["va"], nan=229.0)  # PMU voltages are never absent
        data = [batch[name] for name in PMU_COLUMNS]
        asyncio.run(
            sink.write(data, [OffsetRange(topic, 0, start, stop)], batch["_partition"], batch["_offset"])
        )


@pytest.mark.parametrize("table", ["pmu_1s", "pmu_1m", "pmu_1h"])
def test_pmu_rollups_match_raw_rows_after_replays(client: Any, topic: str, table: str) -> None:
    for size in (40, 40, 17):  # the same offsets three times, the last with other boundaries
        write_pmu(client, topic, 0, 199, size)
    raw = client.query(PMU_RAW).result_rows
    assert raw[0][1] == 200
    assert client.query(PMU_ROLLUP.format(table=table)).result_rows == raw


def test_pmu_1s_buckets_by_second(client: Any, topic: str) -> None:
    write_pmu(client, topic, 0, 89, 30)  # 33.3 ms apart: 30 frames a second
    per_second = client.query("SELECT ts, sum(samples) FROM pmu_1s GROUP BY ts ORDER BY ts").result_rows
    raw = client.query(
        "SELECT toDateTime(toStartOfSecond(ts), 'UTC') AS second, count() FROM pmu_readings GROUP BY second "
        "ORDER BY second"
    ).result_rows
    assert per_second == raw
    assert [n for _, n in per_second] == [31 * 2, 30 * 2, 29 * 2]  # frame k at k * 33.333333 ms
    assert per_second[0][0].timestamp() == BASE_NS // 10**9


def test_sensor_rollup_leaves_absent_values_out(client: Any, topic: str) -> None:
    names = ["device", "ts", "voltage_v", "current_a", "temperature_c", "thd_pct", "sent_ns", "_topic",
             "_partition", "_offset"]  # fmt: skip
    n = 4
    columns = [["s1"] * n, BASE_NS + np.arange(n) * 10**9, np.array([230.0, np.nan, 240.0, np.nan]),
               np.full(n, np.nan), np.array([20.0, 21.0, 22.0, 23.0]), np.full(n, 1.5),
               np.zeros(n, dtype=np.int64), [topic] * n, np.zeros(n, dtype=np.int32), np.arange(n)]  # fmt: skip
    asyncio.run(
        BatchSink(client, "sensor_readings", names).write(
            columns, [OffsetRange(topic, 0, 0, n - 1)], columns[8], columns[9]
        )
    )
    row = client.query(
        "SELECT sum(samples), min(voltage_min), max(voltage_max), avgMerge(voltage_avg), max(current_max), "
        "avgMerge(current_avg), avgMerge(temperature_avg) FROM sensor_1m"
    ).result_rows[0]
    assert row[:4] == (4, 230.0, 240.0, 235.0)  # (230 + 240) / 2: the two NaN are not zeros
    assert row[4] is None and row[5] is None  # no current at all: NULL, not 0
    assert row[6] == pytest.approx((20 + 21 + 22 + 23) / 4)


def test_meter_rollup_has_no_meter_ids(client: Any, topic: str) -> None:
    names = ["device", "ts", "event", "kwh", "voltage_v", "interval_s", "sent_ns", "_topic", "_partition",
             "_offset"]  # fmt: skip
    n = 6
    columns = [[f"m{i % 3}" for i in range(n)], BASE_NS + np.arange(n) * 10**9,
               ["interval"] * 4 + ["last_gasp"] * 2, np.array([0.5, 0.25, 0.5, 0.25, np.nan, np.nan]),
               np.full(n, 231.0), np.array([900] * 4 + [-1] * 2), np.zeros(n, dtype=np.int64), [topic] * n,
               np.zeros(n, dtype=np.int32), np.arange(n)]  # fmt: skip
    sink = BatchSink(client, "meter_events", names)
    asyncio.run(sink.write(columns, [OffsetRange(topic, 0, 0, n - 1)], columns[8], columns[9]))
    rows = client.query(
        "SELECT event, sum(events), uniqMerge(meters), sum(kwh_sum) FROM meter_1h GROUP BY event ORDER BY event"
    ).result_rows
    assert rows == [("interval", 4, 3, 1.5), ("last_gasp", 2, 2, 0.0)]
    columns_of_rollup = {r[0] for r in client.query("DESCRIBE TABLE meter_1m").result_rows}
    assert "device" not in columns_of_rollup


def test_scada_rollup_keeps_the_last_value(client: Any, topic: str) -> None:
    names = ["device", "ts", "event", "point", "value", "phase", "sent_ns", "_topic", "_partition", "_offset"]
    n = 3
    columns = [["br1"] * n, BASE_NS + np.array([2, 0, 1]) * 10**9, ["analog"] * n, ["p_mw"] * n,
               np.array([3.0, 1.0, 2.0]), [None, "A", None], np.zeros(n, dtype=np.int64), [topic] * n,
               np.zeros(n, dtype=np.int32), np.arange(n)]  # fmt: skip
    sink = BatchSink(client, "scada_events", names)
    asyncio.run(sink.write(columns, [OffsetRange(topic, 0, 0, n - 1)], columns[8], columns[9]))
    row = client.query(
        "SELECT sum(events), argMaxMerge(value_last), max(value_max) FROM scada_1m"
    ).result_rows
    assert row == [(3, 3.0, 3.0)]  # latest by event time, not by arrival


def test_a_retried_block_is_not_counted_twice_by_the_rollups(client: Any, topic: str) -> None:
    """Without row offsets only the deduplication token protects the rollups (layer 1 alone)."""
    batch = pmu_batch(topic, 0, 0, 29)
    data = [batch[name] for name in PMU_COLUMNS]
    for _ in range(3):
        asyncio.run(
            BatchSink(client, "pmu_readings", PMU_COLUMNS).write(data, [OffsetRange(topic, 0, 0, 29)])
        )
    counts = client.query(
        "SELECT (SELECT count() FROM pmu_readings), (SELECT sum(samples) FROM pmu_1m), "
        "(SELECT sum(samples) FROM pmu_1h)"
    ).result_rows
    assert counts == [(60, 60, 60)]
