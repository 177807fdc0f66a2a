"""Forward-only schema migrations: `NNNN_name.sql` files applied in order and recorded in `schema_migrations`.

A file holds one or more statements separated by `;` at the end of a line; `migrate` twice is a no-op.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

from clickhouse_connect.driver.exceptions import ClickHouseError

from gridmon.errors import StorageError
from gridmon.store.client import first_line

MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
TABLE = "schema_migrations"
CREATE_TABLE = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    name String,
    checksum String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = MergeTree ORDER BY name
"""


@dataclass(frozen=True)
class Migration:
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()[:16]

    def statements(self) -> list[str]:
        return split_statements(self.sql)


@dataclass(frozen=True)
class MigrationStatus:
    name: str
    applied: bool
    checksum_matches: bool


def available() -> list[Migration]:
    """Every migration shipped with gridmon, in order."""
    folder = resources.files(__name__)
    names = sorted(item.name for item in folder.iterdir() if MIGRATION_NAME.match(item.name))
    return [Migration(name, folder.joinpath(name).read_text(encoding="utf-8")) for name in names]


def split_statements(sql: str) -> list[str]:
    """Statements end with `;` at the end of a line; `--` comment lines are dropped."""
    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    parts = re.split(r";[ \t]*(?:\n|$)", "\n".join(lines))
    return [part.strip() for part in parts if part.strip()]


def applied(client: Any) -> dict[str, str]:
    """Applied migration name → checksum recorded when it was applied."""
    _run(client, CREATE_TABLE, "create the schema_migrations table")
    rows = client.query(f"SELECT name, any(checksum) FROM {TABLE} GROUP BY name").result_rows
    return {name: checksum for name, checksum in rows}


def migrate(client: Any, upto: str | None = None) -> list[str]:
    """Apply every pending migration (up to and including `upto`, a name or its NNNN prefix)."""
    done = applied(client)
    newly: list[str] = []
    for migration in available():
        if migration.name not in done:
            _apply(client, migration)
            newly.append(migration.name)
        if upto is not None and (migration.name == upto or migration.name.startswith(f"{upto}_")):
            break
    return newly


def status(client: Any) -> list[MigrationStatus]:
    """Each shipped migration: applied or pending, and whether the applied file has changed since."""
    done = applied(client)
    return [
        MigrationStatus(m.name, m.name in done, done.get(m.name, m.checksum) == m.checksum)
        for m in available()
    ]


def _apply(client: Any, migration: Migration) -> None:
    # Statements use IF NOT EXISTS, so a migration interrupted half-way is re-run safely.
    for statement in migration.statements():
        _run(client, statement, f"apply migration {migration.name}")
    client.insert(TABLE, [[migration.name, migration.checksum]], column_names=["name", "checksum"])


def _run(client: Any, statement: str, doing: str) -> None:
    try:
        client.command(statement)
    except ClickHouseError as exc:
        raise StorageError(
            f"could not {doing}: {first_line(exc)}; check the ClickHouse user's DDL rights "
            f"(GRIDMON_CLICKHOUSE_USER) and `gridmon db status`"
        ) from exc
