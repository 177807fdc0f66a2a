"""The ingest step on raw message bytes: every reading accepted or dead-lettered with the right reason."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
import pytest

from gridmon.ingest import IngestProcessor, RawMessage
from gridmon.ingest.validate import SetRegistry
from gridmon.settings import load_settings

NOW = time.time_ns()
DEVICES = [f"pmu-{i}" for i in range(10)]


def envelope(*readings: dict[str, Any]) -> bytes:
    return orjson.dumps({"readings": list(readings), "source": "pdc-1", "sent_ns": NOW})


def pmu(device: str = "pmu-1", ts: int = NOW, **fields: Any) -> dict[str, Any]:
    return {"device": device, "ts": ts, "freq_hz": 60.0, "va": 7200.0, "vb": 7190.0, "vc": 7210.0} | fields


def process(*values: bytes | None, kind: str = "pmu") -> Any:
    messages = [RawMessage(f"grid.{kind}", 0, offset, value) for offset, value in enumerate(values)]
    processor = IngestProcessor(kind, load_settings(), SetRegistry(DEVICES + ["m-1", "brk-1"]))
    return processor.process(messages, now_ns=NOW)


def test_batch_envelope_becomes_columns_with_provenance() -> None:
    batch = process(envelope(pmu("pmu-1", NOW - 2), pmu("pmu-2", NOW - 1)), envelope(pmu("pmu-3", NOW)))
    assert batch.accepted == 3 and not batch.dead_letters
    assert batch.columns["device"] == ["pmu-1", "pmu-2", "pmu-3"]
    assert batch.columns["_offset"].tolist() == [0, 0, 1]
    assert batch.columns["sent_ns"].tolist() == [NOW] * 3
    assert batch.device_idx.tolist() == [1, 2, 3]


def test_rfc3339_timestamps_are_normalised_to_utc_nanoseconds() -> None:
    whole_second = NOW // 10**9 * 10**9 - 3600 * 10**9
    local = datetime.fromtimestamp(whole_second / 1e9, tz=timezone(timedelta(hours=1)))
    text = local.replace(microsecond=250_000).isoformat()  # e.g. 2026-11-23T08:00:00.250000+01:00
    batch = process(envelope(pmu(ts=text)))
    assert batch.columns["ts"].tolist() == [whole_second + 250_000_000]


def test_naive_timestamps_are_rejected_as_ambiguous() -> None:
    batch = process(envelope(pmu(ts="2026-11-23T07:00:00")))
    assert [d.reason for d in batch.dead_letters] == ["time_skew"]


def test_angles_are_wrapped_into_plus_minus_180() -> None:
    batch = process(envelope(pmu(va_angle=190.0, vb_angle=-190.0, vc_angle=540.0)))
    assert batch.columns["va_angle"].tolist() == [-170.0]
    assert batch.columns["vb_angle"].tolist() == [170.0]
    assert batch.columns["vc_angle"].tolist() == [180.0]


@pytest.mark.parametrize(
    ("value", "reason", "detail"),
    [
        (b'{"readings": [{"device": "pmu-1"', "not_json", "unexpected end"),
        (b"\xff\xfe\x00garbage", "not_utf8", "UTF-8"),
        (b'{"readings": [{"device": "pmu-1", "ts": 1, "freq_hz": NaN}]}', "out_of_range", "NaN"),
        (envelope(pmu(freq_hz="sixty")), "schema", "$.readings[0].freq_hz"),
        (envelope({"device": "pmu-1", "ts": NOW}), "schema", "freq_hz"),
        (envelope(pmu(ts=NOW + 86_400 * 10**9)), "time_skew", "+86400 s"),
        (envelope(pmu(device="pmu-404")), "unknown_device", "pmu-404"),
        (envelope(pmu(freq_hz=99.5)), "out_of_range", "freq_hz=99.5"),
        (b"{" + b" " * 2_000_000 + b"}", "oversize", "2000002 bytes"),
        (None, "schema", "empty message"),
        (b'{"not_readings": []}', "schema", "readings"),
    ],
)
def test_bad_input_is_dead_lettered_with_reason(value: bytes | None, reason: str, detail: str) -> None:
    batch = process(value, envelope(pmu("pmu-2")))
    assert batch.accepted == 1, "the good message in the same batch is kept"
    assert [d.reason for d in batch.dead_letters] == [reason]
    letter = batch.dead_letters[0]
    assert detail in letter.detail
    assert (letter.source_topic, letter.partition, letter.offset) == ("grid.pmu", 0, 0)


def test_one_bad_reading_does_not_lose_the_others_in_its_message() -> None:
    batch = process(envelope(pmu("pmu-1"), pmu("pmu-2", freq_hz="x"), pmu("pmu-3")))
    assert batch.columns["device"] == ["pmu-1", "pmu-3"]
    assert [(d.reason, d.device) for d in batch.dead_letters] == [("schema", "pmu-2")]


def test_field_duplicate_is_dead_lettered_but_redelivery_of_same_offset_is_not() -> None:
    processor = IngestProcessor("meter", load_settings(), SetRegistry(["m-1"]))
    gasp = orjson.dumps({"readings": [{"device": "m-1", "ts": NOW, "event": "last_gasp"}]})
    first = processor.process([RawMessage("grid.meter", 0, 7, gasp)], now_ns=NOW)
    redelivered = processor.process([RawMessage("grid.meter", 0, 7, gasp)], now_ns=NOW)
    duplicate = processor.process([RawMessage("grid.meter", 1, 3, gasp)], now_ns=NOW)
    assert first.accepted == 1 and redelivered.accepted == 1
    assert duplicate.accepted == 0 and duplicate.dead_letters[0].reason == "duplicate"


def test_every_reading_is_accounted_for() -> None:
    good = [envelope(*(pmu(DEVICES[i % 10], NOW - i * 1000 - j) for j in range(20))) for i in range(50)]
    bad = [b"[", envelope(pmu(device="ghost")), envelope(pmu(freq_hz=10.0), pmu("pmu-2", ts=NOW - 5))]
    batch = process(*good, *bad)
    assert batch.accepted == 50 * 20 + 1
    assert len(batch.dead_letters) == 3


def test_duplicate_inside_one_batch_keeps_the_first_and_later_redelivery_is_not_a_duplicate() -> None:
    processor = IngestProcessor("meter", load_settings(), SetRegistry(["m-1"]))
    gasp = orjson.dumps({"readings": [{"device": "m-1", "ts": NOW, "event": "last_gasp"}]})
    first = RawMessage("grid.meter", 0, 10, gasp)
    repeat = RawMessage("grid.meter", 0, 11, gasp)
    batch = processor.process([first, repeat], now_ns=NOW)
    assert batch.accepted == 1 and [(d.reason, d.offset) for d in batch.dead_letters] == [("duplicate", 11)]
    again = processor.process([first], now_ns=NOW)
    assert again.accepted == 1 and not again.dead_letters
