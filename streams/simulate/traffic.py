"""The traffic generator: event-time PMU frames, sensor samples, AMI reads and meter/SCADA events as ready-to-send
Kafka messages, in batches ordered by delivery time, with the faults of a scenario and the realities of the field.

Values are computed as numpy columns per chunk of event time; readings are built with one C-level `map` per
column set and envelopes are encoded with msgspec, so generation keeps up with the pipeline's benchmarks.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec
import numpy as np

from gridmon.records import KINDS, Envelope, MeterReading, PmuReading, SensorReading
from gridmon.simulate.events import EventTable, meter_events, scada_events
from gridmon.simulate.power import (
    SitePower,
    dark_intervals,
    dark_matrix,
    openings_of,
    served_matrix,
    site_power,
)
from gridmon.simulate.realities import Rates, Realities, clock_skews
from gridmon.simulate.scenario import SECOND, Fault, GroundTruth, Scenario, plan_faults, scenario_named
from gridmon.simulate.topology import Site, Topology

PMU_DATA_INVALID = 0x8000  # C37.118 STAT bit 15: the PMU cannot measure (its location has no voltage)
SCHEMAS = {kind: f"gridmon.{kind}/1" for kind in KINDS}
TOPICS = {kind: f"grid.{kind}" for kind in KINDS}
Message = tuple[str, bytes, bytes]


@dataclass
class Batch:
    """Messages delivered up to `until_ns` (event time), in delivery order; `readings[i]` counts message i's."""

    until_ns: int
    messages: list[Message] = field(default_factory=list)
    readings: list[int] = field(default_factory=list)

    def counts(self) -> dict[str, dict[str, int]]:
        counts = {kind: {"messages": 0, "readings": 0} for kind in KINDS}
        for (topic, _, _), readings in zip(self.messages, self.readings, strict=True):
            kind = topic.rpartition(".")[2]
            counts[kind]["messages"] += 1
            counts[kind]["readings"] += readings
        return counts


@dataclass
class _Outgoing:
    """A message waiting for its delivery time; encoded when delivered."""

    kind: str
    key: str
    readings: list[Any]
    sent_ns: int


