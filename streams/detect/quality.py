"""Data-quality detectors: stuck/flatline values, gaps, out-of-order bursts, impossible jumps, clock skew.

They report `category="data_quality"`: a broken sensor or clock is not a grid event.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from gridmon.detect.columns import Batch, forward_fill, group_last, group_starts, previous_in_group
from gridmon.detect.context import DeviceParams
from gridmon.detect.lifecycle import INFO, MAJOR, NEVER, WARNING, ChannelSpec, Signal
from gridmon.detect.rows import DeviceRows, FieldOf

STUCK_COLUMNS = {"pmu": ("va",), "sensor": ("voltage_v", "temperature_c"), "meter": ("voltage_v",)}
# per-column tables (`<table>.<column>` in a snapshot): dtype and the value of a device without state
TABLE_FRESH: dict[str, tuple[type, Any]] = {
    "value": (np.float64, np.nan),
    "run": (np.int64, 0),
    "since": (np.int64, NEVER),
    "compared": (np.float64, 0.0),
    "repeated": (np.float64, 0.0),
}


class KindState(DeviceRows):
    """Per kind (a device may send several kinds): newest event time, usual interval, last values; a row per
    device that sent the kind (see `DeviceRows`: 225 rows for the PMU kind, not 1.2M), and per-column tables
    (stuck runs, last values for jumps) with the same rows."""

    FIELDS = {
        "last_ts": (0, np.int64, NEVER),
        "seen": (0, np.int64, 0),
        "interval_s": (0, np.float64, np.nan),
        "lag_s": (0, np.float64, np.nan),  # how far behind its peers' event time the device usually is
        "lag_deviation_s": (0, np.float64, 0.0),
    }
    last_ts: np.ndarray
    seen: np.ndarray
    interval_s: np.ndarray
    lag_s: np.ndarray
    lag_deviation_s: np.ndarray

    def __init__(self, devices: int, dense: bool = False) -> None:
        self.now_ns = np.full(1, NEVER, dtype=np.int64)  # event-time "now" of this kind (never goes back)
        self.last_value: dict[str, np.ndarray] = {}
        self.run_length: dict[str, np.ndarray] = {}
        self.run_since: dict[str, np.ndarray] = {}
        self.compared: dict[str, np.ndarray] = {}  # decayed count of consecutive pairs seen
        self.repeated: dict[str, np.ndarray] = {}  # ... of which repeated the exact value
        self._by_device: np.ndarray | None = None  # rows in use, in device order (None: to sort again)
        super().__init__(devices, dense)

    def tables(self) -> dict[str, dict[str, np.ndarray]]:
        return {"value": self.last_value, "run": self.run_length, "since": self.run_since,
                "compared": self.compared, "repeated": self.repeated}  # fmt: skip

    def table(self, name: str, column: str) -> np.ndarray:
        """Table `name` ("run") of `column`, made on first use (fresh for every row in use)."""
        table = self.tables()[name]
        if column not in table:
            dtype, fresh = TABLE_FRESH[name]
            array: np.ndarray = np.zeros(self.capacity, dtype)
            array[: self.size] = fresh
            table[column] = array
        return table[column]

    def rows(self, dev: np.ndarray) -> np.ndarray:
        size = self.size
        row = super().rows(dev)
        if self.size != size:
            self._by_device = None
        return row

    def by_device(self) -> np.ndarray:
        """The rows in use, ordered by device index (sorted again only after devices were added)."""
        if self._by_device is None or len(self._by_device) != self.size:
            self._by_device = np.argsort(self.device[: self.size], kind="stable")
        return self._by_device

    def _allocate(self, capacity: int) -> None:
        for table in self.tables().values():
            for column, array in table.items():
                grown: np.ndarray = np.zeros(capacity, array.dtype)
                grown[: self.size] = array[: self.size]
                table[column] = grown
        super()._allocate(capacity)

    def reset(self, rows: np.ndarray | slice) -> None:
        super().reset(rows)
        for name, table in self.tables().items():
            for array in table.values():
                array[rows] = TABLE_FRESH[name][1]

    def saved(self) -> dict[str, np.ndarray]:
        used = super().saved() | {"now_ns": self.now_ns}
        for name, table in self.tables().items():
            used |= {f"{name}.{column}": array[: self.size] for column, array in table.items()}
        return used

    def load(self, saved: dict[str, np.ndarray]) -> None:
        for table in self.tables().values():
            table.clear()
        super().load(saved)
        self.now_ns[...] = saved["now_ns"]
        for key, array in saved.items():
            if "." in key:
                self.table(*key.split(".", 1))[: self.size] = array
        self._by_device = None

    def adopt(self, theirs: dict[str, np.ndarray], taken: np.ndarray) -> None:
        """Copy in the rows of the `taken` devices (mask over the registry) from another state's `saved()`,
        each field and table they hold, but not `seen` (the gap check starts on an adopted device once it
        sends here); a taken device they hold no row for gets their fresh values. "Now" never goes back."""
        self.now_ns[0] = max(int(self.now_ns[0]), int(theirs["now_ns"][0]))
        their_device = theirs["device"].astype(np.int64)
        moved = taken[their_device]
        rows = self.rows(their_device[moved])  # may grow the arrays: take them after
        they_have = np.zeros(len(taken), dtype=bool)
        they_have[their_device] = True
        own = self.device[: self.size]
        unknown = np.flatnonzero(taken[own] & ~they_have[own])
        for key, array in theirs.items():
            if key in ("device", "now_ns", "seen"):
                continue
            ours = self.table(*key.split(".", 1)) if "." in key else getattr(self, key)
            ours[rows] = array[moved]
            ours[unknown] = TABLE_FRESH[key.split(".", 1)[0]][1] if "." in key else self.FIELDS[key][2]


class QualityDetector:
    """Data-quality checks. `late_rows` runs on arrival order, before the bank sorts by event time."""

    name = "quality"

    def __init__(self, params: DeviceParams) -> None:
        self.config = params.config.default.quality
        self.devices = len(params.class_idx)
        self.kinds: dict[str, KindState] = {}

    def kind_state(self, kind: str) -> KindState:
        if kind not in self.kinds:
            self.kinds[kind] = KindState(self.devices)
        return self.kinds[kind]

    def interval_of(self, kind: str) -> FieldOf:
        """Each device's usual reporting interval of `kind` (s, NaN unknown), indexed by device index."""
        return FieldOf(self.kind_state(kind), "interval_s")

    def newest_reading(self, devices: np.ndarray | None = None) -> np.ndarray:
        """Per device (of `devices` only, when given), the event time of its newest reading of any kind
        (`NEVER` if none)."""
        if devices is None:
            return newest_reading({kind: state.saved() for kind, state in self.kinds.items()}, self.devices)
        newest = np.full(len(devices), NEVER, dtype=np.int64)
        for state in self.kinds.values():
            np.maximum(newest, state.get("last_ts", devices), out=newest)
        return newest

    def spec(self, metric: str, min_off_s: float | None = None, min_on_s: float = 0.0) -> ChannelSpec:
        off = self.config.min_off_s if min_off_s is None else min_off_s
        return ChannelSpec(self.name, metric, "data_quality", min_on_s, off)

    def late_rows(self, kind: str, dev: np.ndarray, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(stale, disordered): stale rows are not newer than what this device sent in earlier batches (the
        bank keeps them out of stateful detectors); disordered also counts rows older than the row before."""
        state = self.kind_state(kind)
        stale = ts <= state.get("last_ts", dev)
        order = np.argsort(dev, kind="stable")  # arrival order within each device
        sorted_ts = ts[order]
        starts = group_starts(dev[order])
        earlier = previous_in_group(sorted_ts, np.full(len(order), NEVER), starts)
        disordered = stale.copy()
        disordered[order] |= sorted_ts < earlier
        return stale, disordered

    def out_of_order(self, kind: str, batch: Batch, late: np.ndarray) -> Iterator[tuple[ChannelSpec, Signal]]:
        """One row per device in the batch: a burst when many of its rows arrived out of event-time order."""
        last = np.flatnonzero(group_last(batch.group_start))
        firsts = batch.group_start[last]
        counts = last - firsts + 1
        late_counts = np.add.reduceat(late.astype(np.int64), firsts) if len(firsts) else counts
        fraction = late_counts / counts
        burst = (late_counts >= self.config.late_min_rows) & (fraction >= self.config.late_fraction)
        devices = batch.device_idx[last]
        level = np.where(burst, INFO, 0).astype(np.int8)
        rows = np.arange(len(devices))
        yield (
            self.spec("out_of_order", min_on_s=self.config.late_min_s),
            Signal(devices, batch.ts[last], rows, level, ~burst, fraction, fraction),
        )

    def signals(self, kind: str, batch: Batch) -> Iterator[tuple[ChannelSpec, Signal]]:
        """Rows here are in event-time order and newer than anything seen (late ones are handled apart)."""
        state = self.kind_state(kind)
        for column in STUCK_COLUMNS.get(kind, ()):
            if column in batch.columns:
                yield self.spec(f"{column}_stuck", 0.0), self._stuck(state, column, batch)
        for column, max_step in self.config.max_step.items():
            if column in batch.columns:
                yield self.spec(f"{column}_jump"), self._jump(state, column, batch, max_step)
        if "sent_ns" in batch.columns:
            yield self.spec("clock_skew"), self._clock(kind, batch)
        if kind == "meter" and "event" in batch.columns:
            yield self.spec("tamper"), self._tamper(batch)

    def _tamper(self, batch: Batch) -> Signal:
        """A meter that reports tampering: its readings cannot be trusted (and energy may be diverted) until it
        reports normally again."""
        tampered = np.asarray(batch.columns["event"], dtype=object) == "tamper"
        level = np.where(tampered, MAJOR, 0).astype(np.int8)
        score = tampered.astype(np.float64)
        return Signal(batch.device_idx, batch.ts, batch.group_start, level, ~tampered, score, score)

    def gaps(self, kind: str) -> Signal:
        """Every known device of a periodic `kind`: silent for longer than its usual lag behind its peers'
        event time by `gap_intervals` of its usual intervals plus its usual jitter? Judging the silence against
        the device's own lag keeps a device whose clock runs behind (its stamps always look old) from
        looking silent, and one whose clock runs ahead from hiding a real gap."""
        state = self.kind_state(kind)
        now_ns = int(state.now_ns[0])
        rows = state.by_device()
        rows = rows[state.seen[rows] >= 5]
        devices = state.device[rows].astype(np.int64)
        lag = np.nan_to_num(state.lag_s[rows], nan=0.0)
        silence = (now_ns - state.last_ts[rows]) / 1e9 - lag
        interval = np.nan_to_num(state.interval_s[rows], nan=1.0)
        allowed = self.config.gap_intervals * interval + self.config.gap_jitter * state.lag_deviation_s[rows]
        limit = np.maximum(allowed, self.config.gap_min_s)
        gap = silence > limit
        n = len(devices)
        return Signal(devices, np.full(n, now_ns, dtype=np.int64), np.arange(n),
                      np.where(gap, WARNING, 0).astype(np.int8), ~gap, silence / limit, silence)  # fmt: skip

    def _stuck(self, state: KindState, column: str, batch: Batch) -> Signal:
        dev, starts, ts = batch.device_idx, batch.group_start, batch.ts
        values = batch.column(column)
        row = state.rows(dev)  # may grow the arrays: take them after
        last_value, run_length = state.table("value", column), state.table("run", column)
        run_since = state.table("since", column)
        previous = previous_in_group(values, last_value[row], starts)
        changed = values != previous  # NaN never equals: an absent value breaks a run
        positions = np.arange(len(dev))
        change_at = forward_fill(changed, positions, np.full(len(dev), -1), starts)
        within = change_at >= 0
        length = np.where(within, positions - change_at + 1, run_length[row] + positions - starts + 1)
        since = forward_fill(changed, ts, run_since[row], starts)
        stuck = length >= self._run_needed(state, column, row)
        self._learn_repeats(state, column, row, values, previous, stuck)
        run_length[row], run_since[row], last_value[row] = length, since, values
        level = np.where(stuck, WARNING, 0).astype(np.int8)
        # a stuck anomaly starts where the value froze: once the run is long enough, that is known
        stamp = np.where(stuck, since, ts)
        return Signal(dev, stamp, starts, level, ~stuck, length.astype(np.float64), values)

    def _run_needed(self, state: KindState, column: str, row: np.ndarray) -> np.ndarray:
        """Run length that this device's own repeat rate p makes as rare as one false alarm per
        `stuck_false_alarm_hours`: p^(L-1) <= interval / (3600 × hours). p is estimated with one pseudo
        repeat and one pseudo change (Laplace), so a young or never-repeating device still needs a few."""
        compared = state.compared.get(column)
        repeated = state.repeated.get(column)
        if compared is None or repeated is None:
            n, r = np.zeros(len(row)), np.zeros(len(row))
        else:
            n, r = compared[row], repeated[row]
        p = (r + 1.0) / (n + 2.0)
        interval = np.nan_to_num(state.interval_s[row], nan=1.0)
        alpha = np.clip(interval / (3600.0 * self.config.stuck_false_alarm_hours), 1e-300, 0.5)
        needed = 1.0 + np.ceil(np.log(alpha) / np.log(p))
        return np.clip(needed, self.config.stuck_min_samples, self.config.stuck_max_samples)

    def _learn_repeats(
        self, state: KindState, column: str, row: np.ndarray, values: np.ndarray, previous: np.ndarray,
        stuck: np.ndarray,
    ) -> None:  # fmt: skip
        """Decayed counts of consecutive pairs and exact repeats per device; pairs inside a run already
        judged stuck are not learned (a fault must not teach that repeating is normal). Only the batch's
        rows change (a device without a pair here keeps its counts), so only they are touched."""
        compared, repeated = state.table("compared", column), state.table("repeated", column)
        used, inverse = np.unique(row, return_inverse=True)
        pair = np.isfinite(values) & np.isfinite(previous) & ~stuck
        pairs = np.bincount(inverse[pair], minlength=len(used)).astype(np.float64)
        repeats = np.bincount(inverse[pair & (values == previous)], minlength=len(used)).astype(np.float64)
        keep = 0.5 ** (pairs / self.config.stuck_memory_samples)
        compared[used] = compared[used] * keep + pairs
        repeated[used] = repeated[used] * keep + repeats

    def _jump(self, state: KindState, column: str, batch: Batch, max_step: float) -> Signal:
        values = batch.column(column)
        row = state.rows(batch.device_idx)  # may grow the arrays: take them after
        last_value = state.table("value", f"jump.{column}")
        previous = previous_in_group(values, last_value[row], batch.group_start)
        step = np.abs(values - previous)
        with np.errstate(invalid="ignore"):
            jump = step > max_step
        seen = np.isfinite(values)
        last_value[row[seen]] = values[seen]
        score = np.nan_to_num(step / max_step)
        return Signal(batch.device_idx, batch.ts, batch.group_start, np.where(jump, WARNING, 0).astype(np.int8),
                      np.isfinite(step) & ~jump, score, values)  # fmt: skip

    def _clock(self, kind: str, batch: Batch) -> Signal:
        sent = np.asarray(batch.columns["sent_ns"], dtype=np.int64)
        known = sent > 0
        skew_s = np.where(known, (batch.ts - sent) / 1e9, 0.0)  # > 0: stamped after it was sent
        ahead = (
            skew_s > self.config.clock_ahead_s
        )  # stamped after it was sent: impossible, whatever the delay
        # lagging is relative to the batch: when every PMU's frames are old (a backlog, a replay after a
        # restart) the transport is late, not the clocks; one PMU far behind its peers has a clock problem
        usual = float(np.median(skew_s[known])) if known.any() else 0.0
        lagging = (kind == "pmu") & (usual - skew_s > self.config.clock_lag_s)
        bad = known & (ahead | lagging)
        return Signal(batch.device_idx, batch.ts, batch.group_start, np.where(bad, WARNING, 0).astype(np.int8),
                      known & ~bad, np.abs(skew_s), skew_s)  # fmt: skip

    def remember(self, kind: str, batch: Batch, watermark_ns: int) -> None:
        """Note what each device sent (newest time, usual interval, usual lag behind its peers' event time
        `watermark_ns`): also frames that carry no measurement."""
        state = self.kind_state(kind)
        state.now_ns[0] = max(int(state.now_ns[0]), watermark_ns)
        if not len(batch):
            return
        self._learn_lag(state, batch, int(state.now_ns[0]))
        last = np.flatnonzero(group_last(batch.group_start))
        firsts = batch.group_start[last]
        rows = state.rows(batch.device_idx[last])
        previous_ts = state.last_ts[rows]
        counts = last - firsts + 1
        span_start = np.where(previous_ts > NEVER, previous_ts, batch.ts[firsts])
        steps = np.where(previous_ts > NEVER, counts, counts - 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            interval = (batch.ts[last] - span_start) / 1e9 / steps
        interval = np.where(steps > 0, interval, np.nan)
        known = state.interval_s[rows]
        interval = np.minimum(
            interval, np.where(np.isnan(known), np.inf, 2.0 * known)
        )  # a gap is not the norm
        blended = np.where(
            np.isnan(known), interval, np.where(np.isnan(interval), known, 0.9 * known + 0.1 * interval)
        )
        state.interval_s[rows] = blended
        state.last_ts[rows] = batch.ts[last]
        state.seen[rows] += counts

    def _learn_lag(self, state: KindState, batch: Batch, now_ns: int) -> None:
        last = np.flatnonzero(group_last(batch.group_start))
        rows = state.rows(batch.device_idx[last])
        lag = (now_ns - batch.ts[last]) / 1e9
        known = state.lag_s[rows]
        fresh = np.isnan(known)
        deviation = np.where(fresh, 0.0, np.abs(lag - known))
        state.lag_deviation_s[rows] = np.where(
            fresh, 0.0, 0.9 * state.lag_deviation_s[rows] + 0.1 * deviation
        )
        state.lag_s[rows] = np.where(fresh, lag, 0.9 * known + 0.1 * lag)

    def state_dict(self) -> dict[str, np.ndarray]:
        """ "<kind>/<field>" (and "<kind>/<table>.<column>") → the rows in use; "<kind>/device" their devices."""
        return {
            f"{kind}/{key}": array
            for kind, state in self.kinds.items()
            for key, array in state.saved().items()
        }

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        for kind, saved in by_kind(state).items():
            self.kind_state(kind).load(saved)

    def adopt(self, theirs: dict[str, np.ndarray], taken: np.ndarray) -> None:
        """Take the state of the `taken` devices (mask over the registry) from another worker's `state_dict()`."""
        for kind, saved in by_kind(theirs).items():
            self.kind_state(kind).adopt(saved, taken)


def by_kind(state: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    """`state_dict()` entries "<kind>/<key>" → per kind, its `KindState.saved()`."""
    kinds: dict[str, dict[str, np.ndarray]] = {}
    for name, array in state.items():
        kind, key = name.split("/", 1)
        kinds.setdefault(kind, {})[key] = array
    return kinds


def newest_reading(kinds: dict[str, dict[str, np.ndarray]], devices: int) -> np.ndarray:
    """Per device, the newest `last_ts` over the kinds' `KindState.saved()` (`NEVER` if none)."""
    newest = np.full(devices, NEVER, dtype=np.int64)
    for saved in kinds.values():
        if "last_ts" in saved:
            their_device = saved["device"].astype(np.int64)  # one row per device: no repeats
            newest[their_device] = np.maximum(newest[their_device], saved["last_ts"])
    return newest
