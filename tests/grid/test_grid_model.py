"""Zones, lookups, ties and storage of the grid model on a hand-checkable feeder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gridmon.errors import GridModelError
from gridmon.grid.model import Device, DeviceKind, GridModel, Tie

K = DeviceKind


def hand_feeder() -> GridModel:
    """S ─ B1 ─ L1 ─ R1 ─ L2 ─ F2 ─ L3 ─ T2 ─ m3(4), m4(1)
                │         └ T1 ─ m2(2)
                └ F1 ─ T0 ─ m0(3), m1(1)
    plus a PMU on B1, a sensor on T2 and a normally-open tie from L3 to another feeder's L9.
    """
    d = [
        Device("S", K.SUBSTATION),
        Device("B1", K.BREAKER, "F", "S"),
        Device("L1", K.LINE, "F", "B1"),
        Device("F1", K.FUSE, "F", "L1"),
        Device("T0", K.TRANSFORMER, "F", "F1", kva=25),
        Device("m0", K.METER, "F", "T0", customers=3),
        Device("m1", K.METER, "F", "T0", customers=1),
        Device("R1", K.RECLOSER, "F", "L1"),
        Device("L2", K.LINE, "F", "R1"),
        Device("T1", K.TRANSFORMER, "F", "L2"),
        Device("m2", K.METER, "F", "T1", customers=2),
        Device("F2", K.FUSE, "F", "L2"),
        Device("L3", K.LINE, "F", "F2"),
        Device("T2", K.TRANSFORMER, "F", "L3"),
        Device("m3", K.METER, "F", "T2", customers=4),
        Device("m4", K.METER, "F", "T2", customers=1),
        Device("pmu1", K.PMU, "F", "B1"),
        Device("s1", K.SENSOR, "F", "T2"),
        Device("B9", K.BREAKER, "G", "S"),
        Device("L9", K.LINE, "G", "B9"),
        Device("SW1", K.SWITCH, "F", "L3", normally_open=True),
    ]
    return GridModel.from_devices(d, [Tie("SW1", "L3", "L9")])


def test_zones_follow_protection() -> None:
    model = hand_feeder()
    assert model.zone_of("m0") == "F1"
    assert model.zone_of("m2") == "R1"
    assert model.zone_of("m3") == "F2"
    assert model.zone_of("L1") == "B1"
    assert model.zone_of("R1") == "R1"  # a protective device heads its own zone
    assert model.zone_of("S") == "S"
    assert model.zone_above("F2") == "R1"
    assert model.zones() == ["S", "B1", "F1", "R1", "F2", "SW1", "B9"]


def test_customers_and_meters_below() -> None:
    model = hand_feeder()
    assert model.customers_below("B1") == 11
    assert model.customers_below("R1") == 7
    assert model.customers_below("F2") == 5
    assert model.customers_below("m3") == 4
    assert model.customers_below("SW1") == 0
    assert sorted(model.meters_below("R1")) == ["m2", "m3", "m4"]
    assert model.meters_of_transformer("T0") == ["m0", "m1"]
    assert model.customers_below("B9") == 0


def test_paths_and_lookups() -> None:
    model = hand_feeder()
    assert model.upstream("m3") == ["T2", "L3", "F2", "L2", "R1", "L1", "B1", "S"]
    assert model.protective_upstream("m3") == ["F2", "R1", "B1"]
    assert model.protective_upstream("F2") == ["R1", "B1"]
    assert model.transformer_of("m2") == "T1"
    assert model.transformer_of("L2") is None
    assert model.feeder_of("m0") == "F"
    assert model.feeder_of("L9") == "G"
    assert model.children("L2") == ["T1", "F2"]
    assert model.devices_of_kind("fuse") == ["F1", "F2"]
    assert model.monitored_by("B1") == ["B1", "pmu1"]
    assert model.monitored_by("T2") == ["s1"]
    assert model.location_of("s1") == "T2"
    assert model.location_of("R1") == "R1"
    assert model.device("T0").kva == 25
    assert model.device("m0").parent == "T0"


def test_ties_are_leaves_outside_power_paths() -> None:
    model = hand_feeder()
    assert model.ties == [Tie("SW1", "L3", "L9")]
    assert model.device("SW1").normally_open
    assert model.children("SW1") == []
    assert "SW1" not in model.upstream("m3")


def test_vectorised_indexes() -> None:
    model = hand_feeder()
    idx = model.index_of(["m3", "nope", "F1"])
    assert idx.dtype == np.int32
    assert idx[1] == -1
    assert model.ids[idx[0]] == "m3"
    assert model.ids[model.zone_index[idx[0]]] == "F2"
    assert list(model.customers_below_indexes(idx[[0, 2]])) == [4, 4]
    r1 = model.position("R1")
    assert list(model.is_below(model.index_of(["m2", "m0"]), r1)) == [True, False]


def test_save_load_round_trip(tmp_path: Path) -> None:
    model = hand_feeder()
    loaded = GridModel.load(model.save(tmp_path / "grid.model"))
    assert repr(loaded.dimension_rows()) == repr(
        model.dimension_rows()
    )  # repr: NaN coordinates compare equal
    assert loaded.ties == model.ties
    assert repr(loaded.device("m0")) == repr(model.device("m0"))


def test_dimension_rows() -> None:
    devices, zones = hand_feeder().dimension_rows()
    m3 = next(row for row in devices if row[0] == "m3")
    assert m3[:7] == ("m3", "meter", "F", "F2", "T2", "T2", 4)
    assert ("R1", "F", "R1", "recloser", 7) in zones


def test_bad_devices_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(GridModelError, match="duplicate"):
        GridModel.from_devices([Device("a", K.LINE), Device("a", K.LINE)])
    with pytest.raises(GridModelError, match="parent that does not exist"):
        GridModel.from_devices([Device("a", K.LINE, parent="zz")])
    with pytest.raises(GridModelError, match="loop"):
        GridModel.from_devices(
            [Device("r", K.SUBSTATION), Device("a", K.LINE, parent="b"), Device("b", K.LINE, parent="a")]
        )
    with pytest.raises(GridModelError, match="grid generate"):
        GridModel.load(tmp_path / "missing.model")
