"""IEEE 1366 reliability indices computed in ClickHouse from the `outages` state table and the dimensions.

Per system, feeder and zone over any [start, end): SAIFI, SAIDI, CAIDI and MAIFI. An outage counts for the
window when it starts in it; the newest version of each outage is used (FINAL). Its duration runs to its
end, or to the window's end while it is still open. Definitions used:

- sustained interruption: state ≠ momentary and duration ≥ 5 min; customers interrupted = `customers` (peak);
- momentary interruption: state = momentary, or a finished outage shorter than 5 min (open ones shorter
  than 5 min are not classified yet);
- customers served: system and feeder = customers of the meters in `devices`; zone = `zones.customers`
  (every customer below the zone head), and an outage counts for the zone it was recorded in (`zone`).
CAIFI and CEMIn need interruptions per customer, which outage rows do not carry: not computed here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clickhouse_connect.driver.exceptions import ClickHouseError

from gridmon.errors import StorageError
from gridmon.store.client import first_line

SUSTAINED_MIN = 5.0

OUTAGES_IN_WINDOW = """
SELECT level, area, countIf(sustained), sumIf(customers, sustained), sumIf(customers * minutes, sustained),
       sumIf(customers, momentary)
FROM (
    SELECT feeder, zone, customers,
           (least(ifNull(end_ns, {end:Int64}), {end:Int64}) - start_ns) / 60e9 AS minutes,
           state != 'momentary' AND minutes >= {sustained_min:Float64} AS sustained,
           state = 'momentary' OR (end_ns IS NOT NULL AND minutes < {sustained_min:Float64}) AS momentary
    FROM outages FINAL
    WHERE start_ns >= {start:Int64} AND start_ns < {end:Int64} AND customers > 0
)
ARRAY JOIN [('system', 'system'), ('feeder', feeder), ('zone', zone)] AS level_area
GROUP BY level_area.1 AS level, level_area.2 AS area
"""

CUSTOMERS_SERVED = """
SELECT 'system', 'system', sum(customers) FROM devices WHERE kind = 'meter'
UNION ALL SELECT 'feeder', feeder, sum(customers) FROM devices WHERE kind = 'meter' GROUP BY feeder
UNION ALL SELECT 'zone', zone, max(customers) FROM zones GROUP BY zone
"""


@dataclass(frozen=True)
class ReliabilityIndices:
    """Indices of one area (`level` system|feeder|zone, `area` its id) over the window."""

    level: str
    area: str
    customers_served: int
    sustained_events: int
    customer_interruptions: int
    customer_minutes: float
    momentary_customer_interruptions: int

    @property
    def saifi(self) -> float:
        """Customer interruptions per customer served."""
        return self.customer_interruptions / self.customers_served if self.customers_served else 0.0

    @property
    def saidi_min(self) -> float:
        """Minutes of interruption per customer served."""
        return self.customer_minutes / self.customers_served if self.customers_served else 0.0

    @property
    def caidi_min(self) -> float:
        """Minutes per customer interruption (SAIDI / SAIFI)."""
        return self.customer_minutes / self.customer_interruptions if self.customer_interruptions else 0.0

    @property
    def maifi(self) -> float:
        """Momentary customer interruptions per customer served."""
        return self.momentary_customer_interruptions / self.customers_served if self.customers_served else 0.0


def reliability_indices(client: Any, start_ns: int, end_ns: int) -> list[ReliabilityIndices]:
    """Indices for the system, every feeder and every zone that serves customers, system first."""
    parameters = {"start": start_ns, "end": end_ns, "sustained_min": SUSTAINED_MIN}
    try:
        served = client.query(CUSTOMERS_SERVED).result_rows
        interrupted = client.query(OUTAGES_IN_WINDOW, parameters=parameters).result_rows
    except ClickHouseError as exc:
        raise StorageError(
            f"cannot compute reliability indices: {first_line(exc)}; run `gridmon db migrate` and load the "
            "grid model's dimensions"
        ) from exc
    counts = {(level, area): tuple(values) for level, area, *values in interrupted}
    order = {"system": 0, "feeder": 1, "zone": 2}
    rows = [
        ReliabilityIndices(level, area, int(customers), *_counts(counts.get((level, area))))
        for level, area, customers in served
        if customers
    ]
    return sorted(rows, key=lambda row: (order[row.level], row.area))


def _counts(values: tuple[Any, ...] | None) -> tuple[int, int, float, int]:
    if values is None:
        return 0, 0, 0.0, 0
    events, interruptions, minutes, momentary = values
    return int(events), int(interruptions), float(minutes), int(momentary)
