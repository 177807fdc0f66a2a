"""Data-quality detectors: stuck/flatline values, gaps, out-of-order bursts, impossible jumps, clock skew.

They report `category="data_quality"`: a broken sensor or clock is not a grid event.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from gridmon.detect.columns import Batch, forward_fill, group_last, group_starts, previous_in_group
from gridmon.detect.context import DeviceParams
from gridmon.detect.lifecycle import INFO, MAJOR, NEVER, WARNING, ChannelSpec, Signal

STUCK_COLUMNS = {"pmu": ("va",), "sensor": ("voltage_v", "temperature_c"), "meter": ("voltage_v",)}
SCALAR_STATE = ("last_ts", "seen", "interval_s", "lag_s", "lag_deviation_s", "now_ns")


class KindState:
    """Per kind (a device may send several kinds): newest event time, usual interval, last values."""

    def __init__(self, devices: int) -> None:
        self.last_ts = np.full(devices, NEVER, dtype=np.int64)
        self.seen = np.zeros(devices, dtype=np.int64)
        self.interval_s = np.full(devices, np.nan)
        self.lag_s = np.full(devices, np.nan)  # how far behind its peers' event time the device usually is
        self.lag_deviation_s = np.zeros(devices)
        self.now_ns = np.full(1, NEVER, dtype=np.int64)  # event-time "now" of this kind (never goes back)
        self.last_value: dict[str, np.ndarray] = {}
        self.run_length: dict[str, np.ndarray] = {}
        self.run_since: dict[str, np.ndarray] = {}
        self.compared: dict[str, np.ndarray] = {}  # decayed count of consecutive pairs seen
        self.repeated: dict[str, np.ndarray] = {}  # ... of which repeated the exact value

    def tables(self) -> dict[str, dict[str, np.ndarray]]:
        return {"value": self.last_value, "run": self.run_length, "since": self.run_since,
                "compared": self.compared, "repeated": self.repeated}  # fmt: skip

    def state_dict(self) -> dict[str, np.ndarray]:
        state = {key: getattr(self, key) for key in SCALAR_STATE}
        for name, table in self.tables().items():
            state |= {f"{name}.{metric}": array for metric, array in table.items()}
        return state


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

    def spec(self, metric: str, min_off_s: float | None = None, min_on_s: float = 0.0) -> ChannelSpec:
        off = self.config.min_off_s if min_off_s is None else min_off_s
        return ChannelSpec(self.name, metric, "data_quality", min_on_s, off)

    def late_rows(self, kind: str, dev: np.ndarray, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(stale, disordered): stale rows are not newer than what this device sent in earlier batches (the
        bank keeps them out of stateful detectors); disordered also counts rows older than the row before."""
        state = self.kind_state(kind)
        stale = ts <= state.last_ts[dev]
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
        devices = np.flatnonzero(state.seen >= 5)
        lag = np.nan_to_num(state.lag_s[devices], nan=0.0)
        silence = (now_ns - state.last_ts[devices]) / 1e9 - lag
        interval = np.nan_to_num(state.interval_s[devices], nan=1.0)
        allowed = (
            self.config.gap_intervals * interval + self.config.gap_jitter * state.lag_deviation_s[devices]
        )
        limit = np.maximum(allowed, self.config.gap_min_s)
        gap = silence > limit
        n = len(devices)
        return Signal(devices, np.full(n, now_ns, dtype=np.int64), np.arange(n),
                      np.where(gap, WARNING, 0).astype(np.int8), ~gap, silence / limit, silence)  # fmt: skip

    def _stuck(self, state: KindState, column: str, batch: Batch) -> Signal:
        dev, starts, ts = batch.device_idx, batch.group_start, batch.ts
        values = batch.column(column)
        last_value = state.last_value.setdefault(column, np.full(self.devices, np.nan))
        run_length = state.run_length.setdefault(column, np.zeros(self.devices, dtype=np.int64))
        run_since = state.run_since.setdefault(column, np.full(self.devices, NEVER, dtype=np.int64))
        previous = previous_in_group(values, last_value[dev], starts)
        changed = values != previous  # NaN never equals: an absent value breaks a run
        positions = np.arange(len(dev))
        change_at = forward_fill(changed, positions, np.full(len(dev), -1), starts)
        within = change_at >= 0
        length = np.where(within, positions - change_at + 1, run_length[dev] + positions - starts + 1)
        since = forward_fill(changed, ts, run_since[dev], starts)
        stuck = length >= self._run_needed(state, column, dev)
        self._learn_repeats(state, column, dev, values, previous, stuck)
        run_length[dev], run_since[dev], last_value[dev] = length, since, values
        level = np.where(stuck, WARNING, 0).astype(np.int8)
        # a stuck anomaly starts where the value froze: once the run is long enough, that is known
        stamp = np.where(stuck, since, ts)
        return Signal(dev, stamp, starts, level, ~stuck, length.astype(np.float64), values)

    def _run_needed(self, state: KindState, column: str, dev: np.ndarray) -> np.ndarray:
        """Run length that this device's own repeat rate p makes as rare as one false alarm per
        `stuck_false_alarm_hours`: p^(L-1) <= interval / (3600 × hours). p is estimated with one pseudo
        repeat and one pseudo change (Laplace), so a young or never-repeating device still needs a few."""
        compared = state.compared.get(column)
        repeated = state.repeated.get(column)
        if compared is None or repeated is None:
            n, r = np.zeros(len(dev)), np.zeros(len(dev))
        else:
            n, r = compared[dev], repeated[dev]
        p = (r + 1.0) / (n + 2.0)
        interval = np.nan_to_num(state.interval_s[dev], nan=1.0)
        alpha = np.clip(interval / (3600.0 * self.config.stuck_false_alarm_hours), 1e-300, 0.5)
        needed = 1.0 + np.ceil(np.log(alpha) / np.log(p))
        return np.clip(needed, self.config.stuck_min_samples, self.config.stuck_max_samples)

    def _learn_repeats(
        self, state: KindState, column: str, dev: np.ndarray, values: np.ndarray, previous: np.ndarray,
        stuck: np.ndarray,
    ) -> None:  # fmt: skip
        """Decayed counts of consecutive pairs and exact repeats per device; pairs inside a run already
        judged stuck are not learned (a fault must not teach that repeating is normal)."""
        compared = state.compared.setdefault(column, np.zeros(self.devices))
        repeated = state.repeated.setdefault(column, np.zeros(self.devices))
        pair = np.isfinite(values) & np.isfinite(previous) & ~stuck
        pairs = np.bincount(dev[pair], minlength=self.devices).astype(np.float64)
        repeats = np.bincount(dev[pair & (values == previous)], minlength=self.devices).astype(np.float64)
        keep = 0.5 ** (pairs / self.config.stuck_memory_samples)
        compared *= keep
        compared += pairs
        repeated *= keep
        repeated += repeats

    def _jump(self, state: KindState, column: str, batch: Batch, max_step: float) -> Signal:
        values = batch.column(column)
        key = f"jump.{column}"
        last_value = state.last_value.setdefault(key, np.full(self.devices, np.nan))
        previous = previous_in_group(values, last_value[batch.device_idx], batch.group_start)
        step = np.abs(values - previous)
        with np.errstate(invalid="ignore"):
            jump = step > max_step
        seen = np.isfinite(values)
        last_value[batch.device_idx[seen]] = values[seen]
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
        devices = batch.device_idx[last]
        previous_ts = state.last_ts[devices]
        counts = last - firsts + 1
        span_start = np.where(previous_ts > NEVER, previous_ts, batch.ts[firsts])
        steps = np.where(previous_ts > NEVER, counts, counts - 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            interval = (batch.ts[last] - span_start) / 1e9 / steps
        interval = np.where(steps > 0, interval, np.nan)
        known = state.interval_s[devices]
        interval = np.minimum(
            interval, np.where(np.isnan(known), np.inf, 2.0 * known)
        )  # a gap is not the norm
        blended = np.where(
            np.isnan(known), interval, np.where(np.isnan(interval), known, 0.9 * known + 0.1 * interval)
        )
        state.interval_s[devices] = blended
        state.last_ts[devices] = batch.ts[last]
        state.seen[devices] += counts

    def _learn_lag(self, state: KindState, batch: Batch, now_ns: int) -> None:
        last = np.flatnonzero(group_last(batch.group_start))
        devices = batch.device_idx[last]
        lag = (now_ns - batch.ts[last]) / 1e9
        known = state.lag_s[devices]
        fresh = np.isnan(known)
        deviation = np.where(fresh, 0.0, np.abs(lag - known))
        state.lag_deviation_s[devices] = np.where(
            fresh, 0.0, 0.9 * state.lag_deviation_s[devices] + 0.1 * deviation
        )
        state.lag_s[devices] = np.where(fresh, lag, 0.9 * known + 0.1 * lag)

    def state_dict(self) -> dict[str, np.ndarray]:
        return {
            f"{kind}/{key}": array
            for kind, state in self.kinds.items()
            for key, array in state.state_dict().items()
        }

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        for name, array in state.items():
            kind, key = name.split("/", 1)
            kind_state = self.kind_state(kind)
            if key in SCALAR_STATE:
                getattr(kind_state, key)[...] = array
                continue
            table_name, metric = key.split(".", 1)
            kind_state.tables()[table_name][metric] = array.copy()
