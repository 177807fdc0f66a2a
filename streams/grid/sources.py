"""Where grid models come from: a format name or file suffix picks the importer (OpenDSS, CIM, a saved model).

Every importer yields a `Network` (devices, ties, findings); `import_network` builds the GridModel from it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from gridmon.errors import GridModelError
from gridmon.grid.model import Device, DeviceKind, GridModel, Tie
from gridmon.grid.validate import Report, Severity, validate

Format = Literal["opendss", "cim", "model"]
SUFFIXES: dict[str, Format] = {
    ".dss": "opendss",
    ".xml": "cim",
    ".rdf": "cim",
    ".model": "model",
    ".npz": "model",
}


@dataclass
class Network:
    """What an importer read: devices with parents by id, ties, and every finding (importer notes included)."""

    devices: list[Device]
    ties: list[Tie]
    report: Report

    def build(self, source: str) -> GridModel:
        """The GridModel; GridModelError listing the errors when the network is not a valid radial model."""
        self.report.raise_for_errors(source)
        return GridModel.from_devices(self.devices, self.ties)


def carry_power_transformers(devices: list[Device], report: Report) -> list[Device]:
    """Transformers that serve no meter themselves but have transformers below (substation, step-down) → `other`.

    `transformer` then always means the service transformer a street hangs on, which is what the outage scope
    (street) and the simulator's transformer faults assume. Generic: decided by the tree, never by names.
    """
    by_id = {d.id: d for d in devices}
    serving: set[str] = set()
    above_transformers: set[str] = set()
    for device in devices:
        if device.kind not in (DeviceKind.METER, DeviceKind.TRANSFORMER):
            continue
        nearest = _transformers_above(device, by_id)
        if device.kind is DeviceKind.METER and nearest:
            serving.add(nearest[0])
        if device.kind is DeviceKind.TRANSFORMER:
            above_transformers.update(nearest)
    power = above_transformers - serving
    for name in sorted(power):
        report.add(
            Severity.INFO,
            "carried",
            name,
            "a power transformer (transformers below it, no meters of its own): carried as other",
        )
    return [replace(d, kind=DeviceKind.OTHER) if d.id in power else d for d in devices]


def place_measurements(devices: list[Device], report: Report) -> list[Device]:
    """Measurement points where an imported model has none (OpenDSS and most CIM exports carry none).

    The rule is generic: a PMU on the substation and on every breaker (feeder heads), and a line sensor
    (fault indicator) on the first section below every recloser, sectionalizer and fuse, so that outages
    can be corroborated by sensors and the simulator has PMU and sensor streams on any imported feeder.
    A kind the model already has is left alone.
    """
    present = {d.kind for d in devices}
    added: list[Device] = []
    if DeviceKind.PMU not in present:
        added += [_point(d, DeviceKind.PMU, d.id) for d in devices if d.kind in _PMU_AT]
    if DeviceKind.SENSOR not in present:
        first_child: dict[str, Device] = {}
        for device in devices:
            if device.parent is not None and device.kind in _SENSED_BELOW_OK and not device.normally_open:
                first_child.setdefault(device.parent, device)
        heads = [d for d in devices if d.kind in _SENSOR_BELOW and not d.normally_open]
        added += [_point(first_child[h.id], DeviceKind.SENSOR, h.id) for h in heads if h.id in first_child]
    taken = {d.id for d in devices}
    added = [d for d in added if d.id not in taken]
    if added:
        kinds = sorted({d.kind.value for d in added})
        report.add(
            Severity.INFO,
            "synthesised",
            ", ".join(kinds),
            f"{len(added)} measurement points placed by the default rule (PMU on the substation and breakers, "
            "a line sensor below each recloser, sectionalizer and fuse)",
        )
    return devices + added


_PMU_AT = (DeviceKind.SUBSTATION, DeviceKind.BREAKER)
_SENSOR_BELOW = (DeviceKind.RECLOSER, DeviceKind.SECTIONALIZER, DeviceKind.FUSE)
_SENSED_BELOW_OK = (DeviceKind.LINE, DeviceKind.SWITCH, DeviceKind.TRANSFORMER, DeviceKind.OTHER)


def _point(location: Device, kind: DeviceKind, named_after: str) -> Device:
    prefix = "PMU" if kind is DeviceKind.PMU else "Sensor"
    return Device(
        f"{prefix}.{named_after}", kind, location.feeder, location.id, f"{prefix} at {location.id}", location.x,
        location.y, phases=location.phases,
    )  # fmt: skip


def _transformers_above(device: Device, by_id: dict[str, Device]) -> list[str]:
    found: list[str] = []
    parent = device.parent
    seen: set[str] = set()
    while parent is not None and parent in by_id and parent not in seen:  # loops are reported by validate
        seen.add(parent)
        if by_id[parent].kind is DeviceKind.TRANSFORMER:
            found.append(parent)
        parent = by_id[parent].parent
    return found


def format_of(path: Path, fmt: str | None = None) -> Format:
    if fmt is not None:
        if fmt not in ("opendss", "cim", "model"):
            raise GridModelError(f"unknown model format {fmt!r}: use opendss, cim or model")
        return fmt  # type: ignore[return-value]
    guessed = SUFFIXES.get(path.suffix.lower())
    if guessed is None:
        raise GridModelError(
            f"cannot tell the format of {path.name} from its suffix; pass --format opendss|cim "
            f"(known suffixes: {', '.join(SUFFIXES)})"
        )
    return guessed


def read_network(path: str | Path, fmt: str | None = None, overlay: str | Path | None = None) -> Network:
    """Read a model file into a Network without building it (for `gridmon grid validate`)."""
    path = Path(path)
    if not path.exists():
        raise GridModelError(f"no such model file: {path}")
    kind = format_of(path, fmt)
    if kind == "cim":
        from gridmon.grid.cim import read_cim

        return read_cim(path)
    if kind == "opendss":
        from gridmon.grid.opendss import read_opendss

        return read_opendss(path, overlay=overlay)
    model = GridModel.load(path)
    devices = [model.device_at(i) for i in range(len(model))]
    return Network(devices, list(model.ties), validate(devices, model.ties))


def import_network(path: str | Path, fmt: str | None = None, overlay: str | Path | None = None) -> GridModel:
    """A GridModel from any supported file; a saved model is loaded as it is."""
    path = Path(path)
    if format_of(path, fmt) == "model":
        return GridModel.load(path)
    return read_network(path, fmt, overlay).build(str(path))
