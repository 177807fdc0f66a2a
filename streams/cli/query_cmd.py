"""`gridmon query NAME --param k=v --format table|csv|json`: named, parameterized queries for people."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from gridmon.errors import ConfigError
from gridmon.settings import get_settings
from gridmon.store.queries import QUERIES, QueryResult, run_query

console = Console()
FORMATS = ("table", "csv", "json")


def query(
    name: str = typer.Argument("list", help="query name; `list` shows them all"),
    param: list[str] = typer.Option([], "--param", "-p", help="k=v (repeatable)"),
    output: str = typer.Option("table", "--format", "-f", help="table, csv or json"),
) -> None:
    """Run a named query against ClickHouse; `gridmon query list` shows the queries and their parameters."""
    if name == "list":
        _print_catalog()
        return
    if output not in FORMATS:
        raise ConfigError(f"--format: expected one of {', '.join(FORMATS)}, got {output!r}")
    from gridmon.store.client import connect

    result = run_query(connect(get_settings()), name, parse_params(param))
    if output == "table":
        _print_table(name, result)
    else:
        typer.echo(render(result, output), nl=False)


def parse_params(pairs: list[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--param expects k=v, got {pair!r}")
        values[key.strip()] = value
    return values


def render(result: QueryResult, output: str) -> str:
    """CSV (header + rows) or JSON (a list of objects); times as ISO 8601."""
    if output == "json":
        rows = [dict(zip(result.column_names, map(_plain, row), strict=True)) for row in result.rows]
        return json.dumps(rows, indent=2, ensure_ascii=False) + "\n"
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(result.column_names)
    writer.writerows([[_plain(value) for value in row] for row in result.rows])
    return buffer.getvalue()


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and value != value:
        return None  # NaN: absent
    if isinstance(value, tuple):
        return list(value)
    return value


def _print_table(name: str, result: QueryResult) -> None:
    table = Table(*result.column_names, title=f"{name}: {len(result.rows)} rows")
    for row in result.rows:
        table.add_row(*("" if value is None else str(_plain(value)) for value in row))
    console.print(table)


def _print_catalog() -> None:
    table = Table("query", "parameters (default)", "what it shows", title="gridmon query NAME --param k=v")
    for named in QUERIES.values():
        params = ", ".join(
            p.name
            + (f"={p.default}" if p.default is not None else "")
            + (f" [{'|'.join(p.choices)}]" if p.choices else "")
            for p in named.params
        )
        table.add_row(named.name, escape(params), named.description)
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("query")(query)
