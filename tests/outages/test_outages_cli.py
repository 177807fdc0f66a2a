"""`gridmon outages list|show` against the embedded ClickHouse, with rows written as the pipeline writes them."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from gridmon.cli import outages_cmd
from gridmon.pipeline.stages import record_columns
from gridmon.records import Outage
from gridmon.settings import Settings, get_settings
from gridmon.store.client import connect
from gridmon.store.dimensions import load_dimensions

MIGRATIONS = Path(__file__).resolve().parents[2] / "streams/store/migrations"
# feeder F1 serves 1,200 customers, 600 of them in zone F1-REC2
DEVICES = [{"device": "m1", "kind": "meter", "feeder": "F1", "zone": "F1-REC2", "customers": 600},
           {"device": "m2", "kind": "meter", "feeder": "F1", "zone": "F1", "customers": 600}]  # fmt: skip
ZONES = [("F1", "F1", "F1-BRK", "breaker", 1200), ("F1-REC2", "F1", "F1-REC2", "recloser", 600)]


def test_list_and_show_read_the_newest_version(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    client = connect(settings)
    for name, table in (("0002_state_tables.sql", "outages"), ("0003_dimensions.sql", "")):
        for statement in (MIGRATIONS / name).read_text().split(";"):
            if table in statement and "CREATE TABLE" in statement:
                client.command(statement)
    load_dimensions(client, DEVICES, ZONES)
    now = time.time_ns()
    base = dict(id="O-X-1", feeder="F1", device="F1-REC2", zone="F1-REC2", scope="zonal", start_ns=now - 1200 * 10**9,
                customers=120, confirmed_by=["ami", "scada"])  # fmt: skip
    records = [
        Outage(
            version=1,
            state="confirmed",
            customers_out=120,
            advice=["1. open F1-SW3", "2. close tie T"],
            **base,
        ),  # type: ignore[arg-type]
        Outage(
            version=2,
            state="restored",
            customers_out=0,
            end_ns=now,
            advice=["1. open F1-SW3", "2. close tie T"],
            **base,
        ),  # type: ignore[arg-type]
    ]
    columns = record_columns(records, Outage)
    client.insert("outages", list(zip(*columns.values(), strict=True)), column_names=list(columns))
    monkeypatch.setenv("GRIDMON_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("GRIDMON_CLICKHOUSE_DATABASE", settings.clickhouse_database)
    get_settings.cache_clear()
    app = typer.Typer()
    outages_cmd.register(app)
    runner = CliRunner()
    listed = runner.invoke(app, ["outages", "list"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0, listed.output
    assert "O-X-1" in listed.output and "restored" in listed.output and "confirmed" not in listed.output
    # IEEE 1366 for the period: 120 of 1,200 customers out 20 min: SAIFI 0.1, SAIDI 2 min, CAIDI 20 min
    assert "SAIFI" in listed.output and "MAIFI" in listed.output
    feeder_row = next(line for line in listed.output.splitlines() if "│ feeder" in line)
    assert feeder_row.replace("│", " ").split()[2:] == ["1200", "0.1000", "2.00", "20.0", "0.0000", "1"]
    shown = runner.invoke(app, ["outages", "show", "O-X-1"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert "2. close tie T" in shown.output and "restored" in shown.output
    zone_row = next(line for line in shown.output.splitlines() if "│ zone" in line)
    assert zone_row.replace("│", " ").split()[1:6] == ["F1-REC2", "600", "0.2000", "4.00", "20.0"]
    get_settings.cache_clear()
