"""Validation findings: one bad model per kind of problem, each reported with its code and device."""

from __future__ import annotations

import pytest

from gridmon.errors import GridModelError
from gridmon.grid.model import Device, DeviceKind, GridModel, Tie
from gridmon.grid.validate import Severity, validate

K = DeviceKind


def _good() -> list[Device]:
    return [
        Device("SUB", K.SUBSTATION),
        Device("BRK", K.BREAKER, "F1", "SUB"),
        Device("L1", K.LINE, "F1", "BRK"),
        Device("FU", K.FUSE, "F1", "L1"),
        Device("XF", K.TRANSFORMER, "F1", "FU"),
        Device("M1", K.METER, "F1", "XF", customers=1),
        Device("M2", K.METER, "F1", "XF", customers=3),
    ]


def _codes(devices: list[Device], ties: list[Tie] | None = None) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for finding in validate(devices, ties or []).findings:
        found.setdefault(finding.code, set()).add(finding.device)
    return found


def test_a_good_model_has_no_findings() -> None:
    assert validate(_good()).findings == []


def test_duplicate_ids() -> None:
    report = validate([*_good(), Device("M1", K.METER, "F1", "XF", customers=1)])
    assert [(f.code, f.device, f.severity) for f in report.errors] == [("duplicate-id", "M1", Severity.ERROR)]
    with pytest.raises(GridModelError, match="duplicate-id at M1"):
        report.raise_for_errors("model.dss")


def test_dangling_parent_reference() -> None:
    assert _codes([*_good(), Device("M3", K.METER, "F1", "XF9", customers=1)])["dangling-parent"] == {"M3"}


def test_loop_where_radial_is_required() -> None:
    devices = [
        *_good(),
        Device("LA", K.LINE, "F1", "LC"),
        Device("LB", K.LINE, "F1", "LA"),
        Device("LC", K.LINE, "F1", "LB"),
    ]
    codes = _codes(devices)
    assert len(codes["loop"]) == 1 and codes["loop"] <= {"LA", "LB", "LC"}
    report = validate(devices)
    assert "LA → " in report.errors[0].message or "LB → " in report.errors[0].message
    with pytest.raises(GridModelError, match="loop"):
        GridModel.from_devices(devices)


def test_unreachable_part_and_meter_without_transformer() -> None:
    devices = [*_good(), Device("ISLAND", K.LINE, "F2"), Device("M9", K.METER, "F2", "ISLAND", customers=1)]
    codes = _codes(devices)
    assert codes["unreachable"] == {"ISLAND"}
    assert codes["meter-without-transformer"] == {"M9"}
    assert validate(devices).ok  # warnings: the model can still be built


def test_dangling_nodes_and_service_points_without_customers() -> None:
    devices = [*_good(), Device("L2", K.LINE, "F1", "BRK"), Device("M0", K.METER, "F1", "XF")]
    codes = _codes(devices)
    assert codes["dangling-node"] == {"L2"}
    assert codes["no-customers"] == {"M0"}


def test_ties_must_join_known_distinct_elements() -> None:
    devices = [*_good(), Device("TIE", K.SWITCH, "F1", "L1", normally_open=True)]
    assert _codes(devices, [Tie("TIE", "L1", "XF")]) == {}
    assert _codes(devices, [Tie("TIE", "L1", "ELSEWHERE")])["bad-tie"] == {"TIE"}
    assert _codes(devices, [Tie("TIE", "L1", "L1")])["bad-tie"] == {"TIE"}


def test_no_protection_and_no_source() -> None:
    unprotected = [
        Device("SUB", K.SUBSTATION),
        Device("XF", K.TRANSFORMER, "F", "SUB"),
        Device("M", K.METER, "F", "XF", customers=1),
    ]
    assert "no-protection" in _codes(unprotected)
    sourceless = [Device("A", K.LINE, "F", "B"), Device("B", K.LINE, "F", "A")]
    assert {"no-source", "loop"} <= set(_codes(sourceless))
