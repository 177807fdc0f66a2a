"""`DetectorBank`: every detector of a worker, fed one columnar batch per kind, with state that survives
restarts through `snapshot()`/`restore()` and operator feedback through `label()`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, Literal

import msgspec
import numpy as np

from gridmon.detect.baseline import BaselineDetector
from gridmon.detect.columns import Batch, batch_from, group_last, sort_batch
from gridmon.detect.config import BankConfig
from gridmon.detect.context import DeviceContext, DeviceParams
from gridmon.detect.lifecycle import (
    NEVER,
    RECENT_IDS,
    AnomalyLifecycle,
    ChannelSpec,
    DeviceLabels,
    OpenAnomaly,
    OutageLookup,
    Signal,
)
from gridmon.detect.limits import LimitDetector
from gridmon.detect.pmu import PmuDetector
from gridmon.detect.quality import QualityDetector, by_kind, newest_reading
from gridmon.errors import ConfigError
from gridmon.records import Anomaly

Label = Literal["false_alarm", "confirmed"]
# 2: long-run variance blocks for the peer CUSUM; 3: oscillation windows hold PMU rows only; 4: baselines
# keep each device's newest reading (step channels) and the start of its current excursion (re-learning); 5:
# baselines, channels and PMU angles hold rows only for the devices that reported their metric (`.device`); 6:
# so does the quality state of each kind (`<kind>/device`)
SNAPSHOT_VERSION = 6
PMU_DATA_INVALID = 0x8000
INTERRUPTION_COLUMN = {"pmu": "va", "sensor": "voltage_v", "meter": "voltage_v"}
MAX_THRESHOLD_SCALE = 4.0
MAX_MIN_ON_SCALE = 16.0


class _Array(msgspec.Struct, array_like=True):
    dtype: str
    shape: tuple[int, ...]
    data: bytes


class _ChannelState(msgspec.Struct):
    detector: str
    metric: str
    category: str
    min_on_s: float
    min_off_s: float
    arrays: dict[str, _Array]
    open: dict[int, OpenAnomaly]


class _Snapshot(msgspec.Struct):
    version: int
    devices: int
    detectors: dict[str, dict[str, _Array]]
    channels: list[_ChannelState]
    zone_groups: dict[str, tuple[str, int]]
    recent: list[tuple[str, str, str, int]]


class DetectorBank:
    """All detectors for one worker. `process(kind, batch)` → anomaly records (new versions only)."""

    def __init__(
        self, config: BankConfig, device_context: DeviceContext, outage_of: OutageLookup | None = None
    ) -> None:
        self.config = config
        self.context = device_context
        self.params = DeviceParams(device_context, config)
        self.lifecycle = AnomalyLifecycle(
            DeviceLabels(device_context.devices, device_context.zone, device_context.feeder),
            outage_of,
            config.group_window_s,
        )
        self.limits = LimitDetector(self.params)
        self.quality = QualityDetector(self.params)
        self.baseline = BaselineDetector(self.params, self._threshold_scale, self.quality.interval_of)
        self.pmu = PmuDetector(self.params, self._threshold_scale)
        self.interruption_pu = self.params.per_class(lambda c: c.limits.interruption_pu)
        self.cost_s: dict[str, float] = {}
        self.ignored_rows = 0  # device index outside the context (the ingest dead-letters unknown devices)
        # anomalies published as open that this state may not know, waiting for their device's next reading
        self._dormant: dict[int, list[tuple[tuple[str, str], OpenAnomaly]]] = {}
        self._dormant_devices = np.zeros(0, dtype=np.int64)
        self.resumed = 0

    @property
    def outage_of(self) -> OutageLookup | None:
        return self.lifecycle.outage_of

    @outage_of.setter
    def outage_of(self, lookup: OutageLookup | None) -> None:
        self.lifecycle.outage_of = lookup

    def process(self, kind: str, batch: Any) -> list[Anomaly]:
        """Run every detector on one batch of `kind` (an `IngestBatch` or a mapping of columns)."""
        device_idx, columns = batch_from(batch)
        known = (device_idx >= 0) & (device_idx < len(self.context))
        self.ignored_rows += int((~known).sum())
        if not known.any():
            return []
        # numbers only (and the event kind): converting the device-id list would cost a Python pass per row
        names = [n for n in columns if n == "event" or (isinstance(columns[n], np.ndarray) and n[0] != "_")]
        names = [n for n in names if n != "device_idx"]
        rows = np.flatnonzero(known)
        if self._dormant:
            self._wake(device_idx[rows])
        picked = {name: _rows(columns[name], rows) for name in names}
        stale, disordered = self.quality.late_rows(kind, device_idx[rows], picked["ts"])
        picked |= {"_stale": stale, "_disordered": disordered}
        ordered = sort_batch(device_idx[rows], picked["ts"], picked)
        out = self._apply("quality", self.quality.out_of_order(kind, ordered, ordered.columns["_disordered"]))
        out += self.lifecycle.resuppress()
        fresh = ordered.select(~ordered.columns["_stale"] & self._measured(kind, ordered))
        for name, detector in self._detectors():
            out += self._apply(name, detector.signals(kind, fresh))
        self.quality.remember(kind, ordered.select(~ordered.columns["_stale"]), _watermark(ordered))
        out += self._apply("quality", self._gap_signals(kind))
        return out

    def await_resume(self, published: list[tuple[int, str, str, OpenAnomaly]]) -> None:
        """Anomalies the store holds open — (device index, detector, metric, newest version) — read after a
        restore or a takeover. The state restored or adopted is a checkpoint, a few seconds older than what
        its worker published: an anomaly raised in between would be raised again under a new id, and the
        published one would never close. Each is continued here (same id, next version) when its device's next
        reading arrives, unless this state knows it (`AnomalyLifecycle.resume`); a device that never comes
        here is someone else's. Replaces the previous list."""
        self._dormant = {}
        for dev, detector, metric, state in published:
            self._dormant.setdefault(dev, []).append(((detector, metric), state))
        self._dormant_devices = np.fromiter(self._dormant, dtype=np.int64, count=len(self._dormant))

    def _wake(self, device_idx: np.ndarray) -> None:
        arrived = self._dormant_devices[np.isin(self._dormant_devices, device_idx)]
        if not len(arrived):
            return
        newest = self.quality.newest_reading(arrived)
        for dev, newest_ns in zip(arrived.tolist(), newest.tolist(), strict=True):
            for key, state in self._dormant.pop(dev):
                self.resumed += self.lifecycle.resume(key, dev, state, newest_ns)
        self._dormant_devices = self._dormant_devices[~np.isin(self._dormant_devices, arrived)]

    def train(self, kind: str, batch: Any) -> None:
        """Learn from history (`gridmon replay`): baselines and windows update, no anomaly is emitted or left
        open, so training on a past incident does not raise or close anything live."""
        self.process(kind, batch)
        for channel in self.lifecycle.channels.values():
            channel.open.clear()
            channel.active[:] = False
            channel.cond[:] = False
            channel.cond_since[:] = NEVER

    def _detectors(self) -> list[tuple[str, Any]]:
        return [
            ("limits", self.limits),
            ("baseline", self.baseline),
            ("pmu", self.pmu),
            ("quality", self.quality),
        ]

    def _gap_signals(self, kind: str) -> Iterator[tuple[ChannelSpec, Signal]]:
        if kind in self.quality.config.gap_kinds:
            yield self.quality.spec("gap", 0.0), self.quality.gaps(kind)

    def _apply(self, name: str, signals: Iterator[tuple[ChannelSpec, Signal]]) -> list[Anomaly]:
        started = time.perf_counter()
        out: list[Anomaly] = []
        for spec, signal in signals:
            out += self.lifecycle.apply(spec, signal)
        self.cost_s[name] = self.cost_s.get(name, 0.0) + time.perf_counter() - started
        return out

    def _measured(self, kind: str, batch: Batch) -> np.ndarray:
        """Rows that measure an energised device: not flagged invalid, and voltage at or above the
        interruption level (IEEE 1159: below 0.1 pu is an interruption, not a sag). A de-energised device is
        the outage correlator's evidence (the router sends it there); its zeros would otherwise raise limit,
        baseline and stuck-value anomalies and teach the baselines that 0 is normal. Such rows still count as
        received for the gap check."""
        measured = _valid_status(batch)
        column = INTERRUPTION_COLUMN.get(kind)
        if column is None or column not in batch.columns:
            return measured
        with np.errstate(invalid="ignore", divide="ignore"):
            pu = batch.column(column) / self.params.nominal_v[batch.device_idx]
        return measured & ~(pu < self.interruption_pu[batch.device_idx])  # NaN (absent, unknown) is kept

    def _threshold_scale(self, spec: ChannelSpec, device_idx: np.ndarray) -> np.ndarray:
        return self.lifecycle.channel(spec).get("threshold_scale", device_idx)

    def open_anomalies(self) -> list[tuple[str, str, str, OpenAnomaly]]:
        """(device, detector, metric, state) of every open anomaly."""
        devices = self.lifecycle.labels.devices
        return [
            (devices[dev], spec_key[0], spec_key[1], state)
            for spec_key, channel in self.lifecycle.channels.items()
            for dev, state in channel.open.items()
        ]

    def label(self, anomaly_id: str, label: Label) -> bool:
        """Operator feedback: a false alarm makes this device/metric/detector less sensitive, a confirmation
        restores sensitivity. False when the id is unknown to this worker (too old, or another worker's)."""
        entry = self.lifecycle.recent.get(anomaly_id)
        if entry is None:
            return False
        detector, metric, dev = entry
        if label not in ("false_alarm", "confirmed"):
            raise ConfigError(f"unknown label {label!r}: use 'false_alarm' or 'confirmed'")
        channel = self.lifecycle.channels[(detector, metric)]
        row = channel.row(dev)
        if label == "false_alarm":
            channel.threshold_scale[row] = min(channel.threshold_scale[row] * 1.25, MAX_THRESHOLD_SCALE)
            channel.min_on_scale[row] = min(channel.min_on_scale[row] * 2.0, MAX_MIN_ON_SCALE)
        else:
            channel.threshold_scale[row] = max(channel.threshold_scale[row] / 1.25, 1.0)
            channel.min_on_scale[row] = max(channel.min_on_scale[row] / 2.0, 1.0)
        return True

    def snapshot(self) -> bytes:
        """Baselines, windows, debounce state and open anomalies, as bytes for a changelog or checkpoint."""
        detectors = {
            "baseline": {
                f"{metric}.{key}": _pack(array)
                for metric, state in self.baseline.states.items()
                for key, array in state.saved().items()
            },  # fmt: skip
            "pmu": {key: _pack(array) for key, array in self.pmu.state_dict().items()},
            "quality": {key: _pack(array) for key, array in self.quality.state_dict().items()},
        }
        channels = [
            _ChannelState(
                c.spec.detector,
                c.spec.metric,
                c.spec.category,
                c.spec.min_on_s,
                c.spec.min_off_s,
                {key: _pack(array) for key, array in c.saved().items()},
                c.open,
            )  # fmt: skip
            for c in self.lifecycle.channels.values()
        ]
        recent = [(ident, d, m, dev) for ident, (d, m, dev) in self.lifecycle.recent.items()]
        snapshot = _Snapshot(SNAPSHOT_VERSION, len(self.context), detectors, channels,
                             dict(self.lifecycle.zone_groups), recent)  # fmt: skip
        return msgspec.msgpack.encode(snapshot)

    def restore(self, data: bytes) -> None:
        """Load a `snapshot()`; it must come from a bank with the same devices (same grid model)."""
        snapshot = self._decode(data)
        for metric, saved_state in _by_metric(snapshot.detectors["baseline"]).items():
            self.baseline.state(metric).load(saved_state)
        self.pmu.load_state_dict({k: _unpack(v) for k, v in snapshot.detectors["pmu"].items()})
        self.quality.load_state_dict({k: _unpack(v) for k, v in snapshot.detectors["quality"].items()})
        for saved in snapshot.channels:
            category = "data_quality" if saved.category == "data_quality" else "grid"
            spec = ChannelSpec(saved.detector, saved.metric, category, saved.min_on_s, saved.min_off_s)
            channel = self.lifecycle.channel(spec)
            channel.load({key: _view(array) for key, array in saved.arrays.items()})
            channel.open = dict(saved.open)
        self.lifecycle.zone_groups = dict(snapshot.zone_groups)
        self.lifecycle.recent.clear()
        for ident, detector, metric, dev in snapshot.recent:
            self.lifecycle.recent[ident] = (detector, metric, dev)

    def adopt(self, data: bytes) -> int:
        """Take over, from another worker's `snapshot()`, the devices it saw more recently than this bank
        (event time of their newest reading); returns how many. Open anomalies move with their device (same
        id: continued, not raised again). Idempotent, and a device this bank saw as recently or later keeps
        its own state. Row copies per array, no loop over devices.

        A device's reading count (`seen`) stays this bank's: the gap check starts on an adopted device once it
        sends here, so devices of the other worker that went to a third one are not reported silent."""
        snapshot = self._decode(data)
        theirs_quality = {k: _view(v) for k, v in snapshot.detectors["quality"].items()}
        theirs_last = newest_reading(by_kind(theirs_quality), len(self.context))
        taken = theirs_last > self.quality.newest_reading()
        rows = np.flatnonzero(taken)
        if not len(rows):
            return 0
        for metric, theirs in _by_metric(snapshot.detectors["baseline"]).items():
            self.baseline.state(metric).adopt(theirs, taken)
        self._adopt_pmu({k: _view(v) for k, v in snapshot.detectors["pmu"].items()}, taken)
        self.quality.adopt(theirs_quality, taken)
        for saved in snapshot.channels:
            self._adopt_channel(saved, taken)
        self._adopt_groups(snapshot, taken)
        return len(rows)

    def _decode(self, data: bytes) -> _Snapshot:
        try:
            snapshot = msgspec.msgpack.decode(data, type=_Snapshot)
        except msgspec.DecodeError as exc:
            raise ConfigError(f"detector snapshot is not readable ({exc}); delete it to start cold") from None
        if snapshot.version != SNAPSHOT_VERSION or snapshot.devices != len(self.context):
            raise ConfigError(
                f"detector snapshot is for {snapshot.devices} devices (format {snapshot.version}), this worker "
                f"has {len(self.context)}: the grid model changed; delete the snapshot or replay history"
            )
        return snapshot

    def _adopt_pmu(self, theirs: dict[str, np.ndarray], taken: np.ndarray) -> None:
        if "angle.device" in theirs:
            self.pmu.angle.adopt(
                {k.removeprefix("angle."): v for k, v in theirs.items() if k.startswith("angle.")}, taken
            )
        for prefix, window in (("osc.", self.pmu.oscillation), ("vosc.", self.pmu.voltage_oscillation)):
            if f"{prefix}device" not in theirs:
                continue
            their_device = theirs[f"{prefix}device"].astype(np.int64)
            mine, other = ~taken[window.device], taken[their_device]
            bins = window.values.shape[1]
            window.load({
                "device": np.concatenate([window.device[mine], their_device[other]]),
                "values": np.vstack([window.values[mine], theirs[f"{prefix}values"].reshape(-1, bins)[other]]),
                "bin_no": np.vstack([window.bin_no[mine], theirs[f"{prefix}bin_no"].reshape(-1, bins)[other]]),
            })  # fmt: skip

    def _adopt_channel(self, saved: _ChannelState, taken: np.ndarray) -> None:
        category = "data_quality" if saved.category == "data_quality" else "grid"
        channel = self.lifecycle.channel(
            ChannelSpec(saved.detector, saved.metric, category, saved.min_on_s, saved.min_off_s)
        )
        # an anomaly open here and not there keeps this bank's debounce state, so that it still closes here
        keep_own = np.zeros(len(taken), dtype=bool)
        keep_own[[dev for dev in channel.open if dev not in saved.open]] = True
        channel.adopt({key: _view(array) for key, array in saved.arrays.items()}, taken & ~keep_own)
        for dev, state in saved.open.items():
            if taken[dev] and not keep_own[dev]:
                channel.open[dev] = state
                self.lifecycle.recent.setdefault(state.id, (saved.detector, saved.metric, dev))

    def _adopt_groups(self, snapshot: _Snapshot, taken: np.ndarray) -> None:
        groups = self.lifecycle.zone_groups
        for key, (group, last_start) in snapshot.zone_groups.items():
            if key not in groups or groups[key][1] < last_start:
                groups[key] = (group, last_start)
        recent = self.lifecycle.recent
        for ident, detector, metric, dev in snapshot.recent:
            if taken[dev] and ident not in recent:  # operator feedback on their anomalies reaches this worker
                recent[ident] = (detector, metric, dev)
        while len(recent) > RECENT_IDS:
            recent.popitem(last=False)


