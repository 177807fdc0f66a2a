"""Importer post-passes: power transformers carried as `other`, measurement points placed where a model has none."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridmon.grid.model import Device, DeviceKind
from gridmon.grid.opendss import import_opendss
from gridmon.grid.sources import carry_power_transformers, place_measurements
from gridmon.grid.validate import Report

REPO = Path(__file__).parents[2]
SAMPLE = REPO / "streams" / "grid" / "samples" / "small_feeder.dss"
FEEDERS = REPO.parent / "shared" / "feeders"
K = DeviceKind


def test_tree_decides_which_transformers_serve_meters() -> None:
    devices = [
        Device("S", K.SUBSTATION),
        Device("TS", K.TRANSFORMER, parent="S"),  # substation transformer
        Device("L1", K.LINE, parent="TS"),
        Device("TD", K.TRANSFORMER, parent="L1"),  # in-line step-down feeding a line
        Device("L2", K.LINE, parent="TD"),
        Device("T1", K.TRANSFORMER, parent="L2"),
        Device("m1", K.METER, parent="T1", customers=1),
        Device("T2", K.TRANSFORMER, parent="TS"),  # serves meters and feeds another transformer: kept
        Device("m2", K.METER, parent="T2", customers=1),
        Device("T3", K.TRANSFORMER, parent="T2"),
        Device("m3", K.METER, parent="T3", customers=1),
        Device("T4", K.TRANSFORMER, parent="S"),  # no meters, nothing below: a service transformer still
    ]
    report = Report()
    kinds = {d.id: d.kind for d in carry_power_transformers(devices, report)}
    assert kinds == {**{d.id: d.kind for d in devices}, "TS": K.OTHER, "TD": K.OTHER}
    assert sorted(f.device for f in report.findings if f.code == "carried") == ["TD", "TS"]


def test_opendss_substation_transformer_is_not_a_street() -> None:
    model = import_opendss(SAMPLE)
    assert model.kind_of("Transformer.subxf") is K.OTHER
    assert "Transformer.subxf" not in model.devices_of_kind("transformer")
    assert model.kind_of("Transformer.dt3") is K.TRANSFORMER
    for transformer in model.devices_of_kind("transformer"):
        assert model.meters_of_transformer(transformer), transformer


@pytest.mark.parametrize("case", ["ieee13/IEEE13Nodeckt.dss", "ieee34/ieee34Mod1.dss"])
def test_ieee_transformers_all_serve_meters(case: str) -> None:
    if not FEEDERS.is_dir():
        pytest.skip(f"the shared IEEE feeders are not beside the repo ({FEEDERS} is absent)")
    model = import_opendss(FEEDERS / case)
    transformers = model.devices_of_kind("transformer")
    assert transformers
    for transformer in transformers:
        assert model.meters_of_transformer(transformer), transformer
    total = model.customers_below(model.zones()[0])
    assert all(model.customers_below(t) < total for t in transformers)


def test_imported_models_get_measurement_points_by_the_default_rule() -> None:
    model = import_opendss(SAMPLE)
    pmus = model.devices_of_kind("pmu")
    assert sorted(model.location_of(p) for p in pmus) == ["Breaker.Line.head", "Vsource.source"]
    breaker = "Breaker.Line.head"
    assert model.monitored_by(breaker) == [breaker, "PMU.Breaker.Line.head"]
    # a line sensor on the first section below every fuse and recloser, in that device's zone
    for sensor in model.devices_of_kind("sensor"):
        head = sensor.removeprefix("Sensor.")
        assert model.parent_of(model.location_of(sensor)) == head
        assert model.zone_of(sensor) == head
    assert len(model.devices_of_kind("sensor")) == len(model.devices_of_kind("fuse")) + len(
        model.devices_of_kind("recloser")
    )
    assert model.customers_below("Vsource.source") == 74  # measurement points carry no customers


def test_measurements_a_model_already_has_are_kept() -> None:
    devices = [
        Device("S", K.SUBSTATION),
        Device("F", K.FUSE, parent="S"),
        Device("L", K.LINE, parent="F"),
        Device("P", K.PMU, parent="L"),
    ]
    placed = place_measurements(devices, Report())
    assert [d.id for d in placed if d.kind is K.PMU] == ["P"]
    assert [(d.id, d.parent) for d in placed if d.kind is K.SENSOR] == [("Sensor.F", "L")]
