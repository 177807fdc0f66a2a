"""Assemble a worker's components from the grid model: device registry, detectors, outage correlation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gridmon.detect.bank import DetectorBank
from gridmon.detect.config import BankConfig
from gridmon.detect.context import DeviceContext
from gridmon.errors import GridModelError
from gridmon.grid import GridModel, default_model_path
from gridmon.grid.model import DeviceKind
from gridmon.outages import FeederRouter, OutageCorrelator
from gridmon.pipeline.runner import Components
from gridmon.settings import Settings

SECONDARY_KINDS = {DeviceKind.TRANSFORMER, DeviceKind.METER}


@dataclass(frozen=True)
class NominalVoltages:
    """Phase-to-neutral nominal RMS voltages: the grid model carries no voltage level per element yet, so a
    measurement at a distribution transformer or meter is compared with the secondary, anything else with
    the primary (typical North American 12.47 kV / 240 V service)."""

    primary_v: float = 7200.0
    secondary_v: float = 240.0


def load_model(settings: Settings, model_path: str | Path | None = None) -> GridModel:
    path = Path(model_path) if model_path else default_model_path(settings)
    if not path.exists():
        raise GridModelError(
            f"no grid model at {path}: run `gridmon grid import FILE` or `gridmon grid generate --size small`"
        )
    return GridModel.load(path)


def device_context(model: GridModel, nominal: NominalVoltages = NominalVoltages()) -> DeviceContext:
    """Per model position: zone, feeder and the nominal voltage the detectors compare with."""
    device_rows, _zones = model.dimension_rows()  # (device, kind, feeder, zone, …) in model order
    ids = [row[0] for row in device_rows]
    feeder = [row[2] for row in device_rows]
    zone = [row[3] for row in device_rows]
    nominal_v = np.full(len(ids), nominal.primary_v)
    for position, device in enumerate(ids):
        kind = model.kind_of(device)
        if kind in (DeviceKind.PMU, DeviceKind.SENSOR):
            kind = model.kind_of(model.location_of(device))
        if kind in SECONDARY_KINDS:
            nominal_v[position] = nominal.secondary_v
    classes = [str(row[1]) for row in device_rows]
    return DeviceContext(ids, zone, feeder, nominal_v, device_class=classes)


def assemble_components(model: GridModel) -> Components:
    """Detectors suppress anomalies inside an outage the correlator holds open (children of the outage)."""
    correlator = OutageCorrelator(model)
    bank = DetectorBank(BankConfig(), device_context(model), outage_of=correlator.active_outage_for)
    return Components(registry=model, detector=bank, router=FeederRouter(model), correlator=correlator)
