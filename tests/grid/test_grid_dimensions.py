"""The model's dimension rows load into the real `devices` and `zones` ClickHouse tables (embedded chdb)."""

from __future__ import annotations

from pathlib import Path

from gridmon.grid.generate import generate
from gridmon.settings import load_settings
from gridmon.store.client import connect
from gridmon.store.dimensions import load_dimensions
from gridmon.store.migrations import migrate


def test_dimension_rows_fit_the_store_tables(session_data_dir: Path, clickhouse_database: str) -> None:
    model = generate("small", seed=5)
    client = connect(load_settings(data_dir=session_data_dir, clickhouse_database=clickhouse_database))
    migrate(client)
    devices, zones = model.dimension_rows()
    assert load_dimensions(client, devices, zones) == (len(model), len(model.zones()))
    meter = model.devices_of_kind("meter")[0]
    zone = model.zone_of(meter)
    row = client.query(
        "SELECT zone, transformer, customers FROM devices WHERE device = {device:String}",
        parameters={"device": meter},
    ).result_rows
    assert row == [(zone, model.transformer_of(meter), model.device(meter).customers)]
    zone_customers = client.query(
        "SELECT customers FROM zones WHERE zone = {zone:String}", parameters={"zone": zone}
    ).result_rows
    assert zone_customers == [(model.customers_below(zone),)]
    total = client.query("SELECT sum(customers) FROM devices WHERE kind = 'meter'").result_rows[0][0]
    assert total == int(model.customers.sum())
