"""The batch decode straight to columns gives exactly what the per-reading reference path gave, on simulated
traffic and on batches that mix good and bad messages; every reading is accepted or dead-lettered once."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from gridmon.ingest import IngestBatch, IngestProcessor, RawMessage
from gridmon.ingest.dedup import DuplicateFilter
from gridmon.ingest.validate import SetRegistry
from gridmon.settings import load_settings
from load_tests.bench_ingest import ReferenceIngest, same_output, simulate_traffic

NOW = time.time_ns()
DEVICES = ["pmu-1", "pmu-2", "sen-1", "sen-2", "m-1", "m-2", "brk-1"]


def envelope(*readings: Any, sent_ns: int = NOW) -> bytes:
    # the standard library writes ints of any size (orjson stops at 64 bits)
    return json.dumps({"readings": list(readings), "source": "gw", "sent_ns": sent_ns}).encode()


def both(kind: str, values: list[bytes | None]) -> tuple[IngestBatch, IngestBatch]:
    """The product's and the reference's batch for the same messages (each with a fresh duplicate memory)."""
    messages = [RawMessage(f"grid.{kind}", 0, offset, value) for offset, value in enumerate(values)]
    registry, settings = SetRegistry(DEVICES), load_settings()
    product = IngestProcessor(kind, settings, registry).process(messages, now_ns=NOW)
    reference = ReferenceIngest(kind, settings, registry).process(messages, now_ns=NOW)
    assert same_output(reference, product) is None, same_output(reference, product)
    return product, reference


def accounted(batch: IngestBatch) -> int:
    return batch.accepted + len(batch.dead_letters)


def test_simulated_traffic_gives_the_reference_columns_and_dead_letters() -> None:
    model, simulated = simulate_traffic("small", 20.0)
    traffic = simulated.cut("50")
    settings = load_settings()
    for kind, batches in traffic.batches.items():
        product, reference = IngestProcessor(kind, settings, model), ReferenceIngest(kind, settings, model)
        rows = 0
        for messages in batches:
            new, old = product.process(messages, traffic.end_ns), reference.process(messages, traffic.end_ns)
            assert same_output(old, new) is None, f"{kind}: {same_output(old, new)}"
            rows += accounted(new)
        assert rows == traffic.readings[kind], f"{kind}: every reading accepted or dead-lettered"


def test_mixed_good_and_bad_messages_each_get_their_own_outcome() -> None:
    good = {"device": "pmu-1", "ts": NOW - 10, "freq_hz": 60.0, "va": 7200.0}
    values: list[bytes | None] = [
        envelope(good, {**good, "device": "pmu-2"}),
        b'{"readings": [{"device": "pmu-1", "ts": 1, "freq_hz": NaN}]}',  # out_of_range: not JSON
        envelope({**good, "ts": NOW - 20}, {**good, "ts": NOW - 21, "va": -1.0}),  # schema for the second
        None,
        envelope({**good, "ts": 2**70}),  # huge int time: time_skew, not a crash
        envelope({**good, "ts": NOW - 30, "freq_hz": 10**30}),  # huge int in a float field: out_of_range
        b"\xff{}",  # not UTF-8
        envelope({**good, "ts": NOW - 40, "device": "pmu-404"}),
        envelope(good),  # a field duplicate of the first message's first reading
        envelope({**good, "ts": NOW - 50}),
    ]
    batch, _ = both("pmu", values)
    assert batch.accepted == 4 and accounted(batch) == 12
    assert batch.columns["ts"].tolist() == [NOW - 10, NOW - 10, NOW - 20, NOW - 50]
    assert batch.columns["_offset"].tolist() == [0, 0, 2, 9]
    reasons = sorted((letter.offset, letter.reason) for letter in batch.dead_letters)
    assert reasons == [
        (1, "out_of_range"), (2, "schema"), (3, "schema"), (4, "time_skew"), (5, "out_of_range"),
        (6, "not_utf8"), (7, "unknown_device"), (8, "duplicate"),
    ]  # fmt: skip
    assert all(letter.original for letter in batch.dead_letters if letter.offset != 3)


def test_missing_optional_fields_become_nan_and_minus_one_with_stable_dtypes() -> None:
    sensor, _ = both(
        "sensor", [envelope({"device": "sen-1", "ts": NOW}, {"device": "sen-2", "ts": NOW, "thd_pct": 2.5})]
    )
    assert np.isnan(sensor.columns["voltage_v"]).all() and sensor.columns["voltage_v"].dtype == np.float64
    assert sensor.columns["thd_pct"][1] == 2.5
    meter, _ = both(
        "meter",
        [
            envelope(
                {"device": "m-1", "ts": NOW, "event": "last_gasp", "kwh": None, "interval_s": None},
                {"device": "m-2", "ts": NOW, "kwh": 0.25, "voltage_v": 241.0, "interval_s": 900},
            )
        ],
    )
    assert meter.columns["interval_s"].tolist() == [-1, 900] and meter.columns["interval_s"].dtype == np.int64
    assert meter.columns["event"] == ["last_gasp", "interval"]
    assert np.isnan(meter.columns["kwh"][0]) and meter.columns["kwh"][1] == 0.25


def test_rfc3339_and_integer_times_in_one_batch() -> None:
    text = datetime.fromtimestamp(NOW // 10**9, tz=UTC).isoformat()
    scada, _ = both(
        "scada",
        [
            envelope({"device": "brk-1", "ts": text, "event": "open"}),
            envelope({"device": "brk-1", "ts": NOW, "event": "close"}),
        ],
    )
    assert scada.columns["ts"].tolist() == [NOW // 10**9 * 10**9, NOW]
    assert scada.columns["value"].dtype == np.float64 and scada.columns["phase"] == [None, None]


@pytest.mark.parametrize("kind", ["pmu", "sensor", "meter", "scada"])
def test_empty_batch_and_all_bad_batch_keep_every_column(kind: str) -> None:
    empty, _ = both(kind, [])
    bad, _ = both(kind, [b"[", b'{"readings": 3}'])
    assert set(empty.columns) == set(bad.columns) and bad.accepted == 0 and len(bad.dead_letters) == 2


def test_duplicate_memory_keeps_the_first_position_across_batches_and_generations() -> None:
    memory = DuplicateFilter(capacity=3)
    keys = np.array([1, 2, 2, 3], dtype=np.uint64)
    assert memory.duplicates(keys, np.array([10, 10, 11, 12])).tolist() == [False, False, True, False]
    # the current generation filled up (3 keys) and became the previous one: still remembered
    assert memory.duplicates(np.array([2, 4], dtype=np.uint64), np.array([10, 13])).tolist() == [False, False]
    assert memory.duplicates(np.array([1, 4, 5], dtype=np.uint64), np.array([14, 13, 14])).tolist() == [
        True,
        False,
        False,
    ]


def test_a_number_beyond_float64_is_out_of_range_not_malformed_json() -> None:
    values = [
        b'{"readings": [{"device": "pmu-1", "ts": 5, "freq_hz": 1e400}]}',
        envelope({"device": "pmu-1", "ts": NOW, "freq_hz": 60.0}),
    ]
    messages = [RawMessage("grid.pmu", 0, offset, value) for offset, value in enumerate(values)]
    batch = IngestProcessor("pmu", load_settings(), SetRegistry(DEVICES)).process(messages, now_ns=NOW)
    assert batch.accepted == 1
    assert [(d.reason, d.offset) for d in batch.dead_letters] == [("out_of_range", 0)]
    assert "beyond float64" in batch.dead_letters[0].detail


def test_duplicate_memory_grows_and_still_finds_every_key() -> None:
    rng = np.random.default_rng(7)
    keys = rng.integers(0, 2**63, 60_000, dtype=np.uint64)
    memory = DuplicateFilter(capacity=100_000)
    for start in range(0, 60_000, 6_000):  # grows from 1,024 slots as batches come
        batch = keys[start : start + 6_000]
        assert not memory.duplicates(batch, np.full(len(batch), start, dtype=np.int64)).any()
    sample = keys[::97]
    again = memory.duplicates(sample, np.arange(0, len(sample) * 97, 97) // 6_000 * 6_000)
    assert not again.any(), "each key at the position that first carried it is a redelivery"
    assert memory.duplicates(sample, np.full(len(sample), -1, dtype=np.int64)).all()
    assert memory.state()["entries"] == 60_000
