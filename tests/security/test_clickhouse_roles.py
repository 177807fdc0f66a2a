"""Least-privilege ClickHouse roles: the statements parse in ClickHouse (EXPLAIN AST on chdb, which has no
access control to run them), the Grafana reader cannot write nor read raw meter data, every table is covered."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gridmon.errors import StorageError
from gridmon.security.access import ROLES, apply_roles, grants, role_statements
from gridmon.settings import Settings
from gridmon.store.client import connect
from gridmon.store.migrations import migrate

PRIVATE = {
    "meter_events",
    "meter_pseudonyms",
    "dead_letters",
    "devices",
    "state_checkpoints",
    "anomaly_labels",
    "ground_truth",
}


def test_every_role_statement_is_valid_clickhouse_sql(settings: Settings) -> None:
    client = connect(settings)
    statements = role_statements(settings.clickhouse_database)
    assert len(statements) > len(ROLES)
    for statement in statements:
        client.query(f"EXPLAIN AST {statement}")  # raises on a syntax error


def test_reader_only_selects_and_never_raw_meter_data(settings: Settings) -> None:
    client = connect(settings)
    migrate(client)
    database = settings.clickhouse_database
    reader = grants(database)["gridmon_reader"]
    assert all(privileges == {"SELECT"} for privileges in reader.values())
    readable = {target.split(".", 1)[1] for target in reader}
    assert "*" not in readable and not readable & PRIVATE
    tables = {
        row[0]
        for row in client.query(
            "SELECT name FROM system.tables WHERE database = {db:String}", parameters={"db": database}
        ).result_rows
    }
    assert readable <= tables, f"grants name tables that do not exist: {readable - tables}"
    # Every table is a conscious decision: readable by Grafana, private, or an internal helper.
    undecided = tables - readable - PRIVATE - {"schema_migrations"} - {t for t in tables if t.endswith("_mv")}
    assert not undecided, f"decide whether the Grafana reader may see {undecided}"


def test_writer_cannot_change_the_schema_and_admin_owns_it(settings: Settings) -> None:
    granted = grants(settings.clickhouse_database)
    assert granted["gridmon_writer"] == {f"{settings.clickhouse_database}.*": {"SELECT", "INSERT"}}
    assert granted["gridmon_admin"] == {f"{settings.clickhouse_database}.*": {"ALL"}}


def test_roles_are_refused_honestly_on_embedded_chdb(settings: Settings) -> None:
    with pytest.raises(StorageError, match="no users or roles"):
        apply_roles(connect(settings), settings.clickhouse_database, embedded=True)


def test_only_the_admin_reads_the_pseudonym_mapping(settings: Settings) -> None:
    """The writer inserts pseudonym → meter rows but its SELECT on them is revoked; the reader has none."""
    database = settings.clickhouse_database
    statements = role_statements(database)
    revoke = f"REVOKE SELECT ON {database}.meter_pseudonyms FROM gridmon_writer"
    assert revoke in statements
    assert statements.index(revoke) > statements.index(
        f"GRANT SELECT, INSERT ON {database}.* TO gridmon_writer"
    )
    assert not any(target.endswith(".meter_pseudonyms") for target in grants(database)["gridmon_reader"])


def test_every_dashboard_and_alert_query_reads_only_what_the_grafana_reader_may(settings: Settings) -> None:
    """Grafana connects as the reader: a panel on a private table would be an error or a privacy leak."""
    readable = {target.split(".", 1)[1] for target in grants(settings.clickhouse_database)["gridmon_reader"]}
    root = Path(__file__).resolve().parents[2] / "dashboards"
    texts = [path.read_text() for path in sorted(root.rglob("*.json")) + sorted(root.rglob("*.yaml"))]
    read = {name for text in texts for name in re.findall(r"\b(?:FROM|JOIN)\s+([a-z_][a-z0-9_]*)\b", text)}
    assert read, "no queries found: has the dashboards layout changed?"
    assert read <= readable, f"dashboards read tables the Grafana reader may not: {sorted(read - readable)}"
