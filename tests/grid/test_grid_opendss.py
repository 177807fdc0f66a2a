"""OpenDSS import through opendssdirect: our small feeder (hand-checked), overlays, loops, the IEEE 13/34 feeders."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridmon.errors import GridModelError
from gridmon.grid.model import DeviceKind, GridModel
from gridmon.grid.opendss import Overlay, ServicePointRule, import_opendss, read_opendss

REPO = Path(__file__).parents[2]
SAMPLE = REPO / "streams" / "grid" / "samples" / "small_feeder.dss"
FEEDERS = REPO.parent / "shared" / "feeders"
IEEE = {"ieee13": FEEDERS / "ieee13" / "IEEE13Nodeckt.dss", "ieee34": FEEDERS / "ieee34" / "ieee34Mod1.dss"}
K = DeviceKind


@pytest.fixture(scope="module")
def sample() -> GridModel:
    return import_opendss(SAMPLE)


def _variant(tmp_path: Path, old: str, new: str) -> Path:
    text = SAMPLE.read_text()
    assert old in text
    path = tmp_path / "variant.dss"
    path.write_text(text.replace(old, new))
    return path


def test_series_elements_form_the_tree_from_the_source(sample: GridModel) -> None:
    assert sample.kind_of("Vsource.source") is K.SUBSTATION
    assert sample.upstream("Line.lat2b") == [
        "Line.lat2", "Fuse.f_lat2", "Line.trunk2", "Line.head", "Breaker.Line.head", "Transformer.subxf",
        "Vsource.source",
    ]  # fmt: skip
    assert sample.kind_of("Capacitor.c1") is K.OTHER
    assert sample.feeder_of("Line.lat1") == "sample" and sample.feeder_of("Transformer.subxf") == ""


def test_loads_become_service_points_by_the_kw_rule(sample: GridModel) -> None:
    # 5 kW per customer, one meter per customer: 40 kW → 8, 12 → 2, 22 → 4 (rounded), 300 → 60.
    assert sample.customers_below("XF.l1") == 8 and len(sample.meters_of_transformer("XF.l1")) == 8
    assert sample.customers_below("Vsource.source") == 74
    # A load behind a real transformer uses it; a load on a line-fed bus gets one synthesised per bus.
    assert sample.transformer_of("Load.res3.m1") == "Transformer.dt3"
    assert sample.transformer_of("Load.big.m01") == "XF.b2"
    assert sample.device("Load.big.m01").kw == pytest.approx(5.0)


def test_protection_from_controls_and_default_rules(sample: GridModel) -> None:
    assert sample.kind_of("Fuse.f_lat2") is K.FUSE  # an OpenDSS Fuse control on Line.lat2
    assert sample.parent_of("Line.lat2") == "Fuse.f_lat2"
    assert sample.kind_of("Breaker.Line.head") is K.BREAKER  # default: a breaker at the feeder head
    assert sample.zone_of("Load.l2.m1") == "Fuse.f_lat2"
    assert sample.protective_upstream("Load.l2.m1") == ["Fuse.f_lat2", "Breaker.Line.head"]
    # default recloser: the first trunk element with at most half the feeder load still downstream
    assert sample.parent_of("Line.trunk3") == "Recloser.Line.trunk3"
    assert sample.zone_of("Load.res3.m1") == "Recloser.Line.trunk3"


def test_open_switch_is_a_tie(sample: GridModel) -> None:
    assert [(t.id, t.a_end, t.b_end) for t in sample.ties] == [("Line.tie", "Line.lat1", "Line.lat2b")]
    assert sample.device("Line.tie").normally_open and sample.customers_below("Line.tie") == 0


def test_closed_tie_is_a_loop(tmp_path: Path) -> None:
    looped = _variant(tmp_path, "Open Line.tie 1", "")
    assert "loop" in {f.code for f in read_opendss(looped).report.errors}
    with pytest.raises(GridModelError, match="loop"):
        import_opendss(looped)


def test_overlay_file_and_service_point_rule(tmp_path: Path) -> None:
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(
        "devices:\n  - {id: REC-1, kind: recloser, upstream_of: Line.trunk2}\n"
        "kinds: {Line.lat1: sectionalizer}\nauto: {breaker: false}\n"
    )
    rule = ServicePointRule(kw_per_customer=10.0, meter_per_customer=False)
    model = import_opendss(SAMPLE, overlay=overlay, rule=rule)
    assert model.parent_of("Line.trunk2") == "REC-1" and model.kind_of("Line.lat1") is K.SECTIONALIZER
    assert len(model.indexes_of_kind("breaker")) == 0 and len(model.indexes_of_kind("recloser")) == 1
    assert model.device("Load.big").customers == 30 and len(model.indexes_of_kind("meter")) == 4
    bad = tmp_path / "bad.json"
    bad.write_text('{"devices": [{"id": "F9", "kind": "fuse", "upstream_of": "Line.nowhere"}]}')
    with pytest.raises(GridModelError, match="Line.nowhere"):
        import_opendss(SAMPLE, overlay=bad)
    assert Overlay.from_dict({"auto": {"fuses": False}}).auto_fuses is False


def test_broken_file_is_a_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.dss"
    broken.write_text("New Circuit.x bus1=a\nNew Line.l1 bus1=a bus2=b linecode=does-not-exist\n")
    with pytest.raises(GridModelError, match="OpenDSS"):
        import_opendss(broken)
    with pytest.raises(GridModelError, match="no such OpenDSS file"):
        import_opendss(tmp_path / "missing.dss")


@pytest.mark.parametrize("feeder", sorted(IEEE))
def test_ieee_feeders_import(feeder: str) -> None:
    if not FEEDERS.is_dir():
        pytest.skip(f"the shared feeders are not beside the repo ({FEEDERS} is absent)")
    network = read_opendss(IEEE[feeder])
    assert network.report.ok, network.report.errors
    model = network.build(feeder)
    meters = model.devices_of_kind("meter")
    assert len(meters) > 100
    assert all(model.transformer_of(m) is not None for m in meters)
    assert {"breaker", "recloser", "fuse"} <= {str(model.kind_of(z)) for z in model.zones()}
    assert any(f.code == "carried" and "regulator" in f.message for f in network.report.findings)
    # every customer is inside the breaker's zone, and laterals split them into smaller zones
    breaker = model.devices_of_kind("breaker")[0]
    assert model.customers_below(breaker) == int(model.customers.sum())
    fuses = model.devices_of_kind("fuse")
    assert 0 < max(model.customers_below(f) for f in fuses) < model.customers_below(breaker)
