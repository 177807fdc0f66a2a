"""Input authenticity: with GRIDMON_HMAC_KEY set, ingest accepts only messages whose `x-gridmon-sig` header is
the HMAC-SHA256 of the value; anything else becomes a `bad_signature` dead letter, never a crash."""

from __future__ import annotations

import time

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from gridmon.ingest import IngestBatch, IngestProcessor, RawMessage
from gridmon.ingest.validate import SetRegistry
from gridmon.security import SIGNATURE_HEADER, sign
from gridmon.settings import load_settings

NOW = time.time_ns()
KEY = "field-gateway-key-for-tests"
VALUE = orjson.dumps({"readings": [{"device": "pmu-1", "ts": NOW, "freq_hz": 60.0}], "sent_ns": NOW})


def process(*messages: tuple[bytes, list[tuple[str, bytes]]], key: str | None = KEY) -> IngestBatch:
    raw = [
        RawMessage("grid.pmu", 0, i, value, headers=headers) for i, (value, headers) in enumerate(messages)
    ]
    processor = IngestProcessor("pmu", load_settings(hmac_key=key), SetRegistry(["pmu-1"]))
    return processor.process(raw, now_ns=NOW)


def test_signed_message_is_accepted() -> None:
    batch = process((VALUE, [(SIGNATURE_HEADER, sign(KEY.encode(), VALUE).encode())]))
    assert batch.accepted == 1 and not batch.dead_letters


def test_unsigned_wrong_key_tampered_and_malformed_signatures_are_dead_lettered() -> None:
    good = sign(KEY.encode(), VALUE).encode()
    tampered = VALUE.replace(b"60.0", b"61.0")
    batch = process(
        (VALUE, []),
        (VALUE, [(SIGNATURE_HEADER, sign(b"another key", VALUE).encode())]),
        (tampered, [(SIGNATURE_HEADER, good)]),
        (VALUE, [(SIGNATURE_HEADER, b"zz")]),
    )
    assert batch.accepted == 0
    assert [d.reason for d in batch.dead_letters] == ["bad_signature"] * 4
    assert [d.offset for d in batch.dead_letters] == [0, 1, 2, 3]
    assert "no x-gridmon-sig header" in batch.dead_letters[0].detail
    assert "does not match" in batch.dead_letters[2].detail
    assert KEY not in " ".join(d.detail for d in batch.dead_letters)  # the key never leaks into a detail


def test_without_a_key_signatures_are_not_required() -> None:
    assert process((VALUE, []), key=None).accepted == 1


@settings(max_examples=200, deadline=None)
@given(value=st.binary(max_size=512), signature=st.one_of(st.none(), st.binary(max_size=100)))
def test_any_value_and_header_is_accepted_only_when_signed(value: bytes, signature: bytes | None) -> None:
    headers = [] if signature is None else [(SIGNATURE_HEADER, signature)]
    batch = process((value, headers))
    assert {d.reason for d in batch.dead_letters} == {"bad_signature"}
