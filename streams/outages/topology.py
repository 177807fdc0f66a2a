"""The grid model seen by the outage correlator: the tree contracted to the devices that can interrupt power.

Candidates are meters, transformers and protective devices; each has a nearest candidate ancestor, candidate
children (CSR) and a meter count, all numpy columns built once so that locating a fault is a few array passes.
"""

from __future__ import annotations

import numpy as np

from gridmon.grid import GridModel
from gridmon.grid.model import KIND_CODE, PROTECTIVE_KINDS, DeviceKind

METER = KIND_CODE[DeviceKind.METER]
TRANSFORMER = KIND_CODE[DeviceKind.TRANSFORMER]
PROTECTIVE_CODES = np.array(sorted(KIND_CODE[k] for k in PROTECTIVE_KINDS), dtype=np.int8)
SWITCHABLE_CODES = np.array(
    sorted(
        KIND_CODE[k]
        for k in (DeviceKind.BREAKER, DeviceKind.RECLOSER, DeviceKind.SECTIONALIZER, DeviceKind.SWITCH)
    ),
    dtype=np.int8,
)


class OutageTopology:
    """Contracted-tree arrays over a `GridModel` (indexes are the model's device indexes)."""

    def __init__(self, model: GridModel) -> None:
        self.model = model
        kind = model.kind_index
        self.is_meter = kind == METER
        self.is_transformer = kind == TRANSFORMER
        self.is_protective = np.isin(kind, PROTECTIVE_CODES)
        self.is_switchable = np.isin(kind, SWITCHABLE_CODES)
        self.is_candidate = self.is_meter | self.is_transformer | self.is_protective
        self.tin = model.tin
        self.tout = model.tout
        meters = np.flatnonzero(self.is_meter)
        order = np.argsort(self.tin[meters])
        self.meters_by_tin = meters[order]
        self.meter_tin = self.tin[self.meters_by_tin]
        switchable = np.flatnonzero(self.is_switchable)
        self.switchable_by_tin = switchable[np.argsort(self.tin[switchable])]
        self.candidate_parent = _candidate_parents(model.parent_index, self.is_candidate)
        position = model.position
        self.ties = [(t.id, position(t.a_end), position(t.b_end)) for t in model.ties]
        self.tie_devices = [position(t.id) for t in model.ties if t.id in model]
        self._child_start, self._child_list = _csr(self.candidate_parent, self.is_candidate)
        # meters of each device's biggest candidate branch: a transformer's are single meters, too small to
        # tell anything by their silence, so the branch test can skip it
        self.largest_branch = np.zeros(len(kind), dtype=np.int64)
        np.maximum.at(
            self.largest_branch,
            self.candidate_parent[self._child_list].astype(np.int64),
            self.meter_count(self._child_list.astype(np.int64)),
        )
        self.customers_at = np.zeros(int(self.tout.max(initial=0)) + 1, dtype=np.int64)  # by tree position
        self.customers_at[self.tin[meters]] = model.customers[meters]

    def customers_covered(self, root: int, out: np.ndarray, back: np.ndarray) -> int:
        """Customers below `root` inside a subtree of `out` and of none of `back` (device indexes)."""
        lo, hi = int(self.tin[root]), int(self.tout[root])
        return int(self.customers_at[lo:hi][self._cover(lo, hi, out) & ~self._cover(lo, hi, back)].sum())

    def _cover(self, lo: int, hi: int, devices: np.ndarray) -> np.ndarray:
        """Tree positions in [lo, hi) inside the subtree of any of `devices` (a difference array, no loop)."""
        delta = np.zeros(hi - lo + 1, dtype=np.int64)
        if len(devices):
            np.add.at(delta, np.clip(self.tin[devices], lo, hi) - lo, 1)
            np.add.at(delta, np.clip(self.tout[devices], lo, hi) - lo, -1)
        return np.cumsum(delta[:-1]) > 0

    def meter_count(self, indexes: np.ndarray) -> np.ndarray:
        """Meters in the subtree of each device index."""
        lo = np.searchsorted(self.meter_tin, self.tin[indexes])
        hi = np.searchsorted(self.meter_tin, self.tout[indexes])
        return (hi - lo).astype(np.int64)

    def switchable_below(self, i: int) -> np.ndarray:
        """Switchable devices in the subtree of `i` (itself included), in tree order."""
        tins = self.tin[self.switchable_by_tin]
        lo, hi = np.searchsorted(tins, [self.tin[i], self.tout[i]])
        return self.switchable_by_tin[lo:hi]

    def candidate_children(self, i: int) -> np.ndarray:
        return self._child_list[self._child_start[i] : self._child_start[i + 1]]

    def covers(self, ancestor: int, indexes: np.ndarray) -> np.ndarray:
        """Which of `indexes` are in the subtree of `ancestor` (itself included)."""
        tin = self.tin[indexes]
        return (tin >= self.tin[ancestor]) & (tin < self.tout[ancestor])

    def candidate_ancestors(self, i: int) -> list[int]:
        """Candidate devices above `i` (excluded), nearest first."""
        path = []
        parent = int(self.candidate_parent[i])
        while parent >= 0:
            path.append(parent)
            parent = int(self.candidate_parent[parent])
        return path


def _candidate_parents(parent: np.ndarray, is_candidate: np.ndarray) -> np.ndarray:
    """Nearest strict ancestor that is a candidate (-1 none), computed level by level from the roots."""
    n = len(parent)
    depth = np.zeros(n, dtype=np.int32)
    current = parent.astype(np.int64)
    alive = current >= 0
    while alive.any():
        depth[alive] += 1
        current[alive] = parent[current[alive]]
        alive = current >= 0
    result = np.full(n, -1, dtype=np.int32)
    order = np.argsort(depth, kind="stable")
    bounds = np.searchsorted(depth[order], np.arange(int(depth.max(initial=0)) + 2))
    for level in range(1, len(bounds) - 1):
        nodes = order[bounds[level] : bounds[level + 1]]
        up = parent[nodes]
        result[nodes] = np.where(is_candidate[up], up, result[up])
    return result


def _csr(candidate_parent: np.ndarray, is_candidate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = len(candidate_parent)
    has = np.flatnonzero((candidate_parent >= 0) & is_candidate)
    order = np.argsort(candidate_parent[has], kind="stable")
    child_list = has[order].astype(np.int32)
    counts = np.bincount(candidate_parent[has], minlength=n) if n else np.zeros(0, dtype=np.int64)
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64), child_list
