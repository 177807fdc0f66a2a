"""Where grid models come from: a format name or file suffix picks the importer (OpenDSS, CIM, a saved model).

Every importer yields a `Network` (devices, ties, findings); `import_network` builds the GridModel from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from gridmon.errors import GridModelError
from gridmon.grid.model import Device, GridModel, Tie
from gridmon.grid.validate import Report, validate

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
