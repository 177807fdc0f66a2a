"""Migrations apply from empty and from every earlier version; twice is a no-op; status tells what is pending."""

from __future__ import annotations

from typing import Any

import pytest

from gridmon.store.migrations import available, migrate, split_statements, status


def tables(client: Any) -> set[str]:
    rows = client.query("SELECT name FROM system.tables WHERE database = currentDatabase()").result_rows
    return {row[0] for row in rows}


def test_from_empty_then_again_is_a_no_op(bare_client: Any) -> None:
    names = [m.name for m in available()]
    assert migrate(bare_client) == names
    created = tables(bare_client)
    assert {"pmu_readings", "meter_events", "anomalies", "outages", "devices", "ground_truth"} <= created
    assert migrate(bare_client) == []
    assert tables(bare_client) == created
    assert all(s.applied and s.checksum_matches for s in status(bare_client))


@pytest.mark.parametrize("k", range(1, len(available())))
def test_from_every_earlier_version(bare_client: Any, k: int) -> None:
    names = [m.name for m in available()]
    assert migrate(bare_client, upto=names[k - 1]) == names[:k]
    assert [s.applied for s in status(bare_client)] == [True] * k + [False] * (len(names) - k)
    assert migrate(bare_client) == names[k:]
    assert all(s.applied for s in status(bare_client))


def test_statements_split_on_line_end_semicolons() -> None:
    sql = "-- a comment; not a split\nCREATE TABLE a (x String DEFAULT ';');\n\nSELECT 1;\n"
    assert split_statements(sql) == ["CREATE TABLE a (x String DEFAULT ';')", "SELECT 1"]
