"""What the simulator needs from a grid model, as arrays: meters, feeders, protective devices, PMUs, sensors.

The only module that talks to `gridmon.grid`; it reads the model's public lookups once, so that any model
(generated, imported IEEE feeder, CIM) drives the simulator the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gridmon.errors import GridModelError

PROTECTIVE_KINDS = ("breaker", "recloser", "fuse", "sectionalizer", "switch")
SCADA_KINDS = ("breaker", "recloser", "sectionalizer", "switch")


def kind_name(kind: Any) -> str:
    """A DeviceKind (enum or plain string) as its lower-case name."""
    value = getattr(kind, "value", kind)
    return str(value).lower()


@dataclass(frozen=True)
class Site:
    """A measurement point: the PMU or sensor id, the element it measures, and its gateway (PDC or feeder)."""

    id: str
    location: str
    gateway: str
    feeder: str
    location_kind: str


@dataclass
class Topology:
    """Arrays over the model's meters plus the measurement sites; lookups delegate to the model."""

    model: Any
    meter_ids: list[str]
    meter_customers: np.ndarray
    meter_feeder: np.ndarray  # index into `feeders`
    feeders: list[str]
    pmus: list[Site]
    sensors: list[Site]
    by_kind: dict[str, list[str]]
    _meter_index: dict[str, int] = field(default_factory=dict, repr=False)
    _below: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @classmethod
    def from_model(cls, model: Any) -> Topology:
        by_kind = {name: _ids_of_kind(model, name) for name in (*PROTECTIVE_KINDS, "transformer", "meter")}
        by_kind["substation"] = _ids_of_kind(model, "substation")
        meter_ids = by_kind["meter"]
        if not meter_ids:
            raise GridModelError("the grid model has no meters: the simulator needs service points to drive")
        feeder_of = [str(model.feeder_of(m)) for m in meter_ids]
        feeders = sorted(set(feeder_of))
        feeder_position = {feeder: position for position, feeder in enumerate(feeders)}
        customers = np.array([max(1, int(model.device(m).customers or 1)) for m in meter_ids], dtype=np.int64)
        topology = cls(
            model=model,
            meter_ids=meter_ids,
            meter_customers=customers,
            meter_feeder=np.array([feeder_position[f] for f in feeder_of], dtype=np.int32),
            feeders=feeders,
            pmus=[_site(model, pmu, pdc=True) for pmu in _ids_of_kind(model, "pmu")],
            sensors=[_site(model, sensor, pdc=False) for sensor in _ids_of_kind(model, "sensor")],
            by_kind=by_kind,
        )
        topology._meter_index = {meter: position for position, meter in enumerate(meter_ids)}
        return topology

    def meter_index(self, meter: str) -> int:
        return self._meter_index[meter]

    def is_meter(self, device: str) -> bool:
        return device in self._meter_index

    def meters_below(self, device: str) -> np.ndarray:
        """Positions (into `meter_ids`) of the meters that lose power when `device` opens."""
        cached = self._below.get(device)
        if cached is not None:
            return cached
        if device in self._meter_index:
            positions = np.array([self._meter_index[device]], dtype=np.int64)
        else:
            get = self._meter_index.get
            positions = np.fromiter(
                (get(str(m), -1) for m in self.model.meters_below(device)), dtype=np.int64
            )
            positions = np.sort(positions[positions >= 0])
        self._below[device] = positions
        return positions

    def customers_below(self, device: str) -> int:
        return int(self.meter_customers[self.meters_below(device)].sum())

    def upstream(self, device: str) -> list[str]:
        """The path from `device` (excluded) to the source."""
        return [str(d) for d in self.model.upstream(device) if str(d) != device]

    def zone_of(self, device: str) -> str:
        return str(self.model.zone_of(device))

    def feeder_of(self, device: str) -> str:
        return str(self.model.feeder_of(device))

    def kind_of(self, device: str) -> str:
        return kind_name(self.model.device(device).kind)

    def has_scada(self, device: str) -> bool:
        return self.kind_of(device) in SCADA_KINDS

    def protective_below(self, device: str) -> list[str]:
        """Protective devices strictly below `device` that interrupt at least one meter, nearest first."""
        found: list[str] = []
        frontier = [str(c) for c in self.model.children(device)]
        while frontier:
            next_frontier: list[str] = []
            for child in frontier:
                if self.kind_of(child) in PROTECTIVE_KINDS and len(self.meters_below(child)):
                    found.append(child)
                next_frontier.extend(str(c) for c in self.model.children(child))
            frontier = next_frontier
        return found


def _ids_of_kind(model: Any, name: str) -> list[str]:
    kind = _device_kind(name)
    if kind is None:
        return []
    return sorted(str(getattr(d, "id", d)) for d in model.devices_of_kind(kind))


def _device_kind(name: str) -> Any:
    try:
        from gridmon.grid.model import DeviceKind
    except ImportError:
        return name
    try:
        return DeviceKind(name)
    except ValueError:
        return None


def _site(model: Any, device_id: str, *, pdc: bool) -> Site:
    device = model.device(device_id)
    location = str(device.parent) if device.parent else device_id
    feeder = str(model.feeder_of(device_id) or "")
    if pdc:
        substation = _substation_of(model, location)
        gateway = f"pdc-{substation}"
    else:
        gateway = f"gw-{feeder or 'grid'}"
    return Site(device_id, location, gateway, feeder, kind_name(model.device(location).kind))


def _substation_of(model: Any, device: str) -> str:
    for element in [device, *map(str, model.upstream(device))]:
        if kind_name(model.device(element).kind) == "substation":
            return element
    return str(model.feeder_of(device) or device)
