"""Locate faults from dark meters: the most upstream devices whose whole area is plausibly dark, in columns.

A device is blamed when enough of its meters are dark, none of its big branches is clearly powered and hardly
any meter or transformer below it has reported power since the darkness began; meters left over stand alone.
A device that opens darkens its whole area at one moment: a branch whose gasps came at another time (a separate
fault seconds apart, as in a storm) says nothing for the device, and with no gasp at its onset it counts as live.
"""

from __future__ import annotations

import math

import numpy as np

from gridmon.outages.config import CorrelatorConfig
from gridmon.outages.topology import OutageTopology


def dark_counts(topology: OutageTopology, dark: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every candidate at or above a dark meter, with how many dark meters it has below it."""
    levels = [dark]
    current = dark
    while len(current):
        current = topology.candidate_parent[current]
        current = current[current >= 0]
        levels.append(current)
    return np.unique(np.concatenate(levels), return_counts=True)


def locate(
    topology: OutageTopology,
    dark: np.ndarray,
    alive: np.ndarray,
    config: CorrelatorConfig,
    explained: np.ndarray | None = None,
    dark_ns: np.ndarray | None = None,
) -> np.ndarray:
    """Devices that explain the `dark` meter indexes (topmost first in tree order); `alive` are device
    indexes (meters or transformers) known powered since the darkness began; `explained` are the devices of
    earlier outages still open, whose meters are out already and so say nothing about this fault; `dark_ns`
    (aligned with `dark`, negative when unknown, e.g. found by an interval read) when each went dark."""
    if not len(dark):
        return np.empty(0, dtype=np.int64)
    explained = _topmost(topology, explained) if explained is not None else np.empty(0, dtype=np.int64)
    dark, first = np.unique(dark, return_index=True)
    onsets = _Onsets(topology, dark, None if dark_ns is None else np.asarray(dark_ns)[first], config)
    touched, k = dark_counts(topology, dark)
    n = topology.meter_count(touched) - _meters_within(topology, touched, explained)
    out = (n > 0) & (k >= config.min_dark_fraction * n) & (k >= np.minimum(config.min_dark_meters, n))
    out &= _alive_below(topology, touched, alive) <= config.alive_share * k
    count_of = dict(zip(touched.tolist(), k.tolist(), strict=True))
    for position in np.flatnonzero(out & (n > 1)).tolist():
        out[position] = _branches_agree(topology, int(touched[position]), onsets, explained, config)
    chosen = _topmost(topology, touched[out]).tolist()
    return np.array([_narrowest(topology, d, count_of, explained) for d in chosen], dtype=np.int64)


def _narrowest(topology: OutageTopology, device: int, count_of: dict[int, int], explained: np.ndarray) -> int:
    """Walk down while one branch holds every meter of `device` not out already by an earlier outage, and all
    its dark ones: the rest of the device's area is that earlier outage's, so the branch explains as much.
    Devices in series (the same meters) keep the upstream one, as before."""
    total = int(topology.meter_count(np.array([device]))[0])
    while True:
        children = topology.candidate_children(device)
        if not len(children):
            return device
        sizes = topology.meter_count(children) - _meters_within(topology, children, explained)
        informative = children[sizes > 0]
        if len(informative) != 1 or count_of.get(int(informative[0]), 0) != count_of[device]:
            return device
        if int(topology.meter_count(informative)[0]) == total:
            return device  # in series: nothing but the evidence's timing could tell them apart
        device = int(informative[0])


def _meters_within(topology: OutageTopology, devices: np.ndarray, explained: np.ndarray) -> np.ndarray:
    """Meters of the (disjoint) `explained` subtrees that lie inside each device's subtree."""
    if not len(explained):
        return np.zeros(len(devices), dtype=np.int64)
    order = np.argsort(topology.tin[explained])
    tins = topology.tin[explained][order]
    prefix = np.concatenate([[0], np.cumsum(topology.meter_count(explained[order]))])
    lo = np.searchsorted(tins, topology.tin[devices])
    hi = np.searchsorted(tins, topology.tout[devices])
    return (prefix[hi] - prefix[lo]).astype(np.int64)


def _alive_below(topology: OutageTopology, devices: np.ndarray, alive: np.ndarray) -> np.ndarray:
    """How many of the powered units (meters, transformers) sit in each device's subtree."""
    if not len(alive):
        return np.zeros(len(devices), dtype=np.int64)
    alive_tin = np.sort(topology.tin[alive])
    lo = np.searchsorted(alive_tin, topology.tin[devices])
    hi = np.searchsorted(alive_tin, topology.tout[devices])
    return (hi - lo).astype(np.int64)


class _Onsets:
    """The dark meters in tree order with their stamps, to count per branch the gasps at a device's onset."""

    def __init__(
        self, topology: OutageTopology, dark: np.ndarray, stamps: np.ndarray | None, config: CorrelatorConfig
    ) -> None:
        order = np.argsort(topology.tin[dark])
        self.topology = topology
        self.tin = topology.tin[dark[order]]
        self.stamps = np.full(len(dark), -1, dtype=np.int64) if stamps is None else stamps[order]
        self.tolerance_ns = int(config.onset_tolerance_s * 1e9)

    def branch_counts(self, device: int, children: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per child: dark meters at `device`'s onset (the median known stamp below it; a meter whose time is
        unknown agrees with any) and dark meters at another time (their own fault, or a clock far off)."""
        topology = self.topology
        lo, hi = np.searchsorted(self.tin, [topology.tin[device], topology.tout[device]])
        stamps = self.stamps[lo:hi]
        known = stamps >= 0
        agree = ~known
        if known.any():
            onset = int(np.median(stamps[known]))
            agree |= np.abs(stamps - onset) <= self.tolerance_ns
        prefix = np.concatenate([[0], np.cumsum(agree)])
        start = np.searchsorted(self.tin, topology.tin[children]) - lo
        end = np.searchsorted(self.tin, topology.tout[children]) - lo
        at_onset = prefix[end] - prefix[start]
        return at_onset, (end - start) - at_onset


def _branches_agree(
    topology: OutageTopology,
    device: int,
    onsets: _Onsets,
    explained: np.ndarray,
    config: CorrelatorConfig,
) -> bool:
    """False when a sizeable branch below `device` is clearly powered: of its meters that could tell (not out
    already, not dark at another moment), at most `branch_dark_fraction` went dark at the device's onset (a
    few strays: a sag can reboot a meter). One gasp from a small branch at the same moment outweighs its
    silent meters: gasps get lost, while another fault at the very same second is far less likely."""
    children = topology.candidate_children(device)
    if not len(children) or topology.largest_branch[device] < config.branch_min_meters:
        return True
    at_onset, elsewhen = onsets.branch_counts(device, children)
    sizes = topology.meter_count(children) - _meters_within(topology, children, explained) - elsewhen
    powered = (sizes >= silent_branch_min(len(children), config)) & (
        at_onset <= np.floor(config.branch_dark_fraction * sizes)
    )
    return not bool(powered.any())


def silent_branch_min(branches: int, config: CorrelatorConfig) -> int:
    """Meters a branch needs for its silence to prove power: all of them losing their gasps must be unlikely
    (below `silent_branch_chance`) even among this many branches, any of which could be silent by chance."""
    loss = min(max(config.gasp_loss_max, 1e-6), 0.999)
    needed = math.log(config.silent_branch_chance / max(branches, 1)) / math.log(loss)
    return max(config.branch_min_meters, math.ceil(needed))


def _topmost(topology: OutageTopology, devices: np.ndarray) -> np.ndarray:
    """Drop devices inside another chosen device's subtree."""
    if not len(devices):
        return np.empty(0, dtype=np.int64)
    devices = devices[np.argsort(topology.tin[devices], kind="stable")]
    chosen: list[int] = []
    end = -1
    for device, tin, tout in zip(
        devices.tolist(), topology.tin[devices].tolist(), topology.tout[devices].tolist(), strict=True
    ):
        if tin >= end:
            chosen.append(device)
            end = tout
    return np.array(chosen, dtype=np.int64)
