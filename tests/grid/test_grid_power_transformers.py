"""`transformer` means a service transformer: substation and step-down transformers are carried as `other`."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridmon.grid.model import Device, DeviceKind
from gridmon.grid.opendss import import_opendss
from gridmon.grid.sources import carry_power_transformers
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