def _by_metric(packed: dict[str, _Array]) -> dict[str, dict[str, np.ndarray]]:
    """Snapshot entries "<metric>.<array>" → per metric, its arrays (read-only views)."""
    metrics: dict[str, dict[str, np.ndarray]] = {}
    for key, array in packed.items():
        metric, name = key.rsplit(".", 1)
        metrics.setdefault(metric, {})[name] = _view(array)
    return metrics


def _valid_status(batch: Batch) -> np.ndarray:
    """False where a PMU set C37.118 STAT bit 15 "data invalid" (its location has no voltage)."""
    status = batch.columns.get("status")
    if status is None:
        return np.ones(len(batch), dtype=bool)
    return (np.asarray(status, dtype=np.int64) & PMU_DATA_INVALID) == 0


def _watermark(batch: Batch) -> int:
    """Event time "now" for gap checks: the median of each device's newest reading, so one device with a
    clock running ahead does not make every other device look silent."""
    return int(np.median(batch.ts[group_last(batch.group_start)]))


def _rows(values: Any, rows: np.ndarray) -> Any:
    if isinstance(values, np.ndarray):
        return values[rows]
    return np.asarray(values, dtype=object)[rows]


def _pack(array: np.ndarray) -> _Array:
    contiguous = np.ascontiguousarray(array)
    return _Array(contiguous.dtype.str, tuple(contiguous.shape), contiguous.tobytes())


def _view(packed: _Array) -> np.ndarray:
    """A read-only array over the snapshot's bytes (adopting copies rows out of it, never the whole)."""
    return np.frombuffer(packed.data, dtype=np.dtype(packed.dtype)).reshape(packed.shape)


def _unpack(packed: _Array) -> np.ndarray:
    """A writable copy of a snapshot's array (`_view` reads it in place)."""
    return _view(packed).copy()
