"""The real ingest output goes into every raw table through the pipeline's writer, exactly once, values intact."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import pytest

from gridmon.ingest import IngestProcessor, RawMessage
from gridmon.ingest.validate import SetRegistry
from gridmon.pipeline.stages import record_columns
from gridmon.pipeline.writer import ClickHouseWriter
from gridmon.records import DeadLetter
from gridmon.settings import load_settings
from gridmon.store.tables import RAW_TABLES

NOW = time.time_ns() - 60 * 10**9
READINGS = {
    "pmu": [{"device": "pmu-1", "ts": NOW, "freq_hz": 50.01, "va": 230.0, "status": 3}],
    "sensor": [{"device": "s-1", "ts": NOW, "voltage_v": 231.0}, {"device": "s-1", "ts": NOW + 1, "thd_pct": 2.5}],
    "meter": [{"device": "m-1", "ts": NOW, "kwh": 0.25, "interval_s": 900},
              {"device": "m-1", "ts": NOW + 5, "event": "last_gasp"}],
    "scada": [{"device": "brk-1", "ts": NOW, "event": "trip", "phase": "A"},
              {"device": "brk-1", "ts": NOW + 1, "event": "analog", "point": "p_mw", "value": 1.5}],
}  # fmt: skip
DEVICES = ["pmu-1", "s-1", "m-1", "brk-1"]


def messages(kind: str) -> list[RawMessage]:
    good = orjson.dumps({"readings": READINGS[kind], "source": "gw", "sent_ns": NOW + 10})
    unknown = orjson.dumps({"readings": [dict(READINGS[kind][0], device="nobody")], "sent_ns": NOW})
    return [RawMessage(f"grid.{kind}", 0, 40, good), RawMessage(f"grid.{kind}", 0, 41, unknown)]


@pytest.mark.parametrize("kind", list(RAW_TABLES))
def test_ingest_columns_go_in_exactly_once(client: Any, kind: str) -> None:
    processor = IngestProcessor(kind, load_settings(), SetRegistry(DEVICES))
    writer = ClickHouseWriter(client)
    table = RAW_TABLES[kind]
    for _ in range(3):  # redelivered twice
        batch = processor.process(messages(kind))
        assert batch.accepted == len(READINGS[kind]) and len(batch.dead_letters) == 1
        assert asyncio.run(writer.write(table, batch.columns, messages(kind))) == []
        letters = record_columns(batch.dead_letters, DeadLetter)
        asyncio.run(writer.write("dead_letters", letters, messages(kind)))
    rows = client.query(
        f"SELECT device, toUnixTimestamp64Nano(ts), sent_ns, _topic, _offset FROM {table} ORDER BY ts"
    ).result_rows
    assert [row[1] for row in rows] == [r["ts"] for r in READINGS[kind]]
    assert all(row[2:] == (NOW + 10, f"grid.{kind}", 40) for row in rows)
    assert client.query("SELECT reason, offset, device FROM dead_letters FINAL").result_rows == [
        ("unknown_device", 41, "nobody")
    ]


def test_absent_values_are_nan_and_minus_one(client: Any) -> None:
    for kind in ("sensor", "meter", "scada"):
        batch = IngestProcessor(kind, load_settings(), SetRegistry(DEVICES)).process(messages(kind))
        asyncio.run(ClickHouseWriter(client).write(RAW_TABLES[kind], batch.columns, messages(kind)))
    sensor = client.query("SELECT voltage_v, thd_pct FROM sensor_readings ORDER BY ts").result_rows
    assert sensor[0][0] == 231.0 and sensor[0][1] != sensor[0][1]  # thd absent: NaN
    meter = client.query("SELECT event, kwh, interval_s FROM meter_events ORDER BY ts").result_rows
    assert meter[0] == ("interval", 0.25, 900) and meter[1][0] == "last_gasp" and meter[1][2] == -1
    scada = client.query("SELECT event, point, value, phase FROM scada_events ORDER BY ts").result_rows
    assert scada[0][0] == "trip" and scada[0][3] == "A" and scada[1][1:] == ("p_mw", 1.5, None)


def test_other_packages_write_their_tables(client: Any) -> None:
    """The label and ground-truth writers of detect and simulate fit the migrated schema."""
    from gridmon.detect.feedback import load_labels, store_label

    store_label(client, "a1", "false_alarm", by="op", note="tap change", labelled_ns=NOW)
    assert [(label.anomaly_id, label.label) for label in load_labels(client)] == [("a1", "false_alarm")]
    assert client.query("SELECT user, labelled_at FROM anomaly_labels").result_rows[0][0] == "op"
    client.insert("ground_truth", [["run1", "f1", "fault", "d1", "z1", NOW, NOW + 1, "{}"]],
                  column_names=["run_id", "id", "kind", "device", "zone", "start_ns", "end_ns", "detail"])  # fmt: skip
    assert client.query("SELECT count() FROM ground_truth").result_rows == [(1,)]
