"""Device and zone dimension tables, loaded from the grid model's rows and replaced as a whole.

Rows are plain tuples (in the column order below) or dicts (missing keys get empty values), so the store does
not depend on the grid package: `load_dimensions(client, *model.dimension_rows())`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from clickhouse_connect.driver.exceptions import ClickHouseError

from gridmon.errors import StorageError
from gridmon.store.client import first_line

DEVICE_COLUMNS = ("device", "kind", "feeder", "zone", "transformer", "parent", "customers", "x", "y", "name")
ZONE_COLUMNS = ("zone", "feeder", "device", "kind", "customers")
EMPTY = {"customers": 0, "x": float("nan"), "y": float("nan")}

Row = Sequence[Any] | Mapping[str, Any]


def load_dimensions(client: Any, devices: Sequence[Row], zones: Sequence[Row]) -> tuple[int, int]:
    """Replace the content of `devices` and `zones`; returns the rows loaded into each."""
    return (
        replace_table(client, "devices", DEVICE_COLUMNS, devices),
        replace_table(client, "zones", ZONE_COLUMNS, zones),
    )


def replace_table(client: Any, table: str, columns: Sequence[str], rows: Sequence[Row]) -> int:
    """Load a copy of the table, then swap it in atomically, so readers never see it half loaded."""
    staging = f"{table}__loading"
    values = [_as_tuple(row, columns) for row in rows]
    try:
        client.command(f"DROP TABLE IF EXISTS {staging}")
        client.command(f"CREATE TABLE {staging} AS {table}")
        if values:
            client.insert(staging, values, column_names=list(columns))
        client.command(f"EXCHANGE TABLES {staging} AND {table}")
        client.command(f"DROP TABLE IF EXISTS {staging}")
    except ClickHouseError as exc:
        raise StorageError(
            f"cannot load the {table} dimension: {first_line(exc)}; run `gridmon db migrate` first"
        ) from exc
    return len(values)


def _as_tuple(row: Row, columns: Sequence[str]) -> tuple[Any, ...]:
    if isinstance(row, Mapping):
        return tuple(row.get(name, EMPTY.get(name, "")) for name in columns)
    if len(row) != len(columns):
        raise StorageError(
            f"a dimension row has {len(row)} values, expected {len(columns)}: {tuple(columns)}"
        )
    return tuple(row)