class Simulator:
    """Deterministic traffic for a grid model and scenario: `batches()` yields what to send, `truths` what happened.

    >>> sim = Simulator(model, "mixed", seed=1, duration_s=60)  # doctest: +SKIP
    >>> for batch in sim.batches():  # doctest: +SKIP
    ...     for topic, key, value in batch.messages: ...
    """

    def __init__(
        self,
        model: Any,
        scenario: Scenario | str = "mixed",
        seed: int = 1,
        start_ns: int | None = None,
        duration_s: float = 600.0,
        rates: Rates | None = None,
        realities: Realities | None = None,
        *,
        chunk_s: float = 1.0,
        sent_clock: Literal["simulated", "wall"] = "simulated",
    ) -> None:
        self.topology = model if isinstance(model, Topology) else Topology.from_model(model)
        self.scenario = scenario_named(scenario) if isinstance(scenario, str) else scenario
        self.seed = seed
        self.duration_s = float(duration_s)
        self.start_ns = start_ns if start_ns is not None else time.time_ns() - int(self.duration_s * SECOND)
        self.end_ns = self.start_ns + int(self.duration_s * SECOND)
        self.rates = rates or Rates()
        self.realities = realities or Realities()
        self.chunk_ns = int(chunk_s * SECOND)
        self.sent_clock = sent_clock
        self.faults, self.skipped = plan_faults(
            self.topology, self.scenario, seed, self.start_ns, self.duration_s
        )
        self.stats: Counter[str] = Counter()
        self._prepare()

    @property
    def truths(self) -> list[GroundTruth]:
        return [fault.truth for fault in self.faults]

    def clock_skew_ns(self, device: str) -> int:
        """How far `device`'s clock is off (its readings' `ts` minus the true event time)."""
        if self.topology.is_meter(device):
            return int(self.meter_skew[self.topology.meter_index(device)])
        position = self.sensors.position.get(device)
        return int(self.sensors.skew[position]) if position is not None else 0

    def _rng(self, *stream: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, *stream])

    # -- set-up -----------------------------------------------------------------------------------------------------
    def _prepare(self) -> None:
        topology, rng = self.topology, self._rng(1)
        openings = openings_of(self.faults)
        self.dark = dark_intervals(topology, openings)
        self.meter_skew = clock_skews(len(topology.meter_ids), self.realities, rng)
        self.meter_kw = topology.meter_customers * rng.lognormal(np.log(1.2), 0.4, len(topology.meter_ids))
        self.headends = [f"headend-{feeder}" for feeder in topology.feeders]
        self.meter_events, meter_stats = meter_events(
            topology,
            self.faults,
            self.dark,
            self.meter_skew,
            self.rates,
            self.realities,
            self._rng(2),
            self.end_ns,
        )
        feeders = {feeder: position for position, feeder in enumerate(topology.feeders)}
        self.rtus = [f"rtu-{feeder}" for feeder in topology.feeders]
        self.scada_events, scada_stats = scada_events(topology, self.faults, feeders, self._rng(3))
        self.stats.update(meter_stats)
        self.stats.update(scada_stats)
        self.pmus = _PmuFleet(self, openings)
        self.sensors = _SensorFleet(self, openings)
        self._tamper = [f for f in self.faults if f.truth.kind == "meter_tamper"]

    # -- the run -----------------------------------------------------------------------------------------------------
    def batches(self) -> Iterator[Batch]:
        """Time-ordered batches, one per chunk of event time, then whatever is delivered after the run's end."""
        pending: list[tuple[int, int, _Outgoing]] = []
        sequence = itertools.count()
        encoder = msgspec.json.Encoder()
        for chunk, low in enumerate(range(self.start_ns, self.end_ns, self.chunk_ns)):
            high = min(low + self.chunk_ns, self.end_ns)
            rng = self._rng(100, chunk)
            for deliver, outgoing in self._chunk(low, high, rng):
                heapq.heappush(pending, (deliver, next(sequence), outgoing))
            yield self._deliver(pending, high, encoder)
        if pending:
            yield self._deliver(pending, max(item[0] for item in pending) + 1, encoder)

    def _deliver(
        self, pending: list[tuple[int, int, _Outgoing]], until_ns: int, encoder: msgspec.json.Encoder
    ) -> Batch:
        batch = Batch(until_ns)
        while pending and pending[0][0] < until_ns:
            deliver, _, outgoing = heapq.heappop(pending)
            sent = time.time_ns() if self.sent_clock == "wall" else outgoing.sent_ns
            envelope = Envelope(
                readings=outgoing.readings, source=outgoing.key, sent_ns=sent, schema=SCHEMAS[outgoing.kind]
            )
            batch.messages.append((TOPICS[outgoing.kind], outgoing.key.encode(), encoder.encode(envelope)))
            batch.readings.append(len(outgoing.readings))
            self.stats[f"{outgoing.kind}_messages"] += 1
            self.stats[f"{outgoing.kind}_readings"] += len(outgoing.readings)
        return batch

    def _chunk(self, low: int, high: int, rng: np.random.Generator) -> list[tuple[int, _Outgoing]]:
        out: list[tuple[int, _Outgoing]] = []
        out += self._field_delays(self.pmus.frames(low, high, rng), rng, late_max_s=5.0, share=0.1)
        out += self._field_delays(self.sensors.samples(low, high, rng), rng)
        out += self._field_delays(self._interval_reads(low, high, rng), rng)
        out += self._field_delays(self._events("meter", self.meter_events, self.headends, low, high), rng)
        out += self._field_delays(self._events("scada", self.scada_events, self.rtus, low, high), rng)
        return out

    def _field_delays(
        self,
        messages: list[tuple[int, _Outgoing]],
        rng: np.random.Generator,
        late_max_s: float | None = None,
        share: float = 1.0,
    ) -> list[tuple[int, _Outgoing]]:
        """Some messages arrive late (out of order), some twice (a gateway retry of the same bytes)."""
        if not messages:
            return messages
        realities = self.realities
        count = len(messages)
        late = rng.random(count) < realities.late_share * share
        late_max = late_max_s or realities.late_max_s
        delay = (rng.uniform(min(5.0, late_max) / 10, late_max, count) * SECOND).astype(np.int64)
        twice = rng.random(count) < realities.duplicate_share
        retry = (rng.uniform(0.5, 20.0, count) * SECOND).astype(np.int64)
        out: list[tuple[int, _Outgoing]] = []
        for index, (deliver, outgoing) in enumerate(messages):
            when = deliver + int(delay[index]) if late[index] else deliver
            out.append((when, outgoing))
            if twice[index]:
                out.append((when + int(retry[index]), outgoing))
                self.stats["duplicate_messages"] += 1
                self.stats["duplicate_readings"] += len(outgoing.readings)
        self.stats["late_messages"] += int(late.sum())
        return out

    # -- AMI -------------------------------------------------------------------------------------------------------
    def _interval_reads(self, low: int, high: int, rng: np.random.Generator) -> list[tuple[int, _Outgoing]]:
        interval_ns = self.rates.meter_interval_s * SECOND
        first = -(-low // interval_ns) * interval_ns
        out: list[tuple[int, _Outgoing]] = []
        for boundary in range(first, high, interval_ns):
            out += self._reads_at(boundary, interval_ns, rng)
        return out

    def _reads_at(
        self, boundary: int, interval_ns: int, rng: np.random.Generator
    ) -> list[tuple[int, _Outgoing]]:
        topology, rates = self.topology, self.rates
        count = len(topology.meter_ids)
        served = 1.0 - self.dark.dark_ns(count, boundary - interval_ns, boundary) / interval_ns
        kwh = self.meter_kw * (rates.meter_interval_s / 3600.0) * served * rng.uniform(0.85, 1.15, count)
        for fault in self._tamper:
            if fault.truth.start_ns <= boundary < fault.truth.end_ns:
                kwh[topology.meter_index(fault.truth.device)] *= fault.magnitude
        voltage = rates.meter_nominal_v * (1.0 + rng.normal(0.0, 0.01, count))
        voltage[self.dark.dark_at(boundary)] = 0.0
        collect_ns = int(min(rates.ami_collect_s, rates.meter_interval_s / 2) * SECOND)
        deliver = boundary + SECOND + (rng.random(count) * collect_ns).astype(np.int64)
        readings = list(
            map(
                MeterReading,
                topology.meter_ids,
                (boundary + self.meter_skew).tolist(),
                itertools.repeat("interval", count),
                np.round(kwh, 4).tolist(),
                np.round(voltage, 1).tolist(),
                itertools.repeat(rates.meter_interval_s, count),
            )
        )
        return _batched(
            "meter", self.headends, topology.meter_feeder, deliver, readings, rates.ami_batch, boundary
        )

    def _events(
        self, kind: str, table: EventTable, gateways: list[str], low: int, high: int
    ) -> list[tuple[int, _Outgoing]]:
        """Events of this chunk, one message per gateway and delivery second (a head-end or RTU poll)."""
        first, last = table.window(low, high)
        if first == last:
            return []
        deliver = table.deliver_ns[first:last]
        gateway = table.gateway[first:last]
        poll = deliver // SECOND
        order = np.lexsort((poll, gateway))
        readings = table.readings[first:last]
        out: list[tuple[int, _Outgoing]] = []
        for group in _runs(gateway[order].astype(np.int64) * 2**40 + poll[order]):
            rows = order[group]
            key = gateways[int(gateway[rows[0]])]
            out.append(
                (
                    int(deliver[rows].max()),
                    _Outgoing(kind, key, [readings[r] for r in rows.tolist()], int(deliver[rows].max())),
                )
            )
        return out


def _runs(group_keys: np.ndarray) -> list[slice]:
    """Slices of equal consecutive keys."""
    if not len(group_keys):
        return []
    edges = np.flatnonzero(np.diff(group_keys)) + 1
    bounds = [0, *edges.tolist(), len(group_keys)]
    return [slice(a, b) for a, b in itertools.pairwise(bounds)]


def _batched(
    kind: str,
    gateways: Sequence[str],
    gateway: np.ndarray,
    deliver: np.ndarray,
    readings: list[Any],
    batch: int,
    earliest_ns: int,
) -> list[tuple[int, _Outgoing]]:
    """Per gateway, readings in delivery order cut into messages of at most `batch` readings."""
    order = np.lexsort((deliver, gateway))
    sorted_gateway = gateway[order]
    out: list[tuple[int, _Outgoing]] = []
    for run in _runs(sorted_gateway.astype(np.int64)):
        rows = order[run]
        for offset in range(0, len(rows), batch):
            part = rows[offset : offset + batch]
            when = max(int(deliver[part].max()), earliest_ns)
            key = gateways[int(sorted_gateway[run.start])]
            out.append((when, _Outgoing(kind, key, [readings[r] for r in part.tolist()], when)))
    return out


def _in_windows(ts: np.ndarray, windows: Sequence[tuple[int, int]]) -> np.ndarray:
    mask = np.zeros(ts.shape, dtype=bool)
    for start, end in windows:
        mask |= (ts >= start) & (ts < end)
    return mask


def _ramp(t_s: np.ndarray, start_s: float, end_s: float, rise_s: float) -> np.ndarray:
    """0 → 1 over `rise_s` from `start_s`, held, back to 0 over the last 30 % before `end_s`."""
    span = max(end_s - start_s, 1e-9)
    fall_start = end_s - 0.3 * span
    rise = np.clip((t_s - start_s) / max(rise_s, 1e-9), 0.0, 1.0)
    fall = np.clip((end_s - t_s) / max(end_s - fall_start, 1e-9), 0.0, 1.0)
    return np.where((t_s >= start_s) & (t_s < end_s), np.minimum(rise, fall), 0.0)


class _PmuFleet:
    """Every PMU of the model, ordered by PDC: one envelope per PDC carries all its PMUs' frames of a short
    span (`Rates.pdc_frames_per_message` frames, as PDCs batch for transport)."""

    def __init__(self, sim: Simulator, openings: Sequence[Any]) -> None:
        topology, rates = sim.topology, sim.rates
        self.sim = sim
        self.sites: list[Site] = sorted(topology.pmus, key=lambda s: (s.gateway, s.id))
        count = len(self.sites)
        rng = sim._rng(4)
        self.ids = [s.id for s in self.sites]
        self.gateways = sorted({s.gateway for s in self.sites})
        self.gateway_of = np.array([self.gateways.index(s.gateway) for s in self.sites], dtype=np.int64)
        self.power: list[SitePower] = site_power(topology, self.sites, openings, sim.dark)
        self.voltage = rates.pmu_nominal_v * rng.uniform(0.98, 1.03, count)
        self.imbalance = rng.uniform(-0.005, 0.005, (3, count))
        customers = np.array(
            [max(1, topology.customers_below(s.location)) for s in self.sites], dtype=np.float64
        )
        self.current = np.maximum(5.0, customers * 1500.0 / (3 * self.voltage * 0.95))
        self.lag_deg = rng.uniform(13.0, 23.0, count)
        self.angle = rng.uniform(
            -180.0, 180.0, count
        )  # carried across chunks: the phase integrates frequency
        self.wander = [
            (rng.uniform(0.003, 0.012), rng.uniform(40.0, 400.0), rng.uniform(0, 2 * np.pi)) for _ in range(3)
        ]
        self.previous_freq = np.full(count, rates.nominal_hz)
        self.position = {s.id: i for i, s in enumerate(self.sites)}
        self.faults = [
            f for f in sim.faults if f.truth.kind in ("frequency_excursion", "oscillation", "data_gap")
        ]
        self.voltage_faults = [f for f in sim.faults if f.truth.kind in ("voltage_sag", "voltage_swell")]
        self.sag_share = {id(f): self._sag_share(topology, f.truth.device) for f in self.voltage_faults}

    def _sag_share(self, topology: Topology, device: str) -> np.ndarray:
        """1 at or below the faulted device, 0.5 upstream of it (the bus sees half the dip), else 0."""
        share = np.zeros(len(self.sites))
        device_path = set(topology.upstream(device))
        for i, site in enumerate(self.sites):
            if site.location == device or device in topology.upstream(site.location):
                share[i] = 1.0
            elif site.location in device_path:
                share[i] = 0.5
        return share

    def frames(self, low: int, high: int, rng: np.random.Generator) -> list[tuple[int, _Outgoing]]:
        if not self.sites:
            return []
        fps = self.sim.rates.pmu_fps
        first, last = -(-low * fps // SECOND), -(-high * fps // SECOND)
        if last <= first:
            return []
        index = np.arange(first, last, dtype=np.int64)
        ts = (index // fps) * SECOND + (index % fps) * SECOND // fps  # no overflow of index × 1e9
        columns, keep = self._columns(ts, rng)
        return self._messages(ts, columns, keep, rng)

    def _system_frequency(self, t_s: np.ndarray) -> np.ndarray:
        nominal = self.sim.rates.nominal_hz
        wander = sum(a * np.sin(2 * np.pi * t_s / period + phase) for a, period, phase in self.wander)
        return nominal + np.asarray(wander)

    def _columns(self, ts: np.ndarray, rng: np.random.Generator) -> tuple[dict[str, np.ndarray], np.ndarray]:
        rates, count, frames = self.sim.rates, len(self.sites), len(ts)
        t_s = (ts - self.sim.start_ns) / 1e9
        freq = np.repeat(self._system_frequency(t_s)[:, None], count, axis=1)
        magnitude = np.ones((frames, count))
        keep = np.ones((frames, count), dtype=bool)
        for fault in self.faults:
            self._apply(fault, ts, t_s, freq, magnitude, keep)
        for fault in self.voltage_faults:
            inside = _in_windows(ts, [(fault.truth.start_ns, fault.truth.end_ns)])
            magnitude[inside] *= 1.0 + (fault.magnitude - 1.0) * self.sag_share[id(fault)]
        dark = dark_matrix(self.power, ts)
        served = served_matrix(self.power, ts)
        freq = freq + rng.normal(0.0, 0.0005, freq.shape)
        previous = np.vstack([self.previous_freq[None, :], freq[:-1]])
        rocof = (freq - previous) * rates.pmu_fps
        self.previous_freq = freq[-1].copy()
        step = np.cumsum((freq - rates.nominal_hz) * 360.0 / rates.pmu_fps, axis=0)
        angle = self.angle + step
        self.angle = np.mod(angle[-1], 360.0)
        volts = self.voltage * magnitude * (1.0 + rng.normal(0.0, 0.0005, (frames, count)))
        amps = self.current * served * (1.0 + rng.normal(0.0, 0.002, (frames, count)))
        volts[dark] = 0.0
        amps[dark] = 0.0
        freq[dark] = rates.nominal_hz
        rocof[dark] = 0.0
        columns = {"freq_hz": np.round(freq, 5), "rocof_hz_s": np.round(np.clip(rocof, -99, 99), 4)}
        for phase, shift, index in (("a", 0.0, 0), ("b", -120.0, 1), ("c", 120.0, 2)):
            columns[f"v{phase}"] = np.round(volts * (1 + self.imbalance[index]), 2)
            columns[f"v{phase}_angle"] = _wrap(angle + shift)
            columns[f"i{phase}"] = np.round(amps * (1 + self.imbalance[index]), 2)
            columns[f"i{phase}_angle"] = _wrap(angle + shift - self.lag_deg)
        columns["status"] = np.where(dark, PMU_DATA_INVALID, 0)
        return columns, keep

    def _apply(
        self,
        fault: Fault,
        ts: np.ndarray,
        t_s: np.ndarray,
        freq: np.ndarray,
        magnitude: np.ndarray,
        keep: np.ndarray,
    ) -> None:
        truth = fault.truth
        if ts[-1] < truth.start_ns or ts[0] >= truth.end_ns:
            return
        targets = [self.position[t] for t in fault.targets if t in self.position]
        start_s = (truth.start_ns - self.sim.start_ns) / 1e9
        end_s = (truth.end_ns - self.sim.start_ns) / 1e9
        if truth.kind == "data_gap":
            keep[
                np.ix_(_in_windows(ts, [(truth.start_ns, truth.end_ns)]), np.asarray(targets, dtype=np.int64))
            ] = False
        elif truth.kind == "frequency_excursion":
            freq[:, targets] += (fault.magnitude * _ramp(t_s, start_s, end_s, rise_s=3.0))[:, None]
        elif truth.kind == "oscillation":
            envelope = _ramp(t_s, start_s, end_s, rise_s=2.0)
            wave = envelope * np.sin(2 * np.pi * (t_s - start_s) / fault.period_s)
            freq[:, targets] += (fault.magnitude * wave)[:, None]
            magnitude[:, targets] *= (1.0 + 0.01 * wave)[:, None]

    def _messages(
        self, ts: np.ndarray, columns: dict[str, np.ndarray], keep: np.ndarray, rng: np.random.Generator
    ) -> list[tuple[int, _Outgoing]]:
        frames, count = keep.shape
        per_message = self.sim.rates.pdc_frames_per_message
        frame_no = np.repeat(np.arange(frames, dtype=np.int64), count)
        # one group per (span of `per_message` frames, PDC); a stable sort keeps each PDC's frames in time order
        group = (frame_no // per_message) * len(self.gateways) + np.tile(self.gateway_of, frames)
        positions = np.flatnonzero(keep.ravel())
        positions = positions[np.argsort(group[positions], kind="stable")]
        devices = [self.ids[p % count] for p in positions.tolist()]
        times, group, frame_no = np.repeat(ts, count)[positions], group[positions], frame_no[positions]
        values = [columns[name].ravel()[positions] for name in _PMU_CHANNELS]
        readings = list(map(PmuReading, devices, times.tolist(), *(v.tolist() for v in values)))
        latency = (rng.uniform(0.02, 0.06, frames) * SECOND).astype(np.int64)
        out: list[tuple[int, _Outgoing]] = []
        for run in _runs(group):
            last_frame = int(frame_no[run.stop - 1])  # the PDC sends when the span's last frame is in
            key = self.gateways[int(group[run.start]) % len(self.gateways)]
            when = int(ts[last_frame] + latency[last_frame])
            out.append((when, _Outgoing("pmu", key, readings[run], when)))
        return out


def _wrap(angle: np.ndarray) -> np.ndarray:
    """Degrees into (-180, 180], as a PMU reports them."""
    return np.round(180.0 - np.mod(180.0 - angle, 360.0), 3)


class _SensorFleet:
    """Line and transformer sensors sampling every `sensor_period_s`, batched per gateway and sample time."""

    def __init__(self, sim: Simulator, openings: Sequence[Any]) -> None:
        topology = sim.topology
        self.sim = sim
        self.sites: list[Site] = sorted(topology.sensors, key=lambda s: (s.gateway, s.id))
        count = len(self.sites)
        rng = sim._rng(6)
        self.ids = [s.id for s in self.sites]
        self.gateways = sorted({s.gateway for s in self.sites})
        self.gateway_of = np.array([self.gateways.index(s.gateway) for s in self.sites], dtype=np.int64)
        self.position = {s.id: i for i, s in enumerate(self.sites)}
        self.power = site_power(topology, self.sites, openings, sim.dark)
        secondary = np.array([s.location_kind == "transformer" for s in self.sites])
        customers = np.array(
            [max(1, topology.customers_below(s.location)) for s in self.sites], dtype=np.float64
        )
        self.voltage = np.where(secondary, sim.rates.meter_nominal_v, sim.rates.pmu_nominal_v) * rng.uniform(
            0.99, 1.02, count
        )
        self.current = customers * 1500.0 / self.voltage * np.where(secondary, 1.0, 1 / 3)
        self.temperature = np.where(secondary, rng.uniform(45.0, 65.0, count), rng.uniform(25.0, 35.0, count))
        self.thd = rng.uniform(1.5, 4.5, count)
        self.phase_ns = (rng.random(count) * sim.rates.sensor_period_s * SECOND).astype(np.int64)
        self.skew = clock_skews(count, sim.realities, rng)
        self.faults = [
            f
            for f in sim.faults
            if f.targets and f.targets[0] in self.position and f.truth.kind.startswith(("sensor", "data_gap"))
        ]
        self.voltage_faults = [f for f in sim.faults if f.truth.kind in ("voltage_sag", "voltage_swell")]
        self.below = {id(f): self._below(topology, f.truth.device) for f in self.voltage_faults}
        self.stuck: dict[str, tuple[float, ...]] = {}

    def _below(self, topology: Topology, device: str) -> np.ndarray:
        return np.array(
            [s.location == device or device in topology.upstream(s.location) for s in self.sites], dtype=bool
        )

    def samples(self, low: int, high: int, rng: np.random.Generator) -> list[tuple[int, _Outgoing]]:
        if not self.sites:
            return []
        period = int(self.sim.rates.sensor_period_s * SECOND)
        grid = np.arange(-(-low // period) * period, high, period, dtype=np.int64)
        if not len(grid):
            return []
        ts = grid[:, None] + self.phase_ns[None, :]
        columns, keep = self._columns(ts, rng)
        return self._messages(grid, ts, columns, keep)

    def _columns(self, ts: np.ndarray, rng: np.random.Generator) -> tuple[dict[str, np.ndarray], np.ndarray]:
        shape = ts.shape
        t_s = (ts - self.sim.start_ns) / 1e9
        daily = 1.0 + 0.05 * np.sin(2 * np.pi * t_s / 3600.0)
        served = served_matrix(self.power, ts)
        dark = dark_matrix(self.power, ts)
        volts = self.voltage * (1.0 + rng.normal(0.0, 0.003, shape))
        for fault in self.voltage_faults:
            inside = _in_windows(ts, [(fault.truth.start_ns, fault.truth.end_ns)]) & self.below[id(fault)]
            volts[inside] *= fault.magnitude
        amps = self.current * daily * served * (1.0 + rng.normal(0.0, 0.02, shape))
        heat = self.temperature + 10.0 * (served * daily - 1.0) + rng.normal(0.0, 0.3, shape)
        thd = self.thd * (1.0 + rng.normal(0.0, 0.05, shape))
        volts[dark], amps[dark], thd[dark] = 0.0, 0.0, 0.0
        heat[dark] = 20.0 + rng.normal(0.0, 0.3, int(dark.sum()))
        columns = {"voltage_v": volts, "current_a": amps, "temperature_c": heat, "thd_pct": thd}
        keep = np.ones(shape, dtype=bool)
        for fault in self.faults:
            self._apply(fault, ts, columns, keep)
        columns["voltage_v"] = np.round(np.clip(columns["voltage_v"], 0.0, 2.0e6), 2)
        columns["current_a"] = np.round(np.clip(columns["current_a"], 0.0, 1.0e5), 2)
        columns["temperature_c"] = np.round(np.clip(columns["temperature_c"], -60.0, 300.0), 2)
        columns["thd_pct"] = np.round(np.clip(columns["thd_pct"], 0.0, 100.0), 2)
        return columns, keep

    def _apply(self, fault: Fault, ts: np.ndarray, columns: dict[str, np.ndarray], keep: np.ndarray) -> None:
        truth = fault.truth
        column = self.position[truth.device]
        inside = (ts[:, column] >= truth.start_ns) & (ts[:, column] < truth.end_ns)
        if not inside.any():
            return
        rows = np.flatnonzero(inside)
        progress = (ts[rows, column] - truth.start_ns) / max(1, truth.end_ns - truth.start_ns)
        kind = truth.kind
        if kind == "data_gap":
            keep[rows, column] = False
        elif kind == "sensor_stuck":
            frozen = self.stuck.setdefault(
                truth.id, tuple(float(columns[n][rows[0], column]) for n in _SENSOR_CHANNELS)
            )
            for name, value in zip(_SENSOR_CHANNELS, frozen, strict=True):
                columns[name][rows, column] = value
        elif kind == "sensor_flatline":
            columns["current_a"][rows, column] = 0.0
            columns["thd_pct"][rows, column] = 0.0
        elif kind == "sensor_drift":
            columns["voltage_v"][rows, column] *= 1.0 + fault.magnitude * progress
        elif kind == "sensor_spike":
            spikes = rows[(ts[rows, column] // SECOND) % 4 == 0]
            columns["current_a"][spikes, column] *= fault.magnitude
        elif kind == "sensor_overheating":
            base = columns["temperature_c"][rows, column]
            columns["temperature_c"][rows, column] = base + (fault.magnitude - base) * np.minimum(
                1.0, progress / 0.6
            )
            columns["current_a"][rows, column] *= 1.0 + 0.5 * np.minimum(1.0, progress / 0.6)

    def _messages(
        self, grid: np.ndarray, ts: np.ndarray, columns: dict[str, np.ndarray], keep: np.ndarray
    ) -> list[tuple[int, _Outgoing]]:
        samples, count = keep.shape
        stamped = (ts + self.skew[None, :]).ravel()
        group = np.repeat(np.arange(samples, dtype=np.int64), count) * len(self.gateways) + np.tile(
            self.gateway_of, samples
        )
        positions = np.flatnonzero(keep.ravel())
        devices = self.ids * samples
        values = [columns[name].ravel()[positions].tolist() for name in _SENSOR_CHANNELS]
        readings = list(
            map(SensorReading, [devices[p] for p in positions.tolist()], stamped[positions].tolist(), *values)
        )
        group = group[positions]
        period = int(self.sim.rates.sensor_period_s * SECOND)
        out: list[tuple[int, _Outgoing]] = []
        for run in _runs(group):
            sample = int(group[run.start]) // len(self.gateways)
            key = self.gateways[int(group[run.start]) % len(self.gateways)]
            when = int(grid[sample]) + period + SECOND // 10  # the gateway sends after its sampling period
            out.append((when, _Outgoing("sensor", key, readings[run], when)))
        return out


_PMU_CHANNELS = (
    *("freq_hz", "rocof_hz_s", "va", "vb", "vc", "va_angle", "vb_angle", "vc_angle"),
    *("ia", "ib", "ic", "ia_angle", "ib_angle", "ic_angle", "status"),
)
_SENSOR_CHANNELS = ("voltage_v", "current_a", "temperature_c", "thd_pct")
