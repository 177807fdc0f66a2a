"""Anomaly lifecycle: per-reading conditions become anomalies that open, escalate and close with hysteresis.

Severity levels, for operators:
- info (1): worth keeping for analysis, no action (short data-quality blips, mild statistical oddities);
- warning (2): outside the normal range (ANSI C84.1 range A, a clear statistical anomaly): look this shift;
- major (3): outside a regulatory or design limit (range B, frequency band, unbalance > 3 %): act in minutes;
- critical (4): equipment or stability at risk (< 0.8 pu, beyond under-frequency load-shedding bands,
  thermal rating exceeded, sustained oscillation): act now.

One open anomaly per (device, metric, detector). A condition must hold `min_on_s` of event time to open and
be clear `min_off_s` to close; between the raise and clear thresholds (the hysteresis band) nothing changes,
so a value hovering on a limit raises one anomaly, not fifty. Ids derive from device/metric/detector/start,
so a replay of the same readings yields the same ids.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import msgspec
import numpy as np

from gridmon.detect.columns import forward_fill, previous_in_group
from gridmon.detect.rows import DeviceRows
from gridmon.records import Anomaly, Severity

SEVERITIES: tuple[Severity, ...] = ("info", "warning", "major", "critical")
Category = Literal["grid", "data_quality"]
OutageLookup = Callable[[str], str | None] | Mapping[str, str | None]
# operator feedback: a channel's threshold multiplier for each of these device indices (1: none given)
ScaleOf = Callable[["ChannelSpec", np.ndarray], np.ndarray]
NEVER = -(2**62)
INFO, WARNING, MAJOR, CRITICAL = 1, 2, 3, 4
RECENT_IDS = 100_000


def severity_of(level: int) -> Severity:
    return SEVERITIES[min(max(level, 1), 4) - 1]


def level_of(severity: str) -> int:
    return SEVERITIES.index(severity) + 1 if severity in SEVERITIES else WARNING


def graded(reached: np.ndarray) -> np.ndarray:
    """How many of the (warning, major, critical) thresholds a reading reached → level 0 or 2–4."""
    return np.where(reached > 0, reached + 1, 0).astype(np.int8)


def anomaly_id(device: str, metric: str, detector: str, start_ns: int) -> str:
    key = f"{device}\x1f{metric}\x1f{detector}\x1f{start_ns}".encode()
    return hashlib.blake2b(key, digest_size=12).hexdigest()


@dataclass(frozen=True)
class Signal:
    """A detector's verdict per reading (rows sorted by device, then event time).

    `level` 0 means the condition is absent, 1–4 present at that severity; `clear` means the reading is back
    inside the clear threshold. A row with level 0 and not clear is in the hysteresis band: state holds.
    """

    device_idx: np.ndarray
    ts: np.ndarray
    group_start: np.ndarray
    level: np.ndarray
    clear: np.ndarray
    score: np.ndarray
    value: np.ndarray
    # per row, the quiet time needed to close (s) when it differs by device (counted in samples for fast
    # signals); None: the channel's `min_off_s`
    min_off_s: np.ndarray | None = None


@dataclass(frozen=True)
class ChannelSpec:
    detector: str
    metric: str
    category: Category = "grid"
    min_on_s: float = 0.0
    min_off_s: float = 0.0


class OpenAnomaly(msgspec.Struct):
    id: str
    version: int
    start_ns: int
    level: int
    emitted_level: int
    score: float
    value: float
    group: str | None
    parent_outage: str | None


class Channel(DeviceRows):
    """The debounce state of one (detector, metric) per device (a row each, see `DeviceRows`: compact unless
    `dense`, as most channels are of a signal only PMUs or sensors send), and its open anomalies by device."""

    FIELDS = {
        "cond": (0, np.bool_, False),
        "cond_since": (0, np.int64, NEVER),
        "active": (0, np.bool_, False),
        "min_on_scale": (0, np.float64, 1.0),  # feedback: a false alarm makes this device wait longer
        "threshold_scale": (0, np.float64, 1.0),  # feedback for detectors with a statistical threshold
    }
    cond: np.ndarray
    cond_since: np.ndarray
    active: np.ndarray
    min_on_scale: np.ndarray
    threshold_scale: np.ndarray

    def __init__(self, spec: ChannelSpec, devices: int, dense: bool = False) -> None:
        super().__init__(devices, dense)
        self.spec = spec
        self.open: dict[int, OpenAnomaly] = {}


@dataclass
class Transitions:
    """Rows where anomalies open or close, and the contiguous active segments with their peaks."""

    opened: np.ndarray
    closed: np.ndarray
    since: np.ndarray
    segments: list[tuple[int, int, int, float, float]]  # first row, last row, max level, peak score, value


def debounce(channel: Channel, signal: Signal) -> Transitions:
    """Vectorised hysteresis + minimum duration over a batch; updates the channel's per-device state."""
    ts, starts = signal.ts, signal.group_start
    row = channel.rows(signal.device_idx)
    raised = signal.level > 0
    cond_prior = channel.cond[row]
    cond = forward_fill(raised | signal.clear, raised, cond_prior, starts)
    changed = cond != previous_in_group(cond, cond_prior, starts)
    since = forward_fill(changed, ts, channel.cond_since[row], starts)
    duration = ts - since
    # feedback scales are made by the first label: a channel nobody labelled holds none (all 1)
    feedback = channel.min_on_scale[row] if channel.has("min_on_scale") else 1.0
    min_on = (channel.spec.min_on_s * 1e9) * feedback
    on = cond & (duration >= min_on)
    min_off = channel.spec.min_off_s if signal.min_off_s is None else signal.min_off_s
    off = ~cond & (duration >= min_off * 1e9)
    active_prior = channel.active[row]
    active = forward_fill(on | off, on, active_prior, starts)
    previous = previous_in_group(active, active_prior, starts)
    _store_last(channel, row, cond, since, active)
    return Transitions(
        opened=active & ~previous,
        closed=~active & previous,
        since=since,
        segments=_segments(active, starts, signal),
    )


