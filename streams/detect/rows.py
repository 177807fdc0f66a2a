"""Per-device state arrays with a row only for the devices that have state: the registry holds every device,
but most state is of a metric or a channel that only some devices (the PMUs, the sensors) ever report.

>>> import numpy as np
>>> class Seen(DeviceRows):
...     FIELDS = {"count": (0, np.int64, 0)}
>>> seen = Seen(1_000_000, dense=False)
>>> rows = seen.rows(np.array([7, 7, 42]))
>>> seen.count[rows] += 1
>>> seen.size, seen.get("count", np.array([7, 42, 3])).tolist()
(2, [1, 1, 0])
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

MIN_ROWS = 1024  # a compact state grows by a quarter, at least this many rows, up to the registry
# a compact state finds rows in a registry-sized map (4 B per registry device) once more than this fraction of
# the registry has rows (the meters' states); below it, by binary search in its devices sorted (a PMU or
# sensor metric: 225 or 7.5k rows, where ~60 maps of 1.2M devices took ~0.29 GB)
DENSE_MAP_FRACTION = 1 / 64


class DeviceRows:
    """Arrays named by `FIELDS` (name → (0 for one value per device, else that many rows per device; dtype;
    the value of a device without state)), indexed by row, the device axis last.

    Dense (the default), row = device index. Compact (`dense=False`), a device gets a row when `rows` first
    sees it: `lookup` (and `row_of`) maps a device to its row (-1: none), `device` a row to its device. Fields
    are attributes
    (`state.mean[rows]`), made on first use: a metric's state holds only the fields its checks use (the
    CUSUM's block sums only for peer metrics). `rows` may replace the arrays by larger ones, so take them
    after it.
    """

    FIELDS: ClassVar[dict[str, tuple[int, type, Any]]] = {}

    def __init__(self, devices: int, dense: bool = True) -> None:
        self.devices = devices
        # device → row: registry-sized once many devices have rows, else None (`_keys`: sorted devices)
        self._map: np.ndarray | None = np.arange(devices, dtype=np.int32) if dense else None
        self._keys = np.empty(0, dtype=np.int32)
        self._key_rows = np.empty(0, dtype=np.int32)
        self.device = np.arange(devices, dtype=np.int32) if dense else np.empty(0, dtype=np.int32)
        self.size = devices if dense else 0  # rows in use

    def __getattr__(self, name: str) -> np.ndarray:
        """A field not made yet: made now, fresh for every row in use (only called when `name` is not an
        attribute already)."""
        if name not in type(self).FIELDS or "device" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        blocks, dtype, fresh = self.FIELDS[name]
        array: np.ndarray = np.zeros((blocks, self.capacity) if blocks else self.capacity, dtype)
        array[..., : self.size] = fresh
        setattr(self, name, array)
        return array

    @property
    def capacity(self) -> int:
        return len(self.device)

    @property
    def row_of(self) -> np.ndarray:
        """Every registry device's row (-1: none), made for the reader when this state has no map."""
        if self._map is not None:
            return self._map
        row_of = np.full(self.devices, -1, dtype=np.int32)
        row_of[self._keys] = self._key_rows
        return row_of

    def lookup(self, dev: np.ndarray | int) -> np.ndarray:
        """The row of each device index (-1: none), giving none."""
        if self._map is not None:
            return np.asarray(self._map[dev])
        if not len(self._keys):
            return np.full(np.shape(dev), -1, dtype=np.int32)
        at = np.minimum(np.searchsorted(self._keys, dev), len(self._keys) - 1)
        return np.where(self._keys[at] == dev, self._key_rows[at], np.int32(-1))

    def _index(self, first: int) -> None:
        """Make rows `first`… (given to devices just now, or loaded) findable by `lookup`."""
        if self._map is None and self.size > self.devices * DENSE_MAP_FRACTION:
            self._map, first = np.full(self.devices, -1, dtype=np.int32), 0
            self._keys = self._key_rows = np.empty(0, dtype=np.int32)
        if self._map is not None:
            self._map[self.device[first : self.size]] = np.arange(first, self.size, dtype=np.int32)
            return
        self._key_rows = np.argsort(self.device[: self.size], kind="stable").astype(np.int32)
        self._keys = self.device[self._key_rows]

    def has(self, name: str) -> bool:
        """Whether field `name` is made (a field never used holds every device's fresh value)."""
        return name in self.__dict__

    def _allocate(self, capacity: int) -> None:
        """Resize every array made to `capacity` rows, keeping the rows in use. Rows beyond them are zeros
        from calloc, never resident until `rows` gives them to a device: spare capacity costs no memory."""
        for name, (blocks, dtype, _) in self.FIELDS.items():
            if self.has(name):
                array: np.ndarray = np.zeros((blocks, capacity) if blocks else capacity, dtype)
                array[..., : self.size] = self.__dict__[name][..., : self.size]
                setattr(self, name, array)
        device = np.zeros(capacity, dtype=np.int32)
        device[: self.size] = self.device[: self.size]
        self.device = device

    def rows(self, dev: np.ndarray) -> np.ndarray:
        """The row of each device index, giving a fresh row to the devices that have none yet."""
        row = self.lookup(dev)
        missing = row < 0
        if not missing.any():
            return row
        new = np.unique(dev[missing])
        first, needed = self.size, self.size + len(new)
        if needed > self.capacity:
            self._allocate(min(self.devices, max(needed, self.capacity * 5 // 4, MIN_ROWS)))
        self.device[first:needed] = new
        self.reset(slice(first, needed))
        self.size = needed
        self._index(first)
        return self.lookup(dev)

    def row(self, dev: int) -> int:
        """`rows` of one device."""
        return int(self.rows(np.array([dev]))[0])

    def get(self, name: str, dev: np.ndarray | int) -> np.ndarray:
        """Field `name` of these device indices, a fresh device's value where one has no row (no row or field
        is made): for readers that think in devices, e.g. `state.get("mean", pmus)`."""
        blocks, dtype, fresh = self.FIELDS[name]
        row = self.lookup(dev)
        if not self.size or not self.has(name):
            return np.full(((blocks,) if blocks else ()) + np.shape(row), fresh, dtype=dtype)
        array = self.__dict__[name]
        return np.where(row >= 0, array[..., np.maximum(row, 0)], np.asarray(fresh, dtype=dtype))

    def reset(self, rows: np.ndarray | slice) -> None:
        """Make these rows fresh again (as a device that never had state here)."""
        for name, array in self.arrays().items():
            array[..., rows] = self.FIELDS[name][2]

    def arrays(self) -> dict[str, np.ndarray]:
        """Every field made (all rows, in use or not)."""
        return {name: self.__dict__[name] for name in self.FIELDS if self.has(name)}

    def saved(self) -> dict[str, np.ndarray]:
        """The rows in use and their devices, for a checkpoint (`load` reads it back)."""
        used = {name: array[..., : self.size] for name, array in self.arrays().items()}
        return used | {"device": self.device[: self.size]}

    def load(self, saved: dict[str, np.ndarray]) -> None:
        """Replace every row by `saved()` output (of a state over the same devices)."""
        for name in self.arrays():
            del self.__dict__[name]
        device = np.asarray(saved["device"], dtype=np.int32)
        self.size = 0  # nothing to keep: every array is made anew
        self._allocate(len(device))
        self.device[:] = device
        self.size = len(device)
        for name in self.FIELDS:
            if name in saved:
                getattr(self, name)[...] = saved[name]
        if self._map is not None:
            self._map[:] = -1
        self._index(0)

    def adopt(self, theirs: dict[str, np.ndarray], taken: np.ndarray) -> None:
        """Copy in the rows of the `taken` devices (mask over the registry) from another state's `saved()`;
        a taken device they hold no row for (or a field they never made) becomes fresh here, as their state
        of it is."""
        their_device = theirs["device"].astype(np.int64)
        moved = taken[their_device]
        rows = self.rows(their_device[moved])  # may grow the arrays: take them after
        self.reset(rows)
        for name in self.FIELDS:
            if name in theirs:
                getattr(self, name)[..., rows] = theirs[name][..., moved]
        they_have = np.zeros(len(taken), dtype=bool)
        they_have[their_device] = True
        own = self.device[: self.size]
        self.reset(np.flatnonzero(taken[own] & ~they_have[own]))


class FieldOf:
    """One field of a `DeviceRows` state indexed like the per-device array it replaces (`interval[dev]`): a
    device without a row reads the fresh value. For readers that take a per-device array."""

    def __init__(self, state: DeviceRows, name: str) -> None:
        self.state = state
        self.name = name

    def __getitem__(self, dev: np.ndarray) -> np.ndarray:
        return self.state.get(self.name, dev)


PerDevice = np.ndarray | FieldOf  # what a reader indexes by device index (`values[dev]`)
