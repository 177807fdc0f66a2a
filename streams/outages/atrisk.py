"""At-risk warnings: equipment that keeps tripping, reclosing, blinking or sagging is likely to fail for good.

Counts operations per device (the breaker or recloser that operated, the device a momentary was located on,
the narrowest equipment explaining a sag) in an event-time window and raises one `Anomaly` (`at_risk`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from gridmon.grid import GridModel
from gridmon.outages.config import CorrelatorConfig
from gridmon.outages.state import AtRiskState
from gridmon.outages.topology import OutageTopology
from gridmon.records import Anomaly

SECOND = 1_000_000_000
# one operation: a recloser's trip, reclose, trip, ... lockout sequence, or the sags and momentaries one
# disturbance leaves, fall within this of each other (IEEE 1366 counts a sequence as one momentary event)
OPERATION_GAP_NS = 60 * SECOND


class AtRiskTracker:
    """`record(device, ts, what)` per operation, `sag(measuring_device, ts)` per sag onset; `settle(...)` turns
    sags into operations on equipment once outages had time to explain them; `drain(...)` the warnings."""

    def __init__(self, model: GridModel, config: CorrelatorConfig, topology: OutageTopology) -> None:
        self.model = model
        self.topology = topology
        self.window_ns = int(config.at_risk_window_s * SECOND)
        self.threshold = config.at_risk_count
        self.sag_gap_ns = int(config.onset_tolerance_s * SECOND)
        self.state = AtRiskState()

    def record(self, device: int, ts: int, what: str) -> None:
        times = [t for t in self.state.operations.get(device, []) if t > ts - self.window_ns]
        if any(abs(ts - t) < OPERATION_GAP_NS for t in times):
            return  # a duplicate, or one more step of the same operation (trip, reclose, trip, lockout)
        times.append(ts)
        self.state.operations[device] = times
        raised = self.state.raised.get(device)
        if len(times) >= self.threshold and (raised is None or ts - raised > self.window_ns):
            self.state.raised[device] = ts
            self.state.pending = [p for p in self.state.pending if p[0] != device]
            self.state.pending.append((device, min(times), len(times)))

    def sag(self, device: int, ts: int) -> None:
        """A PMU or sensor saw its voltage sag: kept until `settle` can tell a sag from an outage's onset."""
        self.state.sags.append((device, ts))

    def settle(self, until_ns: int, interrupted: Callable[[int, int], bool]) -> None:
        """Sags stamped before `until_ns` become operations: those measured inside an outage (its onset, its
        restoration) are dropped; the rest, grouped by moment (`onset_tolerance_s`) and feeder, count once on
        the narrowest equipment above every measuring device of the group."""
        ready = sorted((ts, d) for d, ts in self.state.sags if ts < until_ns)
        if not ready:
            return
        self.state.sags = [(d, ts) for d, ts in self.state.sags if ts >= until_ns]
        groups: dict[int, list[tuple[int, int]]] = {}  # feeder → (ts, equipment) of sags not interrupted
        for ts, device in ready:
            equipment = int(self.topology.candidate_parent[device])
            if equipment >= 0 and not interrupted(equipment, ts):
                groups.setdefault(int(self.model.feeder_index[device]), []).append((ts, equipment))
        for sags in groups.values():
            start = 0
            for n in range(1, len(sags) + 1):
                if n == len(sags) or sags[n][0] - sags[n - 1][0] > self.sag_gap_ns:
                    group = sags[start:n]
                    self.record(self._common(sorted({e for _, e in group})), group[0][0], "sag")
                    start = n

    def _common(self, equipment: list[int]) -> int:
        """The narrowest candidate device whose area holds all of `equipment`."""
        others = np.array(equipment[1:], dtype=np.int64)
        device = equipment[0]
        while len(others) and not self.topology.covers(device, others).all():
            parent = int(self.topology.candidate_parent[device])
            if parent < 0:
                break
            device = parent
        return device

    def sustained(self, device: int) -> None:
        """A sustained outage of `device` came: the warning's forecast is moot; after repair, count afresh."""
        self.state.operations.pop(device, None)
        self.state.pending = [p for p in self.state.pending if p[0] != device]

    def drain(self, blocked: Callable[[int], bool] = lambda device: False) -> list[Anomaly]:
        """Warnings raised since the last call; those of a device inside an open outage wait until it ends
        (a sustained outage of the device itself drops them: the operator has the outage)."""
        ready: list[tuple[int, int, int]] = []
        waiting: list[tuple[int, int, int]] = []
        for entry in self.state.pending:
            (waiting if blocked(entry[0]) else ready).append(entry)
        self.state.pending = waiting
        return [self._anomaly(*entry) for entry in ready]

    def _anomaly(self, device: int, first_ts: int, count: int) -> Anomaly:
        device_id = str(self.model.ids[device])
        return Anomaly(
            id=f"A-at_risk-{device_id}-{first_ts // SECOND}",
            version=1,
            device=device_id,
            zone=self.model.zone_of(device_id),
            feeder=self.model.feeder_of(device_id),
            metric="operations",
            detector="at_risk",
            category="grid",
            severity="warning",
            state="open",
            start_ns=first_ts,
            score=float(count) / self.threshold,
            value=float(count),
        )
