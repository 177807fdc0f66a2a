"""CIM import on the sample feeder: topology through terminals and nodes, zones, ties, customers, bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridmon.errors import GridModelError
from gridmon.grid.cim import import_cim, read_cim
from gridmon.grid.model import DeviceKind, GridModel

SAMPLE = Path(__file__).parents[2] / "streams" / "grid" / "samples" / "two_feeders.cim.xml"


@pytest.fixture(scope="module")
def model() -> GridModel:
    return import_cim(SAMPLE)


def _variant(tmp_path: Path, old: str, new: str) -> Path:
    text = SAMPLE.read_text()
    assert old in text
    path = tmp_path / "variant.xml"
    path.write_text(text.replace(old, new, 1))
    return path


def test_equipment_becomes_devices_of_the_right_kind(model: GridModel) -> None:
    assert model.kind_of("SUB1") is DeviceKind.SUBSTATION
    assert model.kind_of("REC1") is DeviceKind.RECLOSER
    assert model.kind_of("SW1") is DeviceKind.SWITCH
    assert model.kind_of("XF1") is DeviceKind.TRANSFORMER
    assert model.kind_of("CAP1") is DeviceKind.OTHER
    assert sorted(model.devices_of_kind("meter")) == ["EC1", "EC2", "EC3", "EC4", "EC5", "EC6"]
    assert sorted(model.devices_of_kind("fuse")) == ["FU1", "FU2", "FU3"]


def test_parents_follow_the_power_flow_from_the_source(model: GridModel) -> None:
    assert model.upstream("EC1") == ["XF1", "L3", "FU1", "L2", "REC1", "L1", "BRK1", "SUB1"]
    assert model.transformer_of("EC3") == "XF2"
    assert sorted(model.meters_of_transformer("XF4")) == ["EC5", "EC6"]


def test_zones_and_customers_follow_protection(model: GridModel) -> None:
    assert model.zone_of("EC1") == "FU1"
    assert model.zone_of("EC4") == "REC1"  # a transformer on the trunk is in the recloser's zone
    assert model.zone_of("L1") == "BRK1"
    assert model.protective_upstream("EC1") == ["FU1", "REC1", "BRK1"]
    # customers: UsagePoints where present (EC1: 2, EC2: 1, EC3: 3, EC5: 1), else customerCount (EC4: 4, EC6: 6)
    assert [model.customers_below(d) for d in ("EC1", "EC4", "EC6")] == [2, 4, 6]
    assert model.customers_below("FU1") == 3
    assert model.customers_below("REC1") == 10
    assert model.customers_below("BRK2") == 7
    assert model.customers_below("SUB1") == 17


def test_feeders_come_from_the_feeder_containers(model: GridModel) -> None:
    assert model.feeder_of("EC1") == "North"
    assert model.feeder_of("EC6") == "South"
    assert model.feeder_of("SUB1") == ""
    assert model.device("BRK1").name == "North feeder breaker"
    assert (model.device("BRK1").x, model.device("BRK1").y) == (100.0, 200.0)
    assert model.device("XF1").kva == 50.0


def test_normally_open_switch_is_a_tie_not_a_path(model: GridModel) -> None:
    assert [(t.id, t.a_end, t.b_end) for t in model.ties] == [("TIE1", "L5", "L13")]
    assert model.device("TIE1").normally_open
    assert model.customers_below("TIE1") == 0
    assert model.feeder_of("L5") != model.feeder_of("L13")


def test_closing_the_tie_is_a_loop(tmp_path: Path) -> None:
    closed = _variant(
        tmp_path,
        "<cim:IdentifiedObject.name>North-South tie</cim:IdentifiedObject.name>\n"
        '    <cim:Equipment.EquipmentContainer rdf:resource="#FDR1"/>\n'
        "    <cim:Switch.normalOpen>true</cim:Switch.normalOpen>",
        "<cim:IdentifiedObject.name>North-South tie</cim:IdentifiedObject.name>\n"
        '    <cim:Equipment.EquipmentContainer rdf:resource="#FDR1"/>\n'
        "    <cim:Switch.normalOpen>false</cim:Switch.normalOpen>",
    )
    report = read_cim(closed).report
    assert "loop" in {f.code for f in report.errors}
    with pytest.raises(GridModelError, match="loop"):
        import_cim(closed)


def test_equipment_cut_off_from_the_source_is_reported(tmp_path: Path) -> None:
    # L4's upstream terminal now lands on a node nothing else uses: L4, XF2 and EC3 are no longer fed.
    cut = _variant(
        tmp_path,
        '<cim:Terminal.ConductingEquipment rdf:resource="#L4"/>\n'
        '    <cim:Terminal.ConnectivityNode rdf:resource="#CN_7"/>',
        '<cim:Terminal.ConductingEquipment rdf:resource="#L4"/>\n'
        '    <cim:Terminal.ConnectivityNode rdf:resource="#CN_NOWHERE"/>',
    )
    result = read_cim(cut)
    unreachable = {f.device for f in result.report.findings if f.code == "unreachable"}
    assert {"L4", "XF2", "EC3"} <= unreachable
    assert "FU2" in {f.device for f in result.report.findings if f.code == "dangling-node"}
    model = import_cim(cut)  # warnings only: the fed part still imports
    assert "EC3" not in model and model.customers_below("SUB1") == 14


def test_not_cim_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text("<not-closed")
    with pytest.raises(GridModelError, match="cannot read CIM file"):
        import_cim(bad)
    empty = tmp_path / "empty.xml"
    empty.write_text('<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/>')
    with pytest.raises(GridModelError, match="no RDF objects"):
        import_cim(empty)