def _store_last(
    channel: Channel, row: np.ndarray, cond: np.ndarray, since: np.ndarray, active: np.ndarray
) -> None:
    # fancy assignment keeps the last write per device: rows are sorted by time within a device
    channel.cond[row] = cond
    channel.cond_since[row] = since
    channel.active[row] = active


def _segments(
    active: np.ndarray, starts: np.ndarray, signal: Signal
) -> list[tuple[int, int, int, float, float]]:
    rows = np.flatnonzero(active)
    if not rows.size:
        return []
    previous = previous_in_group(active, np.zeros(len(active), dtype=bool), starts)
    first = active & ~previous
    boundaries = np.flatnonzero(first[rows])
    peaks = np.maximum.reduceat(signal.score[rows], boundaries)
    levels = np.maximum.reduceat(signal.level[rows], boundaries)
    segment_of = np.cumsum(first[rows]) - 1
    at_peak = np.flatnonzero(signal.score[rows] == peaks[segment_of])
    _, first_peak = np.unique(segment_of[at_peak], return_index=True)
    peak_rows = rows[at_peak[first_peak]] if len(first_peak) == len(boundaries) else rows[boundaries]
    ends = np.append(boundaries[1:], len(rows)) - 1
    return [
        (int(rows[b]), int(rows[e]), int(lv), float(pk), float(signal.value[pr]))
        for b, e, lv, pk, pr in zip(boundaries, ends, levels, peaks, peak_rows, strict=True)
    ]


@dataclass
class DeviceLabels:
    """What an anomaly record needs to know about devices, by device index (the device context's own
    sequences, not copies: 9.6 MB each at 1.2M devices)."""

    devices: Sequence[str]
    zone: Sequence[str]
    feeder: Sequence[str]


