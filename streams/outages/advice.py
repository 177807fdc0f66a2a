"""Isolation and restoration advice for a located fault (advice for operators, never a control action).

The fault lies between the tripped device and the nearest switches below it: open those, back-feed the healthy
sections through normally-open ties, repair, then close the tripped device.
"""

from __future__ import annotations

import numpy as np

from gridmon.outages.topology import OutageTopology


def isolation_advice(topology: OutageTopology, device: int, dark_devices: list[int]) -> list[str]:
    """Numbered steps with the customers each one restores; `dark_devices` are devices now out (no back-feed)."""
    model = topology.model
    name = str(model.ids[device])
    total = int(model.customers_below_indexes(np.array([device]))[0])
    switches = isolation_points(topology, device)
    if not len(switches):
        return [f"1. no switch below {name} to isolate with: repair, then close {name} ({total} customers)"]
    names = ", ".join(str(model.ids[s]) for s in switches.tolist())
    steps = [f"1. open {names} to isolate the faulted section below {name}"]
    downstream = 0
    for switch in switches.tolist():
        served = int(model.customers_below_indexes(np.array([switch]))[0])
        tie = backfeed_tie(topology, device, switch, dark_devices)
        if tie is None:
            continue
        tie_id, far_end = tie
        downstream += served
        feeder = model.feeder_of(far_end)
        steps.append(
            f"{len(steps) + 1}. close tie {tie_id} (from {far_end}, feeder {feeder}): "
            f"restores {served} customers below {model.ids[switch]}"
        )
    steps.append(f"{len(steps) + 1}. repair, then close {name}: restores {total - downstream} customers")
    return steps


def isolation_points(topology: OutageTopology, device: int) -> np.ndarray:
    """The nearest operable switching devices below `device` (ties excluded)."""
    inside = topology.switchable_below(device)
    tie_devices = set(topology.tie_devices)
    points = []
    for candidate in inside.tolist():
        if candidate == device or candidate in tie_devices:
            continue
        above = topology.candidate_ancestors(candidate)
        between = above[: above.index(device)] if device in above else []
        if not any(topology.is_switchable[a] for a in between):
            points.append(candidate)
    return np.array(points, dtype=np.int64)


def backfeed_tie(
    topology: OutageTopology, device: int, switch: int, dark_devices: list[int]
) -> tuple[str, str] | None:
    """A normally-open tie with one end below `switch` and the other end energised outside `device`'s area."""
    model = topology.model
    for tie_id, a_end, b_end in topology.ties:
        ends = np.array([a_end, b_end])
        below = topology.covers(switch, ends)
        if below.all() or not below.any():
            continue
        far = int(ends[~below][0])
        if topology.covers(device, np.array([far]))[0]:
            continue
        if any(topology.covers(dark, np.array([far]))[0] for dark in dark_devices):
            continue
        return tie_id, str(model.ids[far])
    return None
