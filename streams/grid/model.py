"""The grid model: a radial network of devices with protection zones, and O(1) lookups for the stream processors.

Everything is held in numpy columns indexed by an int device index, so a 1M-meter model fits in memory and loads fast.

Conventions (what the lookups mean):

- The tree is radial: every device has one `parent` (the upstream element), None at a root (the substation).
  Normally-open ties are devices (kind switch, `normally_open=True`, parent = their `a_end`) with no children,
  and are also listed in `ties` with both ends; they are never part of a power path.
- The zone of an element is its nearest protective device (breaker, recloser, fuse, sectionalizer, switch) at or
  above it; a protective device heads its own zone. Elements above every protective device are in the zone of the
  root (the substation id).
- `upstream(id)` and `protective_upstream(id)` exclude `id` itself and list nearest first.
- `customers_below(id)` / `meters_below(id)`: what `id` interrupts when it opens (a meter: itself).
- PMUs and sensors are leaf devices whose parent is the element they measure; every breaker, recloser,
  sectionalizer and switch carries a SCADA point whose device id is the device itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np

from gridmon.errors import GridModelError

FORMAT_VERSION = 1


class DeviceKind(StrEnum):
    """What a device is. Capacitors, regulators and other carried equipment are `other`."""

    SUBSTATION = "substation"
    BREAKER = "breaker"
    RECLOSER = "recloser"
    FUSE = "fuse"
    SECTIONALIZER = "sectionalizer"
    SWITCH = "switch"
    LINE = "line"
    TRANSFORMER = "transformer"
    METER = "meter"
    PMU = "pmu"
    SENSOR = "sensor"
    OTHER = "other"


KINDS: tuple[DeviceKind, ...] = tuple(DeviceKind)
KIND_CODE: dict[DeviceKind, int] = {kind: code for code, kind in enumerate(KINDS)}
PROTECTIVE_KINDS = frozenset(
    {DeviceKind.BREAKER, DeviceKind.RECLOSER, DeviceKind.FUSE, DeviceKind.SECTIONALIZER, DeviceKind.SWITCH}
)
SCADA_KINDS = frozenset(
    {DeviceKind.BREAKER, DeviceKind.RECLOSER, DeviceKind.SECTIONALIZER, DeviceKind.SWITCH}
)
MEASUREMENT_KINDS = frozenset({DeviceKind.PMU, DeviceKind.SENSOR})
PHASE_BITS = {"A": 1, "B": 2, "C": 4}


@dataclass(frozen=True)
class Device:
    """One element of the network, as people and importers see it."""

    id: str
    kind: DeviceKind
    feeder: str = ""
    parent: str | None = None
    name: str = ""
    x: float = float("nan")
    y: float = float("nan")
    customers: int = 0  # service points (meters) only
    kva: float = 0.0
    kw: float = 0.0
    normally_open: bool = False
    phases: str = "ABC"


@dataclass(frozen=True)
class Tie:
    """A normally-open tie between two devices (usually the ends of two feeders); not part of the tree."""

    id: str
    a_end: str
    b_end: str


def phase_mask(phases: str) -> int:
    return sum(bit for letter, bit in PHASE_BITS.items() if letter in phases.upper())


def phase_text(mask: int) -> str:
    return "".join(letter for letter, bit in PHASE_BITS.items() if mask & bit)


@dataclass
class Columns:
    """The stored columns of a model, one row per device (the input of `GridModel`)."""

    ids: list[str]
    kind: np.ndarray  # int8 codes into KINDS
    parent: np.ndarray  # int32, -1 at roots
    feeders: list[str]  # feeder names; "" is no feeder
    feeder_index: np.ndarray  # int32 into feeders
    customers: np.ndarray  # int32
    kva: np.ndarray  # float32
    kw: np.ndarray  # float32
    x: np.ndarray  # float64
    y: np.ndarray  # float64
    normally_open: np.ndarray  # bool
    phases: np.ndarray  # uint8 mask
    names: dict[int, str]  # only where the name differs from the id
    ties: list[Tie]


class GridModel:
    """A radial network with precomputed zones, subtrees and indexes (build with `from_devices` or `from_columns`)."""

    # Precomputed by `_derive`, all indexed by device index.
    zone_index: np.ndarray  # int32: the zone head of each device
    transformer_index: np.ndarray  # int32: nearest transformer at or above, -1 none
    tin: np.ndarray  # int64: pre-order position; the subtree of i is [tin[i], tout[i])
    tout: np.ndarray
    _protective: np.ndarray
    _scada: np.ndarray
    _measurement: np.ndarray
    _child_list: np.ndarray
    _child_start: np.ndarray
    _zone_heads: np.ndarray
    _customers_prefix: np.ndarray
    _meters_by_tin: np.ndarray
    _meter_tin: np.ndarray

    def __init__(self, columns: Columns) -> None:
        self._columns = columns
        self.ids: np.ndarray = np.array(columns.ids, dtype=object)
        self._index: dict[str, int] = {device: position for position, device in enumerate(columns.ids)}
        if len(self._index) != len(columns.ids):
            raise GridModelError(
                "duplicate device ids in the model: run `gridmon grid validate` on the source"
            )
        self.ties: list[Tie] = list(columns.ties)
        self.feeders: list[str] = list(columns.feeders)
        self.kind_index: np.ndarray = columns.kind.astype(np.int8)
        self.parent_index: np.ndarray = columns.parent.astype(np.int32)
        self.feeder_index: np.ndarray = columns.feeder_index.astype(np.int32)
        self.customers: np.ndarray = columns.customers.astype(np.int32)
        _derive(self)

    # --- construction -------------------------------------------------------------------------------------

    @classmethod
    def from_columns(cls, columns: Columns) -> GridModel:
        return cls(columns)

    @classmethod
    def from_devices(cls, devices: Iterable[Device], ties: Iterable[Tie] = ()) -> GridModel:
        """Build from devices whose parents are ids; raises GridModelError on unknown parents or loops."""
        return cls(columns_from_devices(list(devices), list(ties)))

    # --- single-device lookups (O(1) unless they return a path or a set) ----------------------------------

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, device: object) -> bool:
        return device in self._index

    def position(self, device: str) -> int:
        """The int index of a device; GridModelError if unknown."""
        try:
            return self._index[device]
        except KeyError:
            raise GridModelError(f"unknown device {device!r}: not in the grid model") from None

    def device(self, device: str) -> Device:
        return self.device_at(self.position(device))

    def device_at(self, i: int) -> Device:
        c = self._columns
        parent = int(self.parent_index[i])
        return Device(
            id=str(self.ids[i]),
            kind=KINDS[int(self.kind_index[i])],
            feeder=self.feeders[int(self.feeder_index[i])],
            parent=str(self.ids[parent]) if parent >= 0 else None,
            name=c.names.get(i, str(self.ids[i])),
            x=float(c.x[i]),
            y=float(c.y[i]),
            customers=int(self.customers[i]),
            kva=float(c.kva[i]),
            kw=float(c.kw[i]),
            normally_open=bool(c.normally_open[i]),
            phases=phase_text(int(c.phases[i])),
        )

    def kind_of(self, device: str) -> DeviceKind:
        return KINDS[int(self.kind_index[self.position(device)])]

    def parent_of(self, device: str) -> str | None:
        parent = int(self.parent_index[self.position(device)])
        return str(self.ids[parent]) if parent >= 0 else None

    def zone_of(self, device: str) -> str:
        return str(self.ids[self.zone_index[self.position(device)]])

    def feeder_of(self, device: str) -> str:
        return self.feeders[int(self.feeder_index[self.position(device)])]

    def transformer_of(self, device: str) -> str | None:
        """The nearest transformer at or above `device` (for a meter: the one that serves it)."""
        t = int(self.transformer_index[self.position(device)])
        return str(self.ids[t]) if t >= 0 else None

    def upstream(self, device: str) -> list[str]:
        """The path from `device` (excluded) to the source, nearest first."""
        return [str(self.ids[i]) for i in self._ancestors(self.position(device))]

    def protective_upstream(self, device: str) -> list[str]:
        """Protective devices above `device` (excluded), nearest first."""
        found: list[str] = []
        zone = int(self.zone_index[self.position(device)])
        if zone == self.position(device):
            zone = self._zone_above(zone)
        while zone >= 0 and self._protective[zone]:
            found.append(str(self.ids[zone]))
            zone = self._zone_above(zone)
        return found

    def customers_below(self, device: str) -> int:
        i = self.position(device)
        return int(self._customers_prefix[self.tout[i]] - self._customers_prefix[self.tin[i]])

    def meters_below(self, device: str) -> list[str]:
        return [str(m) for m in self.ids[self.meter_indexes_below(self.position(device))]]

    def meter_indexes_below(self, i: int) -> np.ndarray:
        """Device indexes of the meters in the subtree of device index `i` (in tree order)."""
        lo, hi = np.searchsorted(self._meter_tin, [self.tin[i], self.tout[i]])
        return self._meters_by_tin[lo:hi]

    def children(self, device: str) -> list[str]:
        i = self.position(device)
        return [str(c) for c in self.ids[self._child_list[self._child_start[i] : self._child_start[i + 1]]]]

    def meters_of_transformer(self, transformer: str) -> list[str]:
        t = self.position(transformer)
        below = self.meter_indexes_below(t)
        return [str(m) for m in self.ids[below[self.transformer_index[below] == t]]]

    def devices_of_kind(self, kind: DeviceKind | str) -> list[str]:
        return [str(d) for d in self.ids[self.indexes_of_kind(kind)]]

    def indexes_of_kind(self, kind: DeviceKind | str) -> np.ndarray:
        return np.flatnonzero(self.kind_index == KIND_CODE[DeviceKind(kind)])

    def is_protective(self, device: str) -> bool:
        return bool(self._protective[self.position(device)])

    def has_scada(self, device: str) -> bool:
        return bool(self._scada[self.position(device)])

    def location_of(self, point: str) -> str:
        """The element a measurement point measures: a PMU's/sensor's parent; a SCADA point is its device."""
        i = self.position(point)
        if KINDS[int(self.kind_index[i])] in MEASUREMENT_KINDS and self.parent_index[i] >= 0:
            return str(self.ids[self.parent_index[i]])
        return point

    def monitored_by(self, device: str) -> list[str]:
        """Measurement points on `device`: its PMUs and sensors, and the device itself if it has SCADA."""
        i = self.position(device)
        kids = self._child_list[self._child_start[i] : self._child_start[i + 1]]
        points = [str(self.ids[c]) for c in kids if self._measurement[c]]
        return [device, *points] if self._scada[i] else points

    def scada_points(self) -> list[str]:
        return [str(d) for d in self.ids[np.flatnonzero(self._scada)]]

    def zones(self) -> list[str]:
        """Zone ids (protective devices and roots), in tree order."""
        return [str(z) for z in self.ids[self._zone_heads]]

    def zone_above(self, zone: str) -> str | None:
        """The zone that contains the head of `zone` (None at a root)."""
        above = self._zone_above(self.position(zone))
        return str(self.ids[above]) if above >= 0 else None

    # --- vectorised -----------------------------------------------------------------------------------------

    def index_of(self, ids: Sequence[str]) -> np.ndarray:
        """Device ids → int32 indexes (-1 when unknown); map a batch once, then work in columns."""
        # map() over dict.get runs in C: a generator costs a Python frame per id (~2× for a meter batch)
        return np.fromiter(map(self._index.get, ids, repeat(-1)), dtype=np.int32, count=len(ids))

    def customers_below_indexes(self, indexes: np.ndarray) -> np.ndarray:
        return self._customers_prefix[self.tout[indexes]] - self._customers_prefix[self.tin[indexes]]

    def is_below(self, indexes: np.ndarray, ancestor: int) -> np.ndarray:
        """Which of `indexes` sit in the subtree of device index `ancestor` (itself included)."""
        tin = self.tin[indexes]
        return (tin >= self.tin[ancestor]) & (tin < self.tout[ancestor])

    # --- storage --------------------------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write the model as one .npz file (no pickles); `GridModel.load` reads it back."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        c = self._columns
        meta = {
            "version": FORMAT_VERSION,
            "feeders": c.feeders,
            "names": {str(k): v for k, v in c.names.items()},
            "ties": [[t.id, t.a_end, t.b_end] for t in c.ties],
        }
        with path.open("wb") as handle:
            np.savez(
                handle,
                ids=np.frombuffer("\n".join(c.ids).encode(), dtype=np.uint8),
                meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
                kind=c.kind,
                parent=c.parent,
                feeder_index=c.feeder_index,
                customers=c.customers,
                kva=c.kva,
                kw=c.kw,
                x=c.x,
                y=c.y,
                normally_open=c.normally_open,
                phases=c.phases,
            )
        return path

    @classmethod
    def load(cls, path: str | Path) -> GridModel:
        path = Path(path)
        if not path.is_file():
            raise GridModelError(
                f"no grid model at {path}: create one with `gridmon grid import FILE` or `gridmon grid generate`"
            )
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files}
        except (OSError, ValueError) as exc:
            raise GridModelError(f"{path} is not a gridmon model file ({exc}); re-create it") from None
        meta = json.loads(arrays["meta"].tobytes().decode())
        if meta.get("version") != FORMAT_VERSION:
            raise GridModelError(
                f"{path} has model format {meta.get('version')}; re-create it with this gridmon"
            )
        blob = arrays["ids"].tobytes().decode()
        return cls(
            Columns(
                ids=blob.split("\n") if blob else [],
                kind=arrays["kind"],
                parent=arrays["parent"],
                feeders=list(meta["feeders"]),
                feeder_index=arrays["feeder_index"],
                customers=arrays["customers"],
                kva=arrays["kva"],
                kw=arrays["kw"],
                x=arrays["x"],
                y=arrays["y"],
                normally_open=arrays["normally_open"],
                phases=arrays["phases"],
                names={int(k): v for k, v in meta["names"].items()},
                ties=[Tie(*t) for t in meta["ties"]],
            )
        )

    # --- dimension tables -----------------------------------------------------------------------------------

    def dimension_rows(self) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """Rows for ClickHouse `devices(device, kind, feeder, zone, transformer, parent, customers, x, y, name)`
        and `zones(zone, feeder, device, kind, customers)`; customers = customers the device interrupts."""
        c = self._columns
        ids = self.ids
        below = self.customers_below_indexes(np.arange(len(ids)))
        devices = [
            (
                str(ids[i]),
                KINDS[int(self.kind_index[i])].value,
                self.feeders[int(self.feeder_index[i])],
                str(ids[self.zone_index[i]]),
                str(ids[self.transformer_index[i]]) if self.transformer_index[i] >= 0 else "",
                str(ids[self.parent_index[i]]) if self.parent_index[i] >= 0 else "",
                int(below[i]),
                float(c.x[i]),
                float(c.y[i]),
                c.names.get(i, str(ids[i])),
            )
            for i in range(len(ids))
        ]
        zones = [
            (
                str(ids[z]),
                self.feeders[int(self.feeder_index[z])],
                str(ids[z]),
                KINDS[int(self.kind_index[z])].value,
                int(below[z]),
            )
            for z in self._zone_heads
        ]
        return devices, zones

    # --- internals ------------------------------------------------------------------------------------------

    def _ancestors(self, i: int) -> list[int]:
        path = []
        parent = int(self.parent_index[i])
        while parent >= 0:
            path.append(parent)
            parent = int(self.parent_index[parent])
        return path

    def _zone_above(self, zone: int) -> int:
        parent = int(self.parent_index[zone])
        return int(self.zone_index[parent]) if parent >= 0 else -1


def _derive(model: GridModel) -> None:
    """Precompute children (CSR), tree order (tin/tout), zones, transformers and customer prefix sums."""
    n = len(model.ids)
    parent = model.parent_index
    kind = model.kind_index
    codes = np.array([KIND_CODE[k] for k in PROTECTIVE_KINDS], dtype=np.int8)
    model._protective = np.isin(kind, codes)
    model._scada = np.isin(kind, np.array([KIND_CODE[k] for k in SCADA_KINDS], dtype=np.int8))
    model._measurement = np.isin(kind, np.array([KIND_CODE[k] for k in MEASUREMENT_KINDS], dtype=np.int8))
    has_parent = parent >= 0
    if np.any(parent >= n):
        raise GridModelError(
            "a device's parent index is out of range: the model file is corrupt; re-create it"
        )
    children = np.flatnonzero(has_parent)
    order = np.argsort(parent[children], kind="stable")
    model._child_list = children[order].astype(np.int32)
    counts = np.bincount(parent[children], minlength=n) if n else np.zeros(0, dtype=np.int64)
    model._child_start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    levels = _levels(model, np.flatnonzero(~has_parent))
    _subtree_ranges(model, levels)
    _zones_and_transformers(model, levels)
    model._zone_heads = np.flatnonzero(model.zone_index == np.arange(n))
    model._zone_heads = model._zone_heads[np.argsort(model.tin[model._zone_heads])]
    customers_in_order = np.zeros(n, dtype=np.int64)
    customers_in_order[model.tin] = model.customers
    model._customers_prefix = np.concatenate([[0], np.cumsum(customers_in_order)])
    meters = np.flatnonzero(kind == KIND_CODE[DeviceKind.METER])
    by_tin = np.argsort(model.tin[meters])
    model._meters_by_tin = meters[by_tin].astype(np.int32)
    model._meter_tin = model.tin[model._meters_by_tin]


def _levels(model: GridModel, roots: np.ndarray) -> list[np.ndarray]:
    """Devices by depth, roots first; raises GridModelError when some devices are not reachable (a loop)."""
    levels = [roots.astype(np.int32)]
    reached = len(roots)
    start, child_list = model._child_start, model._child_list
    while True:
        frontier = levels[-1]
        lo, hi = start[frontier], start[frontier + 1]
        sizes = hi - lo
        if not sizes.sum():
            break
        offsets = np.repeat(lo - np.concatenate([[0], np.cumsum(sizes)[:-1]]), sizes)
        levels.append(child_list[np.arange(sizes.sum()) + offsets])
        reached += len(levels[-1])
    if reached != len(model.ids):
        raise GridModelError(
            f"{len(model.ids) - reached} devices are not connected to a root (a parent loop): "
            "run `gridmon grid validate` on the source model"
        )
    return levels


def _subtree_ranges(model: GridModel, levels: list[np.ndarray]) -> None:
    """Pre-order positions: the subtree of device i is tree order [tin[i], tout[i])."""
    n = len(model.ids)
    parent = model.parent_index
    size = np.ones(n, dtype=np.int64)
    for level in reversed(levels[1:]):
        np.add.at(size, parent[level], size[level])
    # Position of each child among its siblings: sizes of the earlier siblings, summed.
    child_list = model._child_list
    running = np.cumsum(size[child_list]) - size[child_list]
    group_start = np.repeat(model._child_start[:-1], np.diff(model._child_start))
    earlier = running - running[group_start] if len(child_list) else running
    offset = np.zeros(n, dtype=np.int64)
    offset[child_list] = earlier
    tin = np.zeros(n, dtype=np.int64)
    roots = levels[0]
    tin[roots] = np.cumsum(size[roots]) - size[roots]
    for level in levels[1:]:
        tin[level] = tin[parent[level]] + 1 + offset[level]
    model.tin = tin
    model.tout = tin + size


def _zones_and_transformers(model: GridModel, levels: list[np.ndarray]) -> None:
    n = len(model.ids)
    parent = model.parent_index
    zone = np.arange(n, dtype=np.int32)
    transformer = np.full(n, -1, dtype=np.int32)
    is_transformer = model.kind_index == KIND_CODE[DeviceKind.TRANSFORMER]
    transformer[is_transformer] = np.flatnonzero(is_transformer)
    for level in levels[1:]:
        up = parent[level]
        zone[level] = np.where(model._protective[level], level, zone[up])
        transformer[level] = np.where(is_transformer[level], level, transformer[up])
    model.zone_index = zone
    model.transformer_index = transformer


def columns_from_devices(devices: list[Device], ties: list[Tie]) -> Columns:
    """Devices with id parents → columns; unknown parents are a GridModelError naming them."""
    ids = [d.id for d in devices]
    index = {device: position for position, device in enumerate(ids)}
    if len(index) != len(ids):
        seen: set[str] = set()
        dupes = sorted({d for d in ids if d in seen or seen.add(d)})  # type: ignore[func-returns-value]
        raise GridModelError(f"duplicate device ids {dupes[:5]}: every device needs a unique id")
    unknown = [d for d in devices if d.parent is not None and d.parent not in index]
    if unknown:
        names = ", ".join(f"{d.id}→{d.parent}" for d in unknown[:5])
        raise GridModelError(f"{len(unknown)} devices name a parent that does not exist ({names})")
    feeders = sorted({d.feeder for d in devices} | {""})
    feeder_position = {feeder: position for position, feeder in enumerate(feeders)}
    return Columns(
        ids=ids,
        kind=np.array([KIND_CODE[DeviceKind(d.kind)] for d in devices], dtype=np.int8),
        parent=np.array([index[d.parent] if d.parent is not None else -1 for d in devices], dtype=np.int32),
        feeders=feeders,
        feeder_index=np.array([feeder_position[d.feeder] for d in devices], dtype=np.int32),
        customers=np.array([d.customers for d in devices], dtype=np.int32),
        kva=np.array([d.kva for d in devices], dtype=np.float32),
        kw=np.array([d.kw for d in devices], dtype=np.float32),
        x=np.array([d.x for d in devices], dtype=np.float64),
        y=np.array([d.y for d in devices], dtype=np.float64),
        normally_open=np.array([d.normally_open for d in devices], dtype=bool),
        phases=np.array([phase_mask(d.phases) for d in devices], dtype=np.uint8),
        names={i: d.name for i, d in enumerate(devices) if d.name and d.name != d.id},
        ties=ties,
    )
