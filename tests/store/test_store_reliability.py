"""IEEE 1366 indices from ClickHouse against hand-computed values; dimensions are replaced as a whole."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gridmon.store.dimensions import load_dimensions
from gridmon.store.reliability import reliability_indices
from gridmon.store.sink import BatchSink, OffsetRange

MIN = 60 * 10**9
HOUR = 60 * MIN
T0 = 1_767_225_600 * 10**9  # 2026-01-01 00:00 UTC
OUTAGE_COLUMNS = ["id", "version", "feeder", "device", "zone", "scope", "state", "start_ns", "end_ns",
                  "customers", "customers_out", "confirmed_by", "parent", "advice", "schema"]  # fmt: skip

# Feeder F1: breaker B1 heads zone B1 (100 customers below it), fuse U2 heads zone U2 (40 of them).
# Feeder F2: breaker B3 heads zone B3 (50 customers). Meters: m1 60 (B1), m2 40 (U2), m3 50 (B3).
DEVICES = [
    ("B1", "breaker", "F1", "B1", "", "", 100, 0.0, 0.0, "B1"),
    ("U2", "fuse", "F1", "U2", "", "B1", 40, 0.0, 0.0, "U2"),
    ("m1", "meter", "F1", "B1", "T1", "B1", 60, 0.0, 0.0, "m1"),
    ("m2", "meter", "F1", "U2", "T2", "U2", 40, 0.0, 0.0, "m2"),
    {"device": "B3", "kind": "breaker", "feeder": "F2", "zone": "B3", "customers": 50},
    {"device": "m3", "kind": "meter", "feeder": "F2", "zone": "B3", "parent": "B3", "customers": 50},
]
ZONES = [
    ("B1", "F1", "B1", "breaker", 100),
    ("U2", "F1", "U2", "fuse", 40),
    ("B3", "F2", "B3", "breaker", 50),
]


def outage(id: str, version: int, feeder: str, zone: str, state: str, start: int, end: int | None,
           customers: int) -> list[Any]:  # fmt: skip
    return [
        id,
        version,
        feeder,
        zone,
        zone,
        "zonal",
        state,
        start,
        end,
        customers,
        0,
        ["scada"],
        None,
        [],
        "o/1",
    ]


OUTAGES = [
    outage("o1", 2, "F1", "U2", "restored", T0, T0 + 30 * MIN, 40),  # sustained: 40 CI, 1200 CMI
    outage("o2", 1, "F1", "B1", "probable", T0 + HOUR, None, 20),  # superseded by version 3
    outage("o2", 3, "F1", "B1", "restored", T0 + HOUR, T0 + 2 * HOUR, 100),  # 100 CI, 6000 CMI
    outage("o3", 1, "F2", "B3", "momentary", T0 + 3 * HOUR, T0 + 3 * HOUR + MIN, 50),  # momentary 50
    outage(
        "o4", 2, "F1", "B1", "restored", T0 + 4 * HOUR, T0 + 4 * HOUR + 3 * MIN, 60
    ),  # < 5 min: momentary 60
    outage("o5", 1, "F2", "B3", "confirmed", T0 + 9 * HOUR, None, 50),  # open: to the window end, 3000 CMI
    outage("o6", 1, "F2", "B3", "restored", T0 - HOUR, T0 + HOUR, 50),  # started before the window
    outage(
        "o7", 1, "F1", "B1", "confirmed", T0 + 10 * HOUR - 2 * MIN, None, 60
    ),  # open 2 min: not yet classed
]


@pytest.fixture
def loaded(client: Any) -> Any:
    load_dimensions(client, DEVICES, ZONES)
    columns = [list(values) for values in zip(*OUTAGES, strict=True)]
    asyncio.run(BatchSink(client, "outages", OUTAGE_COLUMNS).write(columns, [OffsetRange("o", 0, 0, 7)]))
    return client


def test_indices_match_hand_computed_values(loaded: Any) -> None:
    rows = {(r.level, r.area): r for r in reliability_indices(loaded, T0, T0 + 10 * HOUR)}
    assert list(rows) == [("system", "system"), ("feeder", "F1"), ("feeder", "F2"),
                          ("zone", "B1"), ("zone", "B3"), ("zone", "U2")]  # fmt: skip
    system = rows[("system", "system")]
    assert system.customers_served == 60 + 40 + 50
    assert system.sustained_events == 3  # o1, o2, o5
    assert system.saifi == pytest.approx((40 + 100 + 50) / 150)
    assert system.saidi_min == pytest.approx((40 * 30 + 100 * 60 + 50 * 60) / 150)  # 68 min
    assert system.caidi_min == pytest.approx(10_200 / 190)
    assert system.maifi == pytest.approx((50 + 60) / 150)
    f1, f2 = rows[("feeder", "F1")], rows[("feeder", "F2")]
    assert (f1.customers_served, f1.saifi, f1.saidi_min, f1.maifi) == (100, 1.4, 72.0, 0.6)
    assert f1.caidi_min == pytest.approx(7200 / 140)
    assert (f2.customers_served, f2.saifi, f2.saidi_min, f2.caidi_min, f2.maifi) == (50, 1.0, 60.0, 60.0, 1.0)
    b1, u2 = rows[("zone", "B1")], rows[("zone", "U2")]
    assert (b1.customers_served, b1.saifi, b1.saidi_min, b1.maifi) == (100, 1.0, 60.0, 0.6)
    assert (u2.customers_served, u2.saifi, u2.saidi_min, u2.maifi) == (40, 1.0, 30.0, 0.0)


def test_a_window_without_outages_gives_zeros(loaded: Any) -> None:
    rows = reliability_indices(loaded, T0 + 20 * HOUR, T0 + 30 * HOUR)
    assert len(rows) == 6
    assert all(r.saifi == r.saidi_min == r.caidi_min == r.maifi == 0.0 for r in rows)


def test_dimensions_are_replaced_not_appended(loaded: Any) -> None:
    assert load_dimensions(loaded, DEVICES[:2], ZONES[:1]) == (2, 1)
    assert loaded.query("SELECT count() FROM devices").result_rows == [(2,)]
    assert loaded.query("SELECT zone, customers FROM zones").result_rows == [("B1", 100)]
