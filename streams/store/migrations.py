"""Forward-only schema migrations: `migrations/NNNN_name.sql`, applied in order, recorded in `schema_migrations`.

Every statement is idempotent (`IF NOT EXISTS`), so a migration cut short by a failure completes on re-run.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from gridmon.errors import StorageError
from gridmon.store.client import first_line

MIGRATION_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
LEDGER_DDL = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version UInt32,
    name String,
    checksum String,
    applied_at DateTime64(3, 'UTC')
) ENGINE = MergeTree ORDER BY version
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()[:16]

    def statements(self) -> list[str]:
        """The file's statements: split on `;` at the end of a line, comment lines dropped."""
        lines = [line for line in self.sql.splitlines() if not line.lstrip().startswith("--")]
        chunks = re.split(r";\s*$", "\n".join(lines), flags=re.MULTILINE)
        return [chunk.strip() for chunk in chunks if chunk.strip()]


@dataclass(frozen=True)
class MigrationStatus:
    version: int
    name: str
    applied: bool
    applied_at: str = ""
    changed: bool = False  # the file differs from what was applied (edit a new migration instead)


def available() -> list[Migration]:
    """Every migration shipped with gridmon, in version order."""
    found = []
    for entry in resources.files("gridmon.store").joinpath("migrations").iterdir():
        match = MIGRATION_FILE.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda migration: migration.version)


def migrate(client: Any, target: int | None = None) -> list[str]:
    """Apply the migrations not applied yet (up to `target`); returns their names. Twice is a no-op."""
    _run(client, LEDGER_DDL, "schema_migrations")
    done = _applied(client)
    applied = []
    for migration in available():
        if migration.version in done or (target is not None and migration.version > target):
            continue
        for statement in migration.statements():
            _run(client, statement, f"{migration.version:04d}_{migration.name}")
        client.insert(
            "schema_migrations",
            [[migration.version, migration.name, migration.checksum, datetime.now(tz=UTC)]],
            column_names=["version", "name", "checksum", "applied_at"],
        )
        applied.append(f"{migration.version:04d}_{migration.name}")
    return applied


def status(client: Any) -> list[MigrationStatus]:
    """Each shipped migration with whether (and when) it was applied to this database."""
    _run(client, LEDGER_DDL, "schema_migrations")
    done = _applied(client)
    rows = []
    for migration in available():
        record = done.get(migration.version)
        rows.append(
            MigrationStatus(
                migration.version,
                migration.name,
                applied=record is not None,
                applied_at=record[1] if record else "",
                changed=record is not None and record[0] != migration.checksum,
            )
        )
    return rows


def _applied(client: Any) -> dict[int, tuple[str, str]]:
    result = client.query(
        "SELECT version, any(checksum), toString(min(applied_at)) FROM schema_migrations GROUP BY version"
    )
    return {int(version): (checksum, at) for version, checksum, at in result.result_rows}


def _run(client: Any, statement: str, label: str) -> None:
    try:
        client.command(statement)
    except Exception as exc:
        raise StorageError(
            f"migration {label} failed: {first_line(exc)}. Fix the cause and run `gridmon db migrate` "
            "again (applied steps are skipped)"
        ) from exc
