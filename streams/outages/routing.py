"""Route outage evidence from an ingest batch to the correlator, keyed by feeder, in a few column passes.

Meter and SCADA events go one by one (they are few); interval reads are summarised as one `alive` event per
transformer and batch; PMU/sensor voltages only when they change level (sag, collapse).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gridmon.grid import GridModel
from gridmon.ingest import IngestBatch
from gridmon.records import OutageEvent

METER_EVENTS = ("last_gasp", "power_restored", "ping_ok", "ping_fail")
SCADA_EVENTS = ("trip", "open", "close", "reclose", "lockout", "fault_indicator")
PMU_DATA_INVALID = 0x8000  # C37.118 STAT bit 15: no voltage to measure
NORMAL, SAG, COLLAPSE = 0, 1, 2


class FeederRouter:
    """`route(kind, batch)` → outage events with the feeder of each (build once per worker from the model)."""

    def __init__(
        self, model: GridModel, *, sag_fraction: float = 0.88, collapse_fraction: float = 0.1
    ) -> None:
        self.model = model
        self.sag_fraction = sag_fraction
        self.collapse_fraction = collapse_fraction
        self._feeders = np.array(model.feeders, dtype=object)
        self._reference = np.full(len(model), np.nan)  # last normal voltage per device
        self._level = np.zeros(len(model), dtype=np.int8)

    def route(self, kind: str, batch: IngestBatch) -> list[OutageEvent]:
        if not batch.accepted:
            return []
        if kind == "meter":
            return self._meter(batch)
        if kind == "scada":
            return self._events(batch, "scada", SCADA_EVENTS)
        if kind == "pmu":
            columns = batch.columns
            volts = np.maximum(np.maximum(columns["va"], columns["vb"]), columns["vc"])
            invalid = (np.asarray(columns["status"]) & PMU_DATA_INVALID) != 0
            return self._voltage(batch, "pmu", np.where(invalid, 0.0, volts))
        if kind == "sensor":
            return self._voltage(batch, "sensor", np.asarray(batch.columns["voltage_v"], dtype=np.float64))
        return []

    # --- meters and SCADA -------------------------------------------------------------------------------------

    def _meter(self, batch: IngestBatch) -> list[OutageEvent]:
        out = self._events(batch, "ami", METER_EVENTS)
        events = np.asarray(batch.columns["event"], dtype=object)
        interval = (events == "interval") & (batch.device_idx >= 0)
        if not interval.any():
            return out
        voltage = np.asarray(batch.columns["voltage_v"], dtype=np.float64)
        kwh = np.asarray(batch.columns["kwh"], dtype=np.float64)
        dead = interval & (voltage == 0.0)
        alive = interval & ~dead & ((voltage > 0.0) | (kwh > 0.0))
        out += self._rows(batch, np.flatnonzero(dead), "ami", "no_voltage")
        return out + self._alive_summary(batch, np.flatnonzero(alive))

    def _alive_summary(self, batch: IngestBatch, rows: np.ndarray) -> list[OutageEvent]:
        """One `alive` event per transformer (its meters share a supply): the median read time (one meter
        whose clock runs ahead must not make a whole street look powered after it lost power), meter count."""
        if not len(rows):
            return []
        meters = batch.device_idx[rows].astype(np.int64)
        transformer = self.model.transformer_index[meters].astype(np.int64)
        unit = np.where(transformer >= 0, transformer, meters)
        ts = np.asarray(batch.columns["ts"], dtype=np.int64)[rows]
        order = np.lexsort((ts, unit))
        unit, ts = unit[order], ts[order]
        last = np.flatnonzero(np.r_[unit[1:] != unit[:-1], True])
        counts = np.diff(np.r_[-1, last])
        median = last - counts // 2
        feeders = self._feeders[self.model.feeder_index[unit[last]]]
        return [
            OutageEvent(feeder=f, device=str(d), ts=t, source="ami", event="alive", value=float(c))
            for f, d, t, c in zip(
                feeders.tolist(),
                self.model.ids[unit[last]].tolist(),
                ts[median].tolist(),
                counts.tolist(),
                strict=True,
            )
        ]

    def _events(self, batch: IngestBatch, source: str, names: tuple[str, ...]) -> list[OutageEvent]:
        events = np.asarray(batch.columns["event"], dtype=object)
        rows = np.flatnonzero(np.isin(events, names) & (batch.device_idx >= 0))
        if not len(rows):
            return []
        values = batch.columns.get("value")
        return self._rows(batch, rows, source, None, values)

    def _rows(
        self,
        batch: IngestBatch,
        rows: np.ndarray,
        source: str,
        event: str | None,
        values: Any = None,
    ) -> list[OutageEvent]:
        if not len(rows):
            return []
        devices = batch.columns["device"]
        names = batch.columns.get("event") or []
        ts = np.asarray(batch.columns["ts"], dtype=np.int64)[rows].tolist()
        feeders = self._feeders[self.model.feeder_index[batch.device_idx[rows]]].tolist()
        value = [None] * len(rows) if values is None else np.asarray(values, dtype=np.float64)[rows].tolist()
        return [
            OutageEvent(
                feeder=feeders[n],
                device=devices[r],
                ts=ts[n],
                source=source,  # type: ignore[arg-type]
                event=event or names[r],
                value=None if value[n] is None or value[n] != value[n] else value[n],  # noqa: PLR0124 - NaN
            )
            for n, r in enumerate(rows.tolist())
        ]

    # --- voltages ---------------------------------------------------------------------------------------------

    def _voltage(self, batch: IngestBatch, source: str, volts: np.ndarray) -> list[OutageEvent]:
        """Sag and collapse onsets against each device's last normal voltage; one event per change of level."""
        known = (batch.device_idx >= 0) & ~np.isnan(volts)
        rows = np.flatnonzero(known)
        if not len(rows):
            return []
        idx = batch.device_idx[rows].astype(np.int64)
        ts = np.asarray(batch.columns["ts"], dtype=np.int64)[rows]
        order = np.lexsort((ts, idx))
        rows, idx, v = rows[order], idx[order], volts[rows][order]
        first = np.r_[True, idx[1:] != idx[:-1]]
        level = self._levels(idx, v, first)
        previous = np.where(first, self._level[idx], np.r_[0, level[:-1]])
        last = np.r_[idx[1:] != idx[:-1], True]
        self._level[idx[last]] = level[last]
        normal = level == NORMAL
        self._reference[idx[normal]] = v[normal]
        onset = np.flatnonzero((level != previous) & (level != NORMAL))
        out = self._rows(batch, rows[onset[level[onset] == COLLAPSE]], source, "collapse")
        return out + self._rows(batch, rows[onset[level[onset] == SAG]], source, "sag")

    def _levels(self, idx: np.ndarray, volts: np.ndarray, first: np.ndarray) -> np.ndarray:
        """Each reading against the device's reference: its last normal voltage, or the highest voltage seen
        earlier in this batch (per-device running maximum via an offset per device group)."""
        group = np.cumsum(first) - 1
        offset = group * (float(np.nanmax(volts, initial=0.0)) + 1.0)
        running = np.maximum.accumulate(np.nan_to_num(volts) + offset) - offset
        reference = np.fmax(self._reference[idx], running)
        with np.errstate(invalid="ignore"):
            ratio = volts / reference
        level = np.full(len(idx), NORMAL, dtype=np.int8)
        level[ratio < self.sag_fraction] = SAG
        level[(ratio <= self.collapse_fraction) | (volts < 1.0)] = COLLAPSE
        return level