@dataclass
class AnomalyLifecycle:
    """Turns channel transitions into versioned `Anomaly` records; groups by zone; suppresses under outages."""

    labels: DeviceLabels
    outage_of: OutageLookup | None = None
    group_window_s: float = 60.0
    channels: dict[tuple[str, str], Channel] = field(default_factory=dict)
    zone_groups: dict[str, tuple[str, int]] = field(default_factory=dict)
    recent: OrderedDict[str, tuple[str, str, int]] = field(default_factory=OrderedDict)
    # anomalies to continue on a channel this lifecycle has not created yet: (detector, metric) → device → state
    parked: dict[tuple[str, str], dict[int, OpenAnomaly]] = field(default_factory=dict)

    def channel(self, spec: ChannelSpec) -> Channel:
        key = (spec.detector, spec.metric)
        if key not in self.channels:
            channel = self.channels[key] = Channel(spec, len(self.labels.devices))
            for dev, state in self.parked.pop(key, {}).items():
                self._continue(channel, dev, state)
        return self.channels[key]

    def resume(self, key: tuple[str, str], dev: int, state: OpenAnomaly, newest_ns: int) -> bool:
        """Continue an anomaly published as open (its newest version is `state`) that this lifecycle's state
        does not know: one raised after the checkpoint it was restored or adopted from. `newest_ns` is the
        event time of the newest reading of the device this state has seen. True when continued; not when an
        anomaly is open here already, or when this state saw the device after the anomaly started without
        being in the same condition (it has moved on: the anomaly is not its own)."""
        channel = self.channels.get(key)
        if channel is not None and dev in channel.open:
            return False
        same_condition = (
            channel is not None
            and bool(channel.get("cond", dev))
            and int(channel.get("cond_since", dev)) == state.start_ns
        )
        if newest_ns >= state.start_ns and not same_condition:
            return False
        if channel is None:
            self.parked.setdefault(key, {})[dev] = state
        else:
            self._continue(channel, dev, state)
        return True

    def _continue(self, channel: Channel, dev: int, state: OpenAnomaly) -> None:
        channel.open[dev] = state
        row = channel.row(dev)
        channel.active[row] = channel.cond[row] = True
        channel.cond_since[row] = state.start_ns
        self.recent[state.id] = (channel.spec.detector, channel.spec.metric, dev)

    def apply(self, spec: ChannelSpec, signal: Signal) -> list[Anomaly]:
        if not len(signal.device_idx):
            return []
        channel = self.channel(spec)
        moves = debounce(channel, signal)
        events = [(int(row), "close") for row in np.flatnonzero(moves.closed)]
        events += [(segment[0], "segment") for segment in moves.segments]
        by_row = {segment[0]: segment for segment in moves.segments}
        out: list[Anomaly] = []
        for row, kind in sorted(events, key=lambda event: (event[0], event[1] != "close")):
            dev = int(signal.device_idx[row])
            if kind == "close":
                out += self._close(channel, dev, int(signal.ts[row]))
            else:
                out += self._segment(channel, dev, by_row[row], moves, signal)
        return out

    def _segment(
        self,
        channel: Channel,
        dev: int,
        segment: tuple[int, int, int, float, float],
        moves: Transitions,
        signal: Signal,
    ) -> list[Anomaly]:
        first, _, level, peak, value = segment
        current = channel.open.get(dev)
        if moves.opened[first] or current is None:
            return [self._open(channel, dev, int(moves.since[first]), level, peak, value)]
        if peak > current.score:
            current.score, current.value = peak, value
        current.level = max(current.level, level)
        parent = self._outage(dev)
        if current.level > current.emitted_level or parent != current.parent_outage:
            current.emitted_level = current.level
            current.parent_outage = parent
            return [self._record(channel, dev, current, None)]
        return []

    def _open(
        self, channel: Channel, dev: int, start_ns: int, level: int, score: float, value: float
    ) -> Anomaly:
        spec = channel.spec
        device = self.labels.devices[dev]
        ident = anomaly_id(device, spec.metric, spec.detector, start_ns)
        state = OpenAnomaly(
            id=ident,
            version=0,
            start_ns=start_ns,
            level=level,
            emitted_level=level,
            score=score,
            value=value,
            group=self._group(dev, spec.category, ident, start_ns),
            parent_outage=self._outage(dev),
        )
        channel.open[dev] = state
        self.recent[ident] = (spec.detector, spec.metric, dev)
        while len(self.recent) > RECENT_IDS:
            self.recent.popitem(last=False)
        return self._record(channel, dev, state, None)

    def _close(self, channel: Channel, dev: int, end_ns: int) -> list[Anomaly]:
        state = channel.open.pop(dev, None)
        if state is None:
            return []
        return [self._record(channel, dev, state, end_ns)]

    def _record(self, channel: Channel, dev: int, state: OpenAnomaly, end_ns: int | None) -> Anomaly:
        state.version += 1
        spec = channel.spec
        # a child of an outage stays suppressed when it ends: it was never an alarm of its own
        status: Literal["open", "closed", "suppressed"] = "open"
        if state.parent_outage is not None:
            status = "suppressed"
        elif end_ns is not None:
            status = "closed"
        return Anomaly(
            id=state.id,
            version=state.version,
            device=self.labels.devices[dev],
            zone=self.labels.zone[dev],
            feeder=self.labels.feeder[dev],
            metric=spec.metric,
            detector=spec.detector,
            category=spec.category,
            severity=severity_of(state.level),
            state=status,
            start_ns=state.start_ns,
            end_ns=end_ns,
            score=state.score,
            value=state.value,
            parent_outage=state.parent_outage,
            group=state.group,
        )

    def resuppress(self) -> list[Anomaly]:
        """New versions of open anomalies whose device an outage now covers (or no longer covers): the
        correlator locates an outage a few seconds after its first evidence, when the anomalies that
        evidence caused are already open. Cost: one lookup per open anomaly."""
        if self.outage_of is None:
            return []
        out: list[Anomaly] = []
        for channel in self.channels.values():
            for dev, state in channel.open.items():
                parent = self._outage(dev)
                if parent is not None and parent != state.parent_outage:
                    state.parent_outage = parent
                    out.append(self._record(channel, dev, state, None))
        return out

    def _group(self, dev: int, category: str, ident: str, start_ns: int) -> str:
        # related anomalies: same zone and category, starting within the grouping window of the group's last
        key = f"{self.labels.zone[dev]}\x1f{category}"
        current = self.zone_groups.get(key)
        window = int(self.group_window_s * 1e9)
        group = current[0] if current is not None and abs(start_ns - current[1]) <= window else ident
        self.zone_groups[key] = (group, max(start_ns, current[1]) if current and group != ident else start_ns)
        return group

    def _outage(self, dev: int) -> str | None:
        if self.outage_of is None:
            return None
        device = self.labels.devices[dev]
        if isinstance(self.outage_of, Mapping):
            return self.outage_of.get(device)
        return self.outage_of(device)
