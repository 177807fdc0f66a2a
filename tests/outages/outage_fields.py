"""Builders of the field events a fault produces on a grid model, and reading the records back (imported by the outage tests by this unique
name: `from conftest import …` collides with the other test folders' conftest modules in one pytest run).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gridmon.grid import GridModel
from gridmon.records import Outage, OutageEvent

SECOND = 1_000_000_000
T0 = 1_700_000_000 * SECOND


def newest(records: list[Outage]) -> dict[str, Outage]:
    """Each outage's newest version (records come as state changes, versions rising), by id."""
    found: dict[str, Outage] = {}
    for record in records:
        if record.id not in found or record.version > found[record.id].version:
            found[record.id] = record
    return found


@dataclass
class Field:
    """Builds the events a fault would produce on `model` (last gasps with loss, restorations, SCADA)."""

    model: GridModel
    seed: int = 0

    def gasps(self, device: str, ts: int, loss: float = 0.0) -> list[OutageEvent]:
        rng = np.random.default_rng(self.seed)
        meters = self.model.meters_below(device)
        keep = rng.random(len(meters)) >= loss
        jitter = (rng.uniform(0, 0.2, len(meters)) * SECOND).astype(np.int64)
        return [
            self.meter(m, ts + int(j), "last_gasp") for m, k, j in zip(meters, keep, jitter, strict=True) if k
        ]

    def restored(self, device: str, ts: int, skip_below: str | None = None) -> list[OutageEvent]:
        skip = set(self.model.meters_below(skip_below)) if skip_below else set()
        return [self.meter(m, ts, "power_restored") for m in self.model.meters_below(device) if m not in skip]

    def meter(self, meter: str, ts: int, event: str) -> OutageEvent:
        return OutageEvent(feeder=self.model.feeder_of(meter), device=meter, ts=ts, source="ami", event=event)

    def scada(self, device: str, ts: int, event: str) -> OutageEvent:
        return OutageEvent(
            feeder=self.model.feeder_of(device), device=device, ts=ts, source="scada", event=event
        )
