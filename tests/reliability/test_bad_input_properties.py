"""Property tests on bad input: ingest, query parameters and the CIM importer meet arbitrary bytes, deep and huge
JSON, extreme numbers, unicode and far timestamps with a dead letter or a clear GridmonError; never a crash,
never a hang (hypothesis deadlines), and every message is accounted for."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gridmon.errors import GridmonError
from gridmon.grid.cim import import_cim
from gridmon.ingest import IngestProcessor, RawMessage
from gridmon.ingest.validate import SetRegistry
from gridmon.records import DEAD_LETTER_REASONS
from gridmon.settings import load_settings
from gridmon.store.queries import QUERIES, bind

NOW = time.time_ns()
DEVICES = ["pmu-1", "m-1", "s-1", "brk-1"]
KINDS = {"pmu": "pmu-1", "meter": "m-1", "sensor": "s-1", "scada": "brk-1"}
PROCESSORS = {kind: IngestProcessor(kind, load_settings(), SetRegistry(DEVICES)) for kind in KINDS}

extreme_numbers = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -0.0, 1e308, -1e308, 5e-324, 2**63, -(2**63) - 1, 2**64]),
)
timestamps = st.one_of(
    st.integers(min_value=-(2**65), max_value=2**65),
    st.sampled_from(["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2026-01-01T00:00:00", "yesterday"]),
    st.just(NOW),
)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), extreme_numbers, st.text(max_size=40)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


def reading_like(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    fields = st.fixed_dictionaries(
        {"device": st.one_of(st.just(KINDS[kind]), st.text(max_size=200)), "ts": timestamps},
        optional={
            name: st.one_of(extreme_numbers, json_values)
            for name in (
                "freq_hz",
                "va",
                "kwh",
                "voltage_v",
                "value",
                "temperature_c",
                "status",
                "interval_s",
            )
        }
        | {"event": st.sampled_from(["interval", "last_gasp", "trip", "open", "bogus", ""])},
    )
    return fields


def encode(value: Any) -> bytes:
    """The stdlib encoder: it writes integers beyond 64 bits, which orjson refuses (and a gateway may not)."""
    return json.dumps(value).encode()


def values_for(kind: str) -> st.SearchStrategy[bytes | None]:
    envelope = st.builds(
        lambda readings, sent: encode({"readings": readings, "sent_ns": sent, "source": "gw"}),
        st.lists(reading_like(kind), max_size=5),
        st.one_of(st.integers(min_value=0, max_value=2**63 - 1), st.just(NOW)),
    )
    return st.one_of(
        st.none(),
        st.binary(max_size=300),
        st.text(max_size=200).map(str.encode),
        json_values.map(encode),
        envelope,
        st.integers(min_value=1, max_value=50_000).map(lambda depth: b"[" * depth + b"]" * depth),
        st.integers(min_value=1, max_value=50_000).map(lambda depth: b'{"readings":' + b"[" * depth),
    )


def check_every_message_is_accounted_for(kind: str, values: list[bytes | None]) -> None:
    messages = [RawMessage(f"grid.{kind}", 0, offset, value) for offset, value in enumerate(values)]
    batch = PROCESSORS[kind].process(messages, now_ns=NOW)
    assert all(letter.reason in DEAD_LETTER_REASONS and letter.detail for letter in batch.dead_letters)
    explained = set(batch.columns["_offset"].tolist()) | {d.offset for d in batch.dead_letters}
    silent = [
        m.offset for m in messages if m.offset not in explained and _has_readings(m.value)
    ]  # an envelope with zero readings has nothing to store or refuse
    assert not silent, f"messages neither stored nor dead-lettered: {silent}"


def _has_readings(value: bytes | None) -> bool:
    try:
        decoded = orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        return True
    return not (isinstance(decoded, dict) and decoded.get("readings") == [])


@pytest.mark.parametrize("kind", list(KINDS))
def test_ingest_accounts_for_any_batch_of_messages(kind: str) -> None:
    @settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
    @given(values=st.lists(values_for(kind), min_size=1, max_size=6))
    def check(values: list[bytes | None]) -> None:
        check_every_message_is_accounted_for(kind, values)

    check()


def test_huge_message_is_dead_lettered_quickly_and_its_original_is_capped() -> None:
    huge = b'{"readings": [' + b'{"device": "pmu-1", "ts": 1, "freq_hz": 60.0},' * 200_000 + b"]}"
    started = time.perf_counter()
    batch = PROCESSORS["pmu"].process([RawMessage("grid.pmu", 0, 0, huge)], now_ns=NOW)
    assert time.perf_counter() - started < 2.0
    (letter,) = batch.dead_letters
    assert letter.reason == "oversize" and len(letter.original) <= 4096


@settings(max_examples=300, deadline=500)
@given(text=st.text(max_size=80), name=st.sampled_from(sorted(QUERIES)))
@example(text="²", name="open_outages")
def test_any_query_parameter_text_binds_or_raises_a_clear_error(text: str, name: str) -> None:
    query = QUERIES[name]
    for param in query.params:
        try:
            bind(query, {param.name: text})
        except GridmonError as exc:
            assert str(exc)


@settings(max_examples=60, deadline=3000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.one_of(st.binary(max_size=400), st.text(max_size=400).map(str.encode)))
def test_cim_importer_gives_a_model_or_a_grid_model_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "input.xml"
    path.write_bytes(content)
    try:
        import_cim(path)
    except GridmonError as exc:
        assert str(exc)


def test_cim_importer_refuses_entity_expansion() -> None:
    """A billion-laughs document must not expand (defusedxml-style protection) nor hang."""
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
        + b"".join(
            f'<!ENTITY a{i} "{"&a;" * 10 if i == 0 else f"&a{i - 1};" * 10}">'.encode() for i in range(9)
        )
        + b']><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><x>&a8;</x></rdf:RDF>'
    )
    path = Path(__import__("tempfile").mkdtemp()) / "laughs.xml"
    path.write_bytes(laughs)
    started = time.perf_counter()
    with pytest.raises(GridmonError):
        import_cim(path)
    assert time.perf_counter() - started < 5.0
