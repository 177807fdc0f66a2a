"""Who has power when: the faults' device openings turned into dark intervals per meter and per measurement site.

A meter is dark while any device on its path to the source is open, so nested faults and stepped restoration
follow from the topology alone; sites (PMUs, sensors) see their location go dark and the load below them drop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gridmon.simulate.scenario import Fault, Opening
from gridmon.simulate.topology import Site, Topology


@dataclass(frozen=True)
class DarkIntervals:
    """Merged [start, end) intervals without power, sorted by meter then start."""

    meter: np.ndarray
    start: np.ndarray
    end: np.ndarray

    def dark_at(self, ts_ns: int) -> np.ndarray:
        """Meter positions without power at `ts_ns`."""
        inside = (self.start <= ts_ns) & (ts_ns < self.end)
        return self.meter[inside]

    def dark_ns(self, meters: int, low_ns: int, high_ns: int) -> np.ndarray:
        """Per meter, how long it was dark within [low_ns, high_ns)."""
        overlap = np.minimum(self.end, high_ns) - np.maximum(self.start, low_ns)
        dark = np.zeros(meters, dtype=np.int64)
        np.add.at(dark, self.meter, np.maximum(overlap, 0))
        return dark


def openings_of(faults: Sequence[Fault]) -> list[Opening]:
    return [opening for fault in faults for opening in fault.openings]


def dark_intervals(topology: Topology, openings: Sequence[Opening]) -> DarkIntervals:
    """Every meter below an open device is dark; overlapping intervals of one meter are merged."""
    if not openings:
        empty = np.empty(0, dtype=np.int64)
        return DarkIntervals(empty, empty, empty)
    parts = [topology.meters_below(o.device) for o in openings]
    meter = np.concatenate(parts)
    start = np.concatenate(
        [np.full(len(p), o.start_ns, dtype=np.int64) for p, o in zip(parts, openings, strict=True)]
    )
    end = np.concatenate(
        [np.full(len(p), o.end_ns, dtype=np.int64) for p, o in zip(parts, openings, strict=True)]
    )
    order = np.lexsort((start, meter))
    return _merge(meter[order], start[order], end[order])


def _merge(meter: np.ndarray, start: np.ndarray, end: np.ndarray) -> DarkIntervals:
    """Merge overlapping intervals per meter (input sorted by meter, start)."""
    keep_meter: list[int] = []
    keep_start: list[int] = []
    keep_end: list[int] = []
    for m, s, e in zip(meter.tolist(), start.tolist(), end.tolist(), strict=True):
        if keep_meter and keep_meter[-1] == m and s <= keep_end[-1]:
            keep_end[-1] = max(keep_end[-1], e)
            continue
        keep_meter.append(m)
        keep_start.append(s)
        keep_end.append(e)
    return DarkIntervals(
        np.array(keep_meter, dtype=np.int64),
        np.array(keep_start, dtype=np.int64),
        np.array(keep_end, dtype=np.int64),
    )


@dataclass(frozen=True)
class SitePower:
    """For one measurement site: when its location is dark, and the share of customers below it still served."""

    dark_start: np.ndarray
    dark_end: np.ndarray
    change_ns: np.ndarray  # times where the customers out below the site change (first entry: -inf)
    served_share: np.ndarray  # share of customers below still served from that time

    def dark_mask(self, ts_ns: np.ndarray) -> np.ndarray:
        mask = np.zeros(ts_ns.shape, dtype=bool)
        for start, end in zip(self.dark_start.tolist(), self.dark_end.tolist(), strict=True):
            mask |= (ts_ns >= start) & (ts_ns < end)
        return mask

    def served(self, ts_ns: np.ndarray) -> np.ndarray:
        return self.served_share[np.searchsorted(self.change_ns, ts_ns, side="right") - 1]


ALWAYS_SERVED = SitePower(
    np.empty(0, dtype=np.int64),
    np.empty(0, dtype=np.int64),
    np.array([np.iinfo(np.int64).min], dtype=np.int64),
    np.ones(1),
)


def dark_matrix(powers: Sequence[SitePower], ts_ns: np.ndarray) -> np.ndarray:
    """(samples, sites) mask of sites without voltage; `ts_ns` is (samples,) or (samples, sites)."""
    mask = np.zeros((ts_ns.shape[0], len(powers)), dtype=bool)
    for column, power in enumerate(powers):
        if len(power.dark_start):
            mask[:, column] = power.dark_mask(ts_ns if ts_ns.ndim == 1 else ts_ns[:, column])
    return mask


def served_matrix(powers: Sequence[SitePower], ts_ns: np.ndarray) -> np.ndarray:
    """(samples, sites) share of the customers below each site that have power."""
    served = np.ones((ts_ns.shape[0], len(powers)))
    for column, power in enumerate(powers):
        if power is not ALWAYS_SERVED:
            served[:, column] = power.served(ts_ns if ts_ns.ndim == 1 else ts_ns[:, column])
    return served


def site_power(
    topology: Topology, sites: Sequence[Site], openings: Sequence[Opening], dark: DarkIntervals
) -> list[SitePower]:
    """Power at each site; sites no opening touches share one constant profile."""
    opened = {o.device for o in openings}
    touched = set(opened)
    for device in opened:
        touched.update(topology.upstream(device))
    powers: list[SitePower] = []
    for site in sites:
        path = {site.location, *topology.upstream(site.location)}
        if site.location not in touched and not (path & opened):
            powers.append(ALWAYS_SERVED)
            continue
        powers.append(_one_site(topology, site, path, openings, dark))
    return powers


def _one_site(
    topology: Topology, site: Site, path: set[str], openings: Sequence[Opening], dark: DarkIntervals
) -> SitePower:
    above = [o for o in openings if o.device in path]
    below = topology.meters_below(site.location)
    total = max(1, int(topology.meter_customers[below].sum()))
    rows = np.isin(dark.meter, below)
    customers = topology.meter_customers[dark.meter[rows]]
    times = np.concatenate([dark.start[rows], dark.end[rows]])
    deltas = np.concatenate([customers, -customers])
    order = np.argsort(times, kind="stable")
    out = np.cumsum(deltas[order])
    change = np.concatenate([[np.iinfo(np.int64).min], times[order]])
    served = np.concatenate([[1.0], 1.0 - out / total])
    return SitePower(
        np.array([o.start_ns for o in above], dtype=np.int64),
        np.array([o.end_ns for o in above], dtype=np.int64),
        change.astype(np.int64),
        np.clip(served, 0.0, 1.0),
    )
