"""ClickHouse roles for least privilege (admin, writer, reader for Grafana), applied to a ClickHouse server.

Embedded chdb has no access control (it refuses CREATE ROLE): there the roles cannot exist, and the data
folder's file permissions are the only boundary; `apply_roles` says so instead of pretending.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

from clickhouse_connect.driver.exceptions import ClickHouseError

from gridmon.errors import StorageError
from gridmon.store.client import check_identifier, first_line
from gridmon.store.migrations import split_statements

ROLES = ("gridmon_admin", "gridmon_writer", "gridmon_reader")
_GRANT = re.compile(r"^GRANT (?P<privileges>.+?) ON (?P<target>\S+) TO (?P<role>\w+)$", re.DOTALL)


def role_statements(database: str) -> list[str]:
    """The role and grant statements for `database` (a checked identifier), in order."""
    sql = resources.files(__package__).joinpath("clickhouse_roles.sql").read_text(encoding="utf-8")
    name = check_identifier(database, "database (GRIDMON_CLICKHOUSE_DATABASE)")
    return [statement.replace("{database}", name) for statement in split_statements(sql)]


def grants(database: str) -> dict[str, dict[str, set[str]]]:
    """Role → target (`db.table` or `db.*`) → privileges, as the statements grant them."""
    granted: dict[str, dict[str, set[str]]] = {role: {} for role in ROLES}
    for statement in role_statements(database):
        match = _GRANT.match(statement)
        if match:
            privileges = {p.strip() for p in match["privileges"].split(",")}
            granted[match["role"]].setdefault(match["target"], set()).update(privileges)
    return granted


def apply_roles(client: Any, database: str, embedded: bool) -> int:
    """Create the roles and grants on a server; returns how many statements ran."""
    if embedded:
        raise StorageError(
            "embedded chdb has no users or roles: set GRIDMON_CLICKHOUSE_URL to a ClickHouse server to apply "
            "them, and keep the chdb data folder readable by the gridmon account only"
        )
    statements = role_statements(database)
    for statement in statements:
        try:
            client.command(statement)
        except ClickHouseError as exc:
            raise StorageError(
                f"could not apply ClickHouse roles ({first_line(exc)}): the user in GRIDMON_CLICKHOUSE_USER "
                "needs ACCESS MANAGEMENT (an admin account)"
            ) from exc
    return len(statements)
