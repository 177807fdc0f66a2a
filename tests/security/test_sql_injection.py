"""SQL injection through every user-facing CLI input that reaches ClickHouse: `gridmon query` parameters,
`gridmon outages list|show` and `gridmon anomalies list|show|ack|label`. Payloads are data, never SQL: the
canary rows and tables are intact afterwards and text inputs are stored exactly as typed."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import typer
from typer.testing import CliRunner

from gridmon.cli import anomalies_cmd, outages_cmd, query_cmd
from gridmon.errors import GridmonError
from gridmon.settings import Settings, get_settings
from gridmon.store.client import connect
from gridmon.store.migrations import migrate
from gridmon.store.queries import QUERIES

PAYLOADS = [
    "x' OR '1'='1",
    "'; DROP TABLE outages; --",
    "x\\'; DROP TABLE anomalies; --",
    "{id:String}",
    "1) UNION ALL SELECT name, 1, 1 FROM system.tables --",
    "`; TRUNCATE TABLE pmu_readings --",
    "привет'\"\\n\x00",
]
CANARY_OUTAGE = (
    "outage-canary",
    1,
    "F1",
    "T1",
    "Z1",
    "street",
    "confirmed",
    time.time_ns(),
    None,
    5,
    5,
    ["ami"],
    None,
    [],
)


@pytest.fixture
def cli(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("GRIDMON_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("GRIDMON_CLICKHOUSE_DATABASE", settings.clickhouse_database)
    monkeypatch.delenv("GRIDMON_CLICKHOUSE_URL", raising=False)
    get_settings.cache_clear()
    client = connect(settings)
    migrate(client)
    columns = ["id", "version", "feeder", "device", "zone", "scope", "state", "start_ns", "end_ns", "customers",
               "customers_out", "confirmed_by", "parent", "advice"]  # fmt: skip
    client.insert("outages", [list(CANARY_OUTAGE)], column_names=columns)
    yield CliRunner()
    get_settings.cache_clear()


def app() -> typer.Typer:
    root = typer.Typer()

    @root.callback()
    def _root() -> None: ...

    for module in (query_cmd, outages_cmd, anomalies_cmd):
        module.register(root)
    return root


def invoke(runner: CliRunner, *args: str) -> None:
    result = runner.invoke(app(), list(args))
    if result.exception is not None and not isinstance(result.exception, GridmonError | SystemExit):
        raise result.exception  # anything but a clear gridmon error or a usage error is a failure


def assert_intact(settings: Settings) -> None:
    client = connect(settings)
    for table in ("outages", "anomalies", "pmu_readings", "anomaly_labels"):
        client.query(f"SELECT count() FROM {table}")  # still exists
    assert client.query("SELECT count() FROM outages").result_rows[0][0] == 1


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payloads_through_every_cli_input_are_data(cli: CliRunner, settings: Settings, payload: str) -> None:
    for name, query in QUERIES.items():
        for param in query.params:
            invoke(cli, "query", name, "--param", f"{param.name}={payload}", "--format", "json")
    invoke(cli, "outages", "list", "--feeder", payload, "--state", payload)
    invoke(cli, "outages", "show", payload)
    invoke(cli, "anomalies", "list", "--device", payload, "--state", payload)
    invoke(cli, "anomalies", "show", payload)
    invoke(cli, "anomalies", "ack", payload, "--by", payload, "--note", payload)
    assert_intact(settings)
    stored = (
        connect(settings)
        .query(
            "SELECT anomaly_id, by, note FROM anomaly_labels WHERE anomaly_id = {id:String}",
            parameters={"id": payload},
        )
        .result_rows
    )
    assert stored == [(payload, payload, payload)]  # stored exactly as typed, not interpreted
