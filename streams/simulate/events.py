"""Discrete field events computed once per run: meter last gasps, restorations, sag/swell and tamper events,
and SCADA trips, reclosers, lockouts, closes and fault indicators, each with its event and delivery time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gridmon.records import MeterReading, ScadaReading
from gridmon.simulate.power import DarkIntervals
from gridmon.simulate.realities import Rates, Realities
from gridmon.simulate.scenario import SECOND, Fault, Opening
from gridmon.simulate.topology import Topology


@dataclass
class EventTable:
    """Readings sorted by event time, with when each is delivered and by which gateway (head-end or RTU)."""

    ts_ns: np.ndarray  # true event time (selects the chunk)
    deliver_ns: np.ndarray
    gateway: np.ndarray  # index into the simulator's gateway names
    readings: list[MeterReading] | list[ScadaReading]

    @classmethod
    def empty(cls) -> EventTable:
        return cls(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int32), [])

    def sorted(self) -> EventTable:
        order = np.argsort(self.ts_ns, kind="stable")
        return EventTable(
            self.ts_ns[order],
            self.deliver_ns[order],
            self.gateway[order],
            [self.readings[i] for i in order.tolist()],
        )

    def window(self, low_ns: int, high_ns: int) -> tuple[int, int]:
        return int(np.searchsorted(self.ts_ns, low_ns)), int(np.searchsorted(self.ts_ns, high_ns))


@dataclass
class _Rows:
    meter: list[np.ndarray]
    ts: list[np.ndarray]
    deliver: list[np.ndarray]
    event: list[str]
    voltage: list[np.ndarray]

    def add(
        self, meter: np.ndarray, ts: np.ndarray, deliver: np.ndarray, event: str, voltage: np.ndarray
    ) -> None:
        self.meter.append(meter)
        self.ts.append(ts)
        self.deliver.append(deliver)
        self.event.extend([event] * len(meter))
        self.voltage.append(voltage)


def meter_events(
    topology: Topology,
    faults: Sequence[Fault],
    dark: DarkIntervals,
    skew_ns: np.ndarray,
    rates: Rates,
    realities: Realities,
    rng: np.random.Generator,
    end_ns: int,
) -> tuple[EventTable, dict[str, int]]:
    """Last gasps (some lost, some read late), power restored, sag/swell and tamper events of meters."""
    rows = _Rows([], [], [], [], [])
    stats = _outage_events(rows, dark, realities, rng, end_ns)
    for fault in faults:
        if fault.truth.kind in ("voltage_sag", "voltage_swell"):
            _power_quality_events(rows, topology, fault, dark, rates, rng)
        elif fault.truth.kind == "meter_tamper":
            meter = np.array([topology.meter_index(fault.truth.device)], dtype=np.int64)
            ts = np.array([fault.truth.start_ns], dtype=np.int64)
            rows.add(meter, ts, ts + _latency(rng, 1), "tamper", np.full(1, np.nan))
    if not rows.meter:
        return EventTable.empty(), stats
    meter = np.concatenate(rows.meter)
    ts = np.concatenate(rows.ts)
    voltage = np.round(np.concatenate(rows.voltage), 1).tolist()
    stamped = (ts + skew_ns[meter]).tolist()
    ids = topology.meter_ids
    readings = [
        MeterReading(ids[m], t, event, None, None if v != v else v)  # noqa: PLR0124 - v != v is NaN
        for m, t, event, v in zip(meter.tolist(), stamped, rows.event, voltage, strict=True)
    ]
    table = EventTable(ts, np.concatenate(rows.deliver), topology.meter_feeder[meter], readings)
    return table.sorted(), stats


def _latency(rng: np.random.Generator, count: int) -> np.ndarray:
    """Head-end latency of an event: 0.5–5 s."""
    return (rng.uniform(0.5, 5.0, count) * SECOND).astype(np.int64)


def _outage_events(
    rows: _Rows, dark: DarkIntervals, realities: Realities, rng: np.random.Generator, end_ns: int
) -> dict[str, int]:
    count = len(dark.meter)
    gasp_ts = dark.start + (rng.uniform(0.0, 0.2, count) * SECOND).astype(np.int64)
    arrives = rng.random(count) >= realities.last_gasp_loss
    read_late = rng.random(count) < realities.late_last_gasp
    deliver = gasp_ts + _latency(rng, count)
    # a head-end that polls late reads the last gasp after the meter is back: "recovered before read"
    late_deliver = dark.end + (rng.uniform(1.0, 20.0, count) * SECOND).astype(np.int64)
    deliver = np.where(read_late, np.maximum(deliver, late_deliver), deliver)
    rows.add(
        dark.meter[arrives], gasp_ts[arrives], deliver[arrives], "last_gasp", np.zeros(int(arrives.sum()))
    )
    restored = dark.end < end_ns
    restore_ts = dark.end[restored] + (rng.uniform(0.5, 3.0, int(restored.sum())) * SECOND).astype(np.int64)
    voltage = np.full(len(restore_ts), 240.0)
    rows.add(
        dark.meter[restored],
        restore_ts,
        restore_ts + _latency(rng, len(restore_ts)),
        "power_restored",
        voltage,
    )
    return {
        "last_gasp_sent": int(arrives.sum()),
        "last_gasp_lost": int(count - arrives.sum()),
        "last_gasp_read_after_recovery": int((read_late & arrives).sum()),
        "power_restored_sent": len(restore_ts),
    }


def _power_quality_events(
    rows: _Rows, topology: Topology, fault: Fault, dark: DarkIntervals, rates: Rates, rng: np.random.Generator
) -> None:
    meters = topology.meters_below(fault.truth.device)
    meters = np.setdiff1d(meters, dark.dark_at(fault.truth.start_ns), assume_unique=False)
    ts = fault.truth.start_ns + (rng.uniform(0.0, 1.0, len(meters)) * SECOND).astype(np.int64)
    voltage = rates.meter_nominal_v * fault.magnitude * (1.0 + rng.normal(0.0, 0.01, len(meters)))
    rows.add(meters, ts, ts + _latency(rng, len(meters)), fault.truth.kind, voltage)


def scada_events(
    topology: Topology, faults: Sequence[Fault], feeders: dict[str, int], rng: np.random.Generator
) -> tuple[EventTable, dict[str, int]]:
    """State changes of SCADA-equipped devices that open, and fault indicators above blown fuses."""
    readings: list[ScadaReading] = []
    for fault in faults:
        first_restore = min((o.end_ns for o in fault.openings), default=0)
        for opening in fault.openings:
            readings += _opening_sequence(topology, opening, first_restore)
        if fault.truth.kind in ("fuse_trip", "transformer_loss") and fault.openings:
            readings += _fault_indicator(topology, fault.openings[0])
    if not readings:
        return EventTable.empty(), {}
    ts = np.array([r.ts for r in readings], dtype=np.int64)
    deliver = ts + (rng.uniform(0.05, 0.5, len(ts)) * SECOND).astype(np.int64)
    gateway = np.array([feeders.get(topology.feeder_of(r.device), 0) for r in readings], dtype=np.int32)
    return EventTable(ts, deliver, gateway, readings).sorted(), {"scada_events": len(readings)}


def _opening_sequence(topology: Topology, opening: Opening, first_restore: int) -> list[ScadaReading]:
    """trip → reclose attempts → lockout → close; a momentary trips and recloses; isolation opens and closes."""
    if not topology.has_scada(opening.device):
        return []
    device, start, end = opening.device, opening.start_ns, opening.end_ns

    def state(ts: int, event: str, closed: bool) -> ScadaReading:
        return ScadaReading(device, ts, event, "status", 1.0 if closed else 0.0, "ABC")  # type: ignore[arg-type]

    if opening.reason == "momentary":
        return [state(start, "trip", False), state(end, "reclose", True)]
    if opening.reason == "isolate":
        opened = start + max(SECOND, (first_restore - start) // 2)
        return [state(min(opened, end - 1), "open", False), state(end, "close", True)]
    attempts = [state(start, "trip", False)]
    if topology.kind_of(device) == "recloser":
        attempts += [
            state(start + SECOND, "reclose", True),
            state(start + SECOND + SECOND // 5, "trip", False),
        ]
    attempts.append(state(start + 2 * SECOND, "lockout", False))
    return [*attempts, state(end, "close", True)]


def _fault_indicator(topology: Topology, opening: Opening) -> list[ScadaReading]:
    """The nearest SCADA device upstream saw the fault current that blew the fuse below it."""
    for element in topology.upstream(opening.device):
        if topology.has_scada(element):
            return [ScadaReading(element, opening.start_ns, "fault_indicator", "fault_indicator", 1.0, "ABC")]
    return []
