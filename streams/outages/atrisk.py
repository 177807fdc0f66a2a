"""At-risk warnings: a device that keeps tripping, reclosing, blinking or sagging is likely to fail for good.

Counts operations per device in a sliding event-time window and raises one `Anomaly` (detector `at_risk`).
"""

from __future__ import annotations

from gridmon.grid import GridModel
from gridmon.outages.config import CorrelatorConfig
from gridmon.outages.state import AtRiskState
from gridmon.records import Anomaly

SECOND = 1_000_000_000
OPERATION_GAP_NS = 10 * SECOND


class AtRiskTracker:
    """`record(device, ts, what)` per operation; `drain()` returns the warnings raised since the last call."""

    def __init__(self, model: GridModel, config: CorrelatorConfig) -> None:
        self.model = model
        self.window_ns = int(config.at_risk_window_s * SECOND)
        self.threshold = config.at_risk_count
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
            self.state.pending.append((device, min(times), len(times)))

    def drain(self) -> list[Anomaly]:
        warnings = [self._anomaly(*entry) for entry in self.state.pending]
        self.state.pending = []
        return warnings

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
