"""Property: on any batch of plausible and broken messages the product's ingest gives the same columns, dtypes,
device indexes and dead letters (reason, detail, offset, original) as the pre-#9 reference path."""

from __future__ import annotations

import json
import time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridmon.ingest import IngestProcessor, RawMessage
from gridmon.ingest.validate import SetRegistry
from gridmon.settings import load_settings
from load_tests.bench_ingest import ReferenceIngest, same_output

NOW = time.time_ns()
DEVICES = {"pmu": ["pmu-1", "pmu-2"], "sensor": ["s-1", "s-2"], "meter": ["m-1", "m-2"], "scada": ["brk-1"]}
FIELDS = {
    "pmu": ["freq_hz", "rocof_hz_s", "va", "vb", "va_angle", "ia", "ic_angle", "status"],
    "sensor": ["voltage_v", "current_a", "temperature_c", "thd_pct"],
    "meter": ["kwh", "voltage_v", "interval_s"],
    "scada": ["value"],
}
EVENTS = {"meter": ["interval", "last_gasp", "tamper", "bogus"], "scada": ["open", "trip", "analog", "bogus"]}
REGISTRY = SetRegistry([device for devices in DEVICES.values() for device in devices])

plausible = st.one_of(
    st.sampled_from([0, 1, 7200.5, 60.0, 59.99, 240.0, 0.25, 900]), st.floats(min_value=0, max_value=100)
)
numbers = st.one_of(
    plausible,
    plausible,
    plausible,  # mostly accepted rows; then every kind of trouble
    st.sampled_from([-1.5, 190.0, -540.0, 99.9, 1e308, 2**63, 2**70, 86401, 70_000]),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    st.sampled_from([None, "x", True, [1]]),
)
recent = st.integers(min_value=NOW - 10**9, max_value=NOW).map(
    lambda ts: ts - ts % 10**6
)  # repeats: duplicates
times = st.one_of(
    recent,
    recent,
    recent,
    st.sampled_from([2**64, -1, NOW + 86_400 * 10**9, "2026-01-01T00:00:00Z", "2026-01-01T00:00:00", "x"]),
)


@st.composite
def reading(draw: st.DrawFn, kind: str, clean: bool) -> dict[str, Any]:
    """A reading of `kind`; a clean one has plausible values only (missing optional fields included)."""
    fields: dict[str, Any] = {
        "device": draw(st.sampled_from(DEVICES[kind] if clean else [*DEVICES[kind], "ghost", ""])),
        "ts": draw(recent if clean else times),
    }
    for name in FIELDS[kind]:
        if draw(st.booleans()):
            fields[name] = draw(plausible if clean else numbers)
    if kind in EVENTS and draw(st.integers(0, 9)):
        fields["event"] = draw(st.sampled_from(EVENTS[kind][:3] if clean else EVENTS[kind]))
    if kind == "pmu" and draw(st.integers(0, 9)):
        fields["freq_hz"] = draw(st.sampled_from([60.0, 59.98, 50.01]))
    return fields


@st.composite
def message(draw: st.DrawFn, kind: str) -> bytes | None:
    shape = draw(st.integers(0, 19))
    if shape == 0:
        return draw(st.sampled_from([None, b"", b"[", b"\xff{}", b'{"readings": 3}', b'{"readings": [NaN]}']))
    readings = draw(st.lists(reading(kind, clean=shape % 2 == 0), max_size=6))
    return json.dumps({"readings": readings, "source": "gw", "sent_ns": NOW}).encode()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(list(DEVICES)).flatmap(
        lambda kind: st.tuples(st.just(kind), st.lists(message(kind), max_size=8))
    )
)
def test_product_and_reference_agree_on_any_batch(case: tuple[str, list[bytes | None]]) -> None:
    kind, values = case
    product = IngestProcessor(kind, load_settings(), REGISTRY)
    reference = ReferenceIngest(kind, load_settings(), REGISTRY)
    # the same offsets again are a redelivery; later offsets carry field duplicates of the first pass
    for first_offset in (0, 0, 100):
        messages = [
            RawMessage(f"grid.{kind}", offset % 2, first_offset + offset, value)
            for offset, value in enumerate(values)
        ]
        new, old = product.process(messages, now_ns=NOW), reference.process(messages, now_ns=NOW)
        assert same_output(old, new) is None, same_output(old, new)
