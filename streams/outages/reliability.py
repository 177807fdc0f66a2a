"""IEEE 1366 reliability indices (SAIFI, SAIDI, CAIDI, MAIFI) per system, feeder and zone from outage records.

Sustained interruptions last more than 5 minutes (state `restored` or still open); `momentary` ones feed MAIFI.
Customers served come from the grid model; customer-minutes follow the restoration steps (customers out over
time, `OutageCorrelator.customer_minutes()`) when given, else peak customers × duration (an upper bound).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from gridmon.grid import GridModel
from gridmon.records import Outage

MINUTE_NS = 60_000_000_000


@dataclass(frozen=True)
class Indices:
    """Indices of one area (`level` system|feeder|zone, `area` its id) over the period."""

    level: str
    area: str
    customers_served: int
    sustained: int  # customer interruptions
    customer_minutes: float
    momentary: int  # customer momentary interruptions

    @property
    def saifi(self) -> float:
        return self.sustained / self.customers_served if self.customers_served else 0.0

    @property
    def saidi_min(self) -> float:
        return self.customer_minutes / self.customers_served if self.customers_served else 0.0

    @property
    def caidi_min(self) -> float:
        return self.customer_minutes / self.sustained if self.sustained else 0.0

    @property
    def maifi(self) -> float:
        return self.momentary / self.customers_served if self.customers_served else 0.0


def latest_versions(outages: Iterable[Outage]) -> list[Outage]:
    newest: dict[str, Outage] = {}
    for outage in outages:
        if outage.id not in newest or outage.version > newest[outage.id].version:
            newest[outage.id] = outage
    return list(newest.values())


def reliability(
    outages: Iterable[Outage],
    model: GridModel,
    start_ns: int,
    end_ns: int,
    customer_minutes: Mapping[str, float] | None = None,
) -> list[Indices]:
    """Indices for the system, every feeder and every zone with customers, for outages starting in the period;
    `customer_minutes` (outage id → minutes from the restoration steps) replaces peak × duration where known."""
    stepped = customer_minutes or {}
    meters = model.indexes_of_kind("meter")
    customers = model.customers[meters].astype(np.int64)
    levels = {
        "feeder": (model.feeder_index, list(model.feeders)),
        "zone": (model.zone_index, [str(i) for i in model.ids]),
    }
    served = {
        name: np.bincount(index[meters], customers, len(names)) for name, (index, names) in levels.items()
    }
    sums = {name: np.zeros((3, len(names))) for name, (_, names) in levels.items()}
    for outage in latest_versions(outages):
        if not start_ns <= outage.start_ns < end_ns or outage.customers <= 0 or outage.device not in model:
            continue
        below = model.meter_indexes_below(model.position(outage.device))
        minutes = (min(outage.end_ns or end_ns, end_ns) - outage.start_ns) / MINUTE_NS
        row = 2 if outage.state == "momentary" else 0
        for name, (index, names) in levels.items():
            hit = np.bincount(index[below], model.customers[below].astype(np.int64), len(names))
            sums[name][row] += hit
            if row == 0 and outage.id in stepped:  # spread over the areas by their share of the customers
                sums[name][1] += hit * (stepped[outage.id] / max(1, int(hit.sum())))
            elif row == 0:
                sums[name][1] += hit * minutes
    system = Indices("system", "system", int(customers.sum()), *_totals(sums["feeder"].sum(axis=1)))
    result = [system]
    for name, (_, names) in levels.items():
        for position in np.flatnonzero(served[name]).tolist():
            totals = _totals(sums[name][:, position])
            result.append(Indices(name, names[position], int(served[name][position]), *totals))
    return result


def _totals(column: np.ndarray) -> tuple[int, float, int]:
    return int(column[0]), float(column[1]), int(column[2])
