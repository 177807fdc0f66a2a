"""Per-device adaptive baselines: exponentially weighted mean and variance, scored as a z-score.

Vectorised over a batch: rows are scored against the baseline as it stood at the start of the batch, then
the batch is folded in exactly as River's `stats.EWMean`/`EWVar` would one by one (`clip_z=inf`). The sd has
a floor so a constant signal does not make every small change infinite, and updates are winsorised so that
a fault does not become the new normal within seconds. Scores are unbounded, so they keep their ranking.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from gridmon.detect.columns import (
    Batch,
    forward_fill,
    group_first,
    group_last,
    group_starts,
    previous_in_group,
    rank_in_group,
)
from gridmon.detect.context import DeviceParams
from gridmon.detect.lifecycle import MAJOR, NEVER, WARNING, ChannelSpec, ScaleOf, Signal, graded
from gridmon.detect.rows import DeviceRows, PerDevice

BASELINE_COLUMNS = {
    "pmu": ("freq_hz", "va"),
    "sensor": ("voltage_v", "current_a", "temperature_c", "thd_pct"),
    "meter": ("voltage_v", "kwh"),
    "scada": ("value",),
}

PEER_COLUMNS = ("va", "voltage_v")
STEP_SUFFIX = "_step"  # the change since the device's previous reading of a column: its own baseline
# the step channel learns how heavy each device's tail is: decayed counts of |z| beyond 2.5 and beyond 4 but
# below the warning level (alarms are not evidence of normal behaviour), starting from a Gaussian prior worth
# TAIL_PRIOR_SAMPLES samples and forgetting over TAIL_MEMORY_SAMPLES. The band reaches down to 2.5 because
# the counts are taken below the warning (~6): with 3 and 5, a Student-t(3) device had 0-5 counts in [5, 6)
# after 48 h at one sample a minute, too few for the lower confidence bound to show its tail
TAIL_Z = (2.5, 4.0)
TAIL_GAUSSIAN = (1.2419e-2, 6.3342e-5)  # P(|N(0,1)| > 2.5), P(|N(0,1)| > 4)
TAIL_PRIOR_SAMPLES = 200.0
TAIL_MEMORY_SAMPLES = 20_000.0
# batch means: blocks of 4…256 samples see correlation from a few samples to minutes (1 s sensors), hours
# (1-minute sensors); each block size forgets over this many samples, and one block moves its estimate by at
# most LONG_RUN_CLIP × the estimate (a drift must not teach that drifting is normal within seconds)
BLOCK_SAMPLES = (4, 16, 64, 256)
LONG_RUN_MEMORY_SAMPLES = 2_000.0
LONG_RUN_CLIP = 9.0


# `DeviceRows.FIELDS`: name → (0, or a row per block size; dtype; the value of a device without a baseline)
EWMA_FIELDS: dict[str, tuple[int, type, Any]] = {
    "count": (0, np.int64, 0),
    "shift": (0, np.float64, 0.0),  # first value seen: centring keeps x² small (no cancellation)
    "mean": (0, np.float64, 0.0),
    "square": (0, np.float64, 0.0),
    "interval_s": (0, np.float64, np.nan),
    "cusum_up": (0, np.float64, 0.0),  # one-sided CUSUMs of the standardised value (peer metrics)
    "cusum_down": (0, np.float64, 0.0),
    # long-run variance of z by batch means, one row per block size: the open block's sum and length, and
    # the decayed mean of (block sum)² / block length over finished blocks (1 = white noise)
    "block_sum": (len(BLOCK_SAMPLES), np.float64, 0.0),
    "block_count": (len(BLOCK_SAMPLES), np.int64, 0),
    "long_run_var": (len(BLOCK_SAMPLES), np.float64, 1.0),
    "long_run_blocks": (len(BLOCK_SAMPLES), np.int64, 0),
    # event time of the first reading of the current excursion beyond the clear level (NEVER: inside)
    "excursion_ts": (0, np.int64, NEVER),
    "last_value": (0, np.float64, np.nan),  # newest valid reading (for the step of the next one)
    "last_ts": (0, np.int64, NEVER),
    "tail_samples": (0, np.float64, TAIL_PRIOR_SAMPLES),
    "tail_beyond_low": (0, np.float64, TAIL_PRIOR_SAMPLES * TAIL_GAUSSIAN[0]),
    "tail_beyond_high": (0, np.float64, TAIL_PRIOR_SAMPLES * TAIL_GAUSSIAN[1]),
    "tail_limit": (0, np.float64, np.inf),  # the warning z below which the counts were taken
    "step_alarmed": (0, np.int8, 0),  # the device's newest judged step reached the warning (1) or not (0)
}


class EwmaState(DeviceRows):
    """One metric's baseline per device (a row each, see `DeviceRows`): sample count, centring shift, EW mean
    and EW second moment, and what the step, CUSUM, re-learning and tail checks carry between batches (made
    when a check first uses them). The bank's are compact: `freq_hz` comes from a few hundred PMUs and `kwh`
    from the meters only, and all fields for each of 1.2M registry devices took 276 MB per metric (18)."""

    FIELDS = EWMA_FIELDS
    count: np.ndarray
    shift: np.ndarray
    mean: np.ndarray
    square: np.ndarray
    interval_s: np.ndarray
    cusum_up: np.ndarray
    cusum_down: np.ndarray
    block_sum: np.ndarray
    block_count: np.ndarray
    long_run_var: np.ndarray
    long_run_blocks: np.ndarray
    excursion_ts: np.ndarray
    last_value: np.ndarray
    last_ts: np.ndarray
    tail_samples: np.ndarray
    tail_beyond_low: np.ndarray
    tail_beyond_high: np.ndarray
    tail_limit: np.ndarray
    step_alarmed: np.ndarray

    def std(self, rows: np.ndarray) -> np.ndarray:
        return np.sqrt(np.maximum(self.square[rows] - self.mean[rows] ** 2, 0.0))

    def fold(
        self, rows: np.ndarray, centred: np.ndarray, alpha_of: Callable[[np.ndarray], np.ndarray]
    ) -> None:
        """Apply EW updates of `centred` (rows sorted by device then time) per row, in closed form;
        `alpha_of(used)` gives the alpha of each distinct row folded. Work is per batch row: sums per device by
        `reduceat` over its run of rows, not `bincount` over every row of the state (1M meters)."""
        if not len(rows):
            return
        starts = group_starts(rows)
        first = np.flatnonzero(group_first(starts))
        counts = np.diff(first, append=len(rows))
        used = rows[first]
        n = np.repeat(counts, counts)
        rank = rank_in_group(starts)
        used_alpha = alpha_of(used)
        a = np.repeat(used_alpha, counts)
        keep = 1.0 - a
        fresh = self.count[rows] == 0
        weights = np.where(fresh & (rank == 0), keep ** (n - 1), a * keep ** (n - 1 - rank))
        carried = np.where(self.count[used] == 0, 0.0, (1.0 - used_alpha) ** counts)
        self.mean[used] = carried * self.mean[used] + np.add.reduceat(weights * centred, first)
        self.square[used] = carried * self.square[used] + np.add.reduceat(weights * centred**2, first)
        self.count[used] += counts


class BaselineDetector:
    """Flags readings far from the device's own recent behaviour (sags, swells, spikes, drift, overheating)."""

    name = "baseline"

    def __init__(
        self,
        params: DeviceParams,
        scale_of: ScaleOf | None = None,
        interval_of: Callable[[str], PerDevice] | None = None,
    ) -> None:
        config = params.config.default.baseline
        self.scale_of = scale_of  # feedback: per-device threshold multipliers, owned by the lifecycle
        self.interval_of = interval_of  # kind → each device's usual reporting interval (s, NaN unknown)
        self.params = params
        self.devices = len(params.class_idx)
        self.half_life_s = params.per_class(lambda c: c.baseline.half_life_s)
        self.half_life_min_samples = params.per_class(lambda c: c.baseline.half_life_min_samples)
        self.half_life_max_samples = params.per_class(lambda c: c.baseline.half_life_max_samples)
        self.warmup = params.per_class(lambda c: c.baseline.warmup_samples)
        self.warmup_s = params.per_class(lambda c: c.baseline.warmup_s)
        self.relearn_half_lives = params.per_class(lambda c: c.baseline.relearn_half_lives)
        self.step_hours = params.per_class(lambda c: c.baseline.step_false_alarm_hours)
        self.step_max_gap = params.per_class(lambda c: c.baseline.step_max_gap_intervals)
        self.min_off_samples = params.per_class(lambda c: c.baseline.min_off_samples)
        self.step_learn_tail = params.per_class(lambda c: c.baseline.step_learn_tail).map(lambda v: v > 0)
        self.step_tail_from = params.per_class(lambda c: c.baseline.step_tail_from_samples)
        self.step_warmup = params.per_class(lambda c: c.baseline.step_warmup_samples)
        self.z_levels = params.per_class(lambda c: c.baseline.z_levels)
        self.z_clear = params.per_class(lambda c: c.baseline.z_clear)
        self.clip_z = params.per_class(lambda c: c.baseline.clip_z)
        self.relative_floor = params.per_class(lambda c: c.baseline.relative_floor)
        self.peer_min_devices = params.per_class(lambda c: c.baseline.peer_min_devices)
        self.absolute_floor = dict(config.absolute_floor)
        self.min_on_s, self.min_off_s = config.min_on_s, config.min_off_s
        self.cusum_k, self.cusum_clip_z = config.cusum_k, config.cusum_clip_z
        self.cusum_hours = config.cusum_false_alarm_hours
        self.states: dict[str, EwmaState] = {}
        # the kind's usual reporting interval per device (the gap check learns it across batches), for
        # devices whose baseline has not measured its own (one reading per batch)
        self.kind_interval: PerDevice = np.full(self.devices, np.nan)

    def state(self, metric: str) -> EwmaState:
        if metric not in self.states:
            self.states[metric] = EwmaState(self.devices, dense=False)
        return self.states[metric]

    def spec(self, metric: str) -> ChannelSpec:
        return ChannelSpec(self.name, metric, "grid", self.min_on_s, self.min_off_s)

    def signals(self, kind: str, batch: Batch) -> Iterator[tuple[ChannelSpec, Signal]]:
        self.kind_interval = self._interval(kind)
        for column in BASELINE_COLUMNS.get(kind, ()):
            if column not in batch.columns:
                continue
            values = batch.column(column)
            if kind == "scada":  # only analog points carry a measured value
                values = np.where(np.asarray(batch.columns["event"]) == "analog", values, np.nan)
            if np.isfinite(values).any():
                yield self.spec(column), self.score(column, batch, values)
                yield from self._step_signal(kind, column, batch, values)
            if column in PEER_COLUMNS:
                metric = f"{column}_peer_pu"
                offset = self.learned_offset(metric, batch)
                residual = self.peer_residual(
                    batch, values, None if kind == "pmu" else self._interval(kind), offset
                )
                if np.isfinite(residual).any():
                    interval = self._interval(kind)
                    yield self.spec(f"{metric}_cusum"), self.cusum(metric, batch, residual, interval)
                    yield self.spec(metric), self.score(metric, batch, residual)

    def _step_signal(
        self, kind: str, column: str, batch: Batch, values: np.ndarray
    ) -> Iterator[tuple[ChannelSpec, Signal]]:
        """The change since the device's previous reading, scored against its own baseline: what changes a
        signal's dynamics rather than its level (a burst of jitter, a spike on a season, a step) and what
        no level z-score sees when slow swings set the level's sd."""
        metric = f"{column}{STEP_SUFFIX}"
        interval = self._interval(kind)[batch.device_idx]
        steps = self.steps(metric, batch, values, interval)
        if np.isfinite(steps).any():
            learn_tail = bool(self.step_learn_tail.any())
            dev, starts = batch.device_idx, batch.group_start
            state = self.state(metric)
            levels = self.step_levels(dev, interval, state if learn_tail else None)
            warning = levels[:, 0].copy()
            row = state.rows(dev)
            seen = state.count[row] + rank_in_group(starts)  # steps in the baseline before each row
            levels[self._step_young(state, row, dev, seen, interval)] = np.inf
            signal = self.score(metric, batch, steps, levels=levels)
            if learn_tail:
                settled = seen >= self.step_tail_from[dev]
                _learn_tail(state, state.rows(dev), signal.score, warning, settled, starts)
            yield self.spec(metric), signal

    def _step_young(
        self, state: EwmaState, row: np.ndarray, dev: np.ndarray, seen: np.ndarray, interval: np.ndarray
    ) -> np.ndarray:
        """Rows whose step threshold rests on too little: fewer than `step_warmup_samples` steps (and the
        class's `warmup_s` of event time) in the learned tail, or in the baseline when no tail is learned.
        Judging from the baseline's warm-up raised MIT-BIH's second beat after 10 s: the tail had seen one."""
        learned = np.where(self.step_learn_tail[dev], state.tail_samples[row] - TAIL_PRIOR_SAMPLES, seen)
        seconds = learned * np.nan_to_num(interval, nan=1.0)
        return (learned < self.step_warmup[dev]) | (seconds < self.warmup_s[dev])

    def steps(self, metric: str, batch: Batch, values: np.ndarray, interval: np.ndarray) -> np.ndarray:
        """Per row: value minus the device's previous valid value (carried across batches); NaN for the
        first, for an invalid row, and across a silence longer than `step_max_gap_intervals` usual
        intervals (a change over a gap is not a sample-to-sample change)."""
        state = self.state(metric)
        dev, starts = batch.device_idx, batch.group_start
        row = state.rows(dev)
        valid = np.isfinite(values)
        newest = forward_fill(valid, values, state.last_value[row], starts)
        newest_ts = forward_fill(valid, batch.ts, state.last_ts[row], starts)
        previous = previous_in_group(newest, state.last_value[row], starts)
        previous_ts = previous_in_group(newest_ts, state.last_ts[row], starts)
        state.last_value[row], state.last_ts[row] = newest, newest_ts  # the last row per device wins
        gap_ns = self.step_max_gap[dev] * np.nan_to_num(interval, nan=np.inf) * 1e9
        with np.errstate(invalid="ignore"):
            near = (previous_ts != NEVER) & (batch.ts - previous_ts <= gap_ns)
        return np.where(valid & near, values - previous, np.nan)

    def step_levels(
        self, dev: np.ndarray, interval: np.ndarray, state: EwmaState | None = None
    ) -> np.ndarray:
        """Per row (warning, major, critical) z of the step channel: the Gaussian two-sided quantile for one
        false alarm per `step_false_alarm_hours` at the device's sample rate (≈ 6.1 at 30 samples/s, 5.6 at
        1/s), times the device's learned tail inflation (`tail_inflation`: 1 for Gaussian steps), never
        below the level's warning z; major/critical keep the level's ratios."""
        samples = self.step_hours[dev] * 3600.0 / np.maximum(np.nan_to_num(interval, nan=1.0), 1e-6)
        rate = 1.0 / samples
        warning = gaussian_two_sided_z(rate)
        if state is not None and len(dev):
            devices, row_of = np.unique(dev, return_inverse=True)
            first = np.zeros(len(devices), dtype=np.int64)
            first[row_of[::-1]] = np.arange(len(dev))[::-1]
            rows, learning = state.rows(devices), self.step_learn_tail[devices]
            inflation = np.ones(len(devices))
            if learning.any():  # the fit costs ~1 µs per device: only for the classes that learn a tail
                inflation[learning] = tail_inflation(state, rows[learning], rate[first][learning])
            warning = warning * inflation[row_of]
        warning = np.maximum(warning, self.z_levels[dev, 0])
        return warning[:, None] * self.z_levels[dev] / self.z_levels[dev, :1]

    def _interval(self, kind: str) -> PerDevice:
        if self.interval_of is None:
            return np.full(self.devices, np.nan)
        return self.interval_of(kind)

    def learned_offset(self, metric: str, batch: Batch) -> np.ndarray:
        """Per row: the device's usual peer residual (its level against its zone's), 0 until learned."""
        state = self.state(metric)
        row = state.rows(batch.device_idx)
        return np.where(state.count[row] > 0, state.shift[row] + state.mean[row], 0.0)

    def peer_residual(
        self,
        batch: Batch,
        values: np.ndarray,
        interval: PerDevice | None = None,
        offset: np.ndarray | None = None,
    ) -> np.ndarray:
        """Per-unit value minus the median of its zone at the same instant: what the device does that its
        neighbours do not (a drifting or miscalibrated sensor, a local fault), free of shared load swings.
        The median keeps one faulty neighbour from making the healthy ones look wrong. The median is taken
        over the values less each device's `offset` (its usual level against the zone): devices of a zone sit
        a few % apart (tap positions, line drop: ten times the noise), and without it a device drifting
        through the pack moved the median by the gap between two neighbours' levels, so the healthy
        neighbours looked like they drifted. PMU frames are time-aligned by standard; other devices sample
        on their own phase, so "the same instant" is the same slot of their usual (median learned) interval."""
        pu = values / self.params.nominal_v[batch.device_idx]
        offset = np.zeros(len(pu)) if offset is None else offset
        valid = np.flatnonzero(np.isfinite(pu))
        residual = np.full(len(pu), np.nan)
        if not len(valid):
            return residual
        stamps = batch.ts[valid]
        if interval is not None:
            learned = interval[batch.device_idx[valid]]
            learned = learned[np.isfinite(learned)]
            slot_ns = int(np.median(learned) * 1e9) if len(learned) else 0
            stamps = stamps // slot_ns if slot_ns > 0 else stamps
        _, instant = np.unique(stamps, return_inverse=True)
        key = instant * self.params.zones + self.params.zone_idx[batch.device_idx[valid]]
        level = pu[valid] - offset[valid]
        order = np.lexsort((level, key))
        sorted_key = key[order]
        starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
        counts = np.diff(np.r_[starts, len(order)])
        sorted_level = level[order]
        median = 0.5 * (sorted_level[starts + (counts - 1) // 2] + sorted_level[starts + counts // 2])
        group = np.repeat(np.arange(len(starts)), counts)
        enough = counts[group] >= self.peer_min_devices[batch.device_idx[valid][order]]
        residual[valid[order]] = np.where(enough, pu[valid][order] - median[group], np.nan)
        return residual

    def score(
        self,
        metric: str,
        batch: Batch,
        values: np.ndarray,
        scale: np.ndarray | None = None,
        levels: np.ndarray | None = None,
    ) -> Signal:
        """Score rows against the baseline at batch start, then fold the valid rows into it. `levels`: per
        row (warning, major, critical) z, the class's `z_levels` by default."""
        state = self.state(metric)
        dev = batch.device_idx
        valid = np.isfinite(values)
        z = self._z(metric, state, dev, values)
        if scale is not None:
            scale_rows = scale[dev]
        elif self.scale_of is not None:
            scale_rows = self.scale_of(self.spec(metric), dev)
        else:
            scale_rows = np.ones(len(dev))
        warm = valid & self._warm(state, dev)
        levels = self.z_levels[dev] if levels is None else levels
        reached = (z[:, None] >= levels * scale_rows[:, None]).sum(axis=1)
        # statistics alone never say "critical": that needs a physical limit (see lifecycle severities)
        level = np.minimum(graded(np.where(warm, reached, 0)), MAJOR)
        clear = ~warm | (z < self.z_clear[dev] * scale_rows)
        clear &= valid
        shifted = self._shifted(state, batch, valid, clear)
        self._update(state, batch, values, valid)
        self._relearn(state, shifted, batch, values)
        score = np.where(warm, z, 0.0)
        min_off = np.minimum(self.min_off_s, self.min_off_samples[dev] * self.interval(state, dev))
        return Signal(dev, batch.ts, batch.group_start, level, clear, score, values, min_off)

    def interval(self, state: EwmaState, dev: np.ndarray) -> np.ndarray:
        """Per device, its usual interval (s): measured within batches, else the kind's, else 1 s."""
        return self._interval_at(state, state.rows(dev), dev)

    def _interval_at(self, state: EwmaState, row: np.ndarray, dev: np.ndarray) -> np.ndarray:
        own = state.interval_s[row]
        interval = np.where(np.isnan(own), self.kind_interval[dev], own)
        return np.maximum(np.nan_to_num(interval, nan=1.0), 1e-6)

    def _warm(self, state: EwmaState, dev: np.ndarray) -> np.ndarray:
        """Judged only after `warmup_samples` samples and `warmup_s` of event time (at the usual interval)."""
        row = state.rows(dev)  # before taking an array: making rows may replace them
        count = state.count[row]
        return (count >= self.warmup[dev]) & (count * self.interval(state, dev) >= self.warmup_s[dev])

    def half_life(self, state: EwmaState, dev: np.ndarray) -> np.ndarray:
        """Per device, the memory in event time: `half_life_s`, kept between `half_life_min_samples` and
        `half_life_max_samples` usual intervals."""
        return self._half_life_at(state, state.rows(dev), dev)

    def _half_life_at(self, state: EwmaState, row: np.ndarray, dev: np.ndarray) -> np.ndarray:
        interval = self._interval_at(state, row, dev)
        low, high = self.half_life_min_samples[dev], self.half_life_max_samples[dev]
        return np.clip(self.half_life_s[dev], low * interval, np.maximum(high, low) * interval)

    def _shifted(self, state: EwmaState, batch: Batch, valid: np.ndarray, calm: np.ndarray) -> np.ndarray:
        """Devices whose readings have stayed outside the clear level for `relearn_half_lives` half-lives:
        the new normal (a level shift), not an anomaly that lasts for ever while winsorised updates crawl
        towards it. An excursion starts at its first reading, so a device back from a silence is not
        judged by how long it was away."""
        dev, starts = batch.device_idx, batch.group_start
        row = state.rows(dev)
        prior = state.excursion_ts[row]
        inside = forward_fill(valid, calm, prior == NEVER, starts)
        begins = valid & ~calm & previous_in_group(inside, prior == NEVER, starts)
        since = forward_fill(valid & (calm | begins), np.where(calm, NEVER, batch.ts), prior, starts)
        state.excursion_ts[row] = since  # the last row per device wins
        horizon_ns = self.relearn_half_lives[dev] * self.half_life(state, dev) * 1e9
        stale = valid & (since != NEVER) & (batch.ts - since > horizon_ns)
        return np.unique(dev[stale])

    def _relearn(self, state: EwmaState, devices: np.ndarray, batch: Batch, values: np.ndarray) -> None:
        """Move these devices' baseline mean to their newest reading, keeping the learned spread: the level
        shift is the new normal, so the anomaly closes once readings stay near it; starting from nothing
        would re-learn the spread from a handful of samples and raise false alarms on it."""
        if not len(devices):
            return
        valid = np.isfinite(values)
        newest = forward_fill(valid, values, np.full(len(values), np.nan), batch.group_start)
        batch_rows, rows = state.rows(batch.device_idx), state.rows(devices)
        level = np.full(len(state.count), np.nan)
        level[batch_rows] = newest  # the last row per device wins
        variance = state.std(rows) ** 2
        centred = np.nan_to_num(level[rows] - state.shift[rows], nan=0.0)
        centred = np.where(np.isfinite(level[rows]), centred, state.mean[rows])
        state.mean[rows] = centred
        state.square[rows] = centred**2 + variance
        if state.has("cusum_up"):  # made by the CUSUM of peer metrics only (else every row is 0)
            state.cusum_up[rows] = state.cusum_down[rows] = 0.0
        state.excursion_ts[rows] = NEVER

    def cusum(self, metric: str, batch: Batch, values: np.ndarray, interval: PerDevice) -> Signal:
        """Two one-sided CUSUMs of the value standardised by the baseline at batch start (not updated here:
        `score` folds the batch in afterwards). Raises a warning when either reaches the device's h."""
        state = self.state(metric)
        dev, starts = batch.device_idx, batch.group_start
        row = state.rows(dev)
        valid = np.isfinite(values)
        warm = valid & (state.count[row] >= self.warmup[dev])
        with np.errstate(invalid="ignore"):
            z = (values - state.shift[row] - state.mean[row]) / self._sd(metric, state, dev)
        z = np.clip(np.where(warm, z, 0.0), -self.cusum_clip_z, self.cusum_clip_z)
        z = z / self._inflation(state, row, z, warm)
        k = self.cusum_k
        up = _lindley(np.where(warm, z - k, -k), state.cusum_up[row], starts)
        down = _lindley(np.where(warm, -z - k, -k), state.cusum_down[row], starts)
        state.cusum_up[row], state.cusum_down[row] = up, down  # the last row per device wins
        level_h = self._cusum_h(interval[dev])
        statistic = np.maximum(up, down)
        level = np.where(warm & (statistic >= level_h), WARNING, 0).astype(np.int8)
        clear = valid & (statistic < 0.5 * level_h)
        return Signal(dev, batch.ts, starts, level, clear, statistic / level_h, values)

    def _inflation(self, state: EwmaState, row: np.ndarray, z: np.ndarray, warm: np.ndarray) -> np.ndarray:
        """Per row, sqrt of the long-run variance of z (state at batch start, at least 1): a sum of
        correlated readings wanders that much further than one of independent ones, so without it any
        slowly wandering signal would look like a drift. Estimated by batch means at several block sizes
        (the largest wins): the lag-1 autocorrelation alone understated it for a slow wander mixed with
        white noise. Finished blocks are learned afterwards."""
        inflation = np.sqrt(np.maximum(state.long_run_var[:, row].max(axis=0), 1.0))
        judged = np.flatnonzero(warm)
        for scale, size in enumerate(BLOCK_SAMPLES):
            _learn_blocks(state, scale, size, row[judged], z[judged])
        return inflation

    def _cusum_h(self, interval: np.ndarray) -> np.ndarray:
        # Siegmund: in-control ARL ≈ exp(2k(h + 1.166)) / (2k²) for unit-variance increments
        interval = np.nan_to_num(interval, nan=1.0)
        samples = self.cusum_hours * 3600.0 / np.maximum(interval, 1e-3)
        k = self.cusum_k
        return np.maximum(np.log(2 * k * k * samples) / (2 * k) - 1.166, 1.0)

    def _sd(self, metric: str, state: EwmaState, dev: np.ndarray) -> np.ndarray:
        row = state.rows(dev)
        if metric.endswith(STEP_SUFFIX):  # a step has its column's unit and resolution
            metric = metric.removesuffix(STEP_SUFFIX)
            level_state = self.state(metric)
            level_row = level_state.rows(dev)
            level = np.abs(level_state.mean[level_row] + level_state.shift[level_row])
        else:
            level = np.abs(state.mean[row] + state.shift[row])
        floor = np.maximum(self.absolute_floor.get(metric, 1e-6), self.relative_floor[dev] * level)
        return np.maximum(state.std(row), floor)

    def _z(self, metric: str, state: EwmaState, dev: np.ndarray, values: np.ndarray) -> np.ndarray:
        row = state.rows(dev)
        with np.errstate(invalid="ignore"):
            z = np.abs(values - state.shift[row] - state.mean[row]) / self._sd(metric, state, dev)
        return np.where(np.isfinite(z), z, 0.0)

    def _update(self, state: EwmaState, batch: Batch, values: np.ndarray, valid: np.ndarray) -> None:
        dev, ts, x = batch.device_idx[valid], batch.ts[valid], values[valid]
        if not len(dev):
            return
        row = state.rows(dev)
        fresh_first = (state.count[row] == 0) & group_first(group_starts(dev))
        state.shift[row[fresh_first]] = x[fresh_first]
        centred = x - state.shift[row]
        sd = state.std(row)
        clip = self.clip_z[dev] * np.maximum(sd, 1e-12)
        warm = self._warm(state, dev)
        centred = np.where(warm, np.clip(centred, state.mean[row] - clip, state.mean[row] + clip), centred)
        self._learn_interval(state, row, ts)
        state.fold(row, centred, lambda used: self._alpha(state, used))

    def _learn_interval(self, state: EwmaState, row: np.ndarray, ts: np.ndarray) -> None:
        starts = group_starts(row)
        last = np.flatnonzero(group_last(starts))
        first = starts[last]
        many = last > first
        last, first = last[many], first[many]
        interval = (ts[last] - ts[first]) / 1e9 / (last - first)
        learned = row[last]
        known = state.interval_s[learned]
        state.interval_s[learned] = np.where(np.isnan(known), interval, 0.9 * known + 0.1 * interval)

    def _alpha(self, state: EwmaState, used: np.ndarray) -> np.ndarray:
        """Per row of `used` (the rows a batch folds, each once): a batch of ten meters must not cost a pass
        over the million rows of a meter metric."""
        # half-life is in event time: a 30 frame/s PMU and a 15-minute sensor forget over the same horizon;
        # while young, a plain running mean (1/count), else the first value would dominate for a long time
        dev = state.device[used]
        alpha = 1.0 - 0.5 ** (self._interval_at(state, used, dev) / self._half_life_at(state, used, dev))
        return np.maximum(alpha, 1.0 / (state.count[used] + 2.0))


def gaussian_two_sided_z(probability: np.ndarray) -> np.ndarray:
    """z with P(|N(0,1)| > z) = probability, for small probabilities (asymptotic inverse of the Gaussian
    tail; within 0.02 of the exact value below 1e-4, e.g. 6.11 for 1e-9)."""
    tail = -2.0 * np.log(np.clip(probability, 1e-300, 1e-4) / 2.0)
    return np.sqrt(tail - np.log(tail) - np.log(2.0 * np.pi))


def _power_tail_z(beyond_low: np.ndarray, beyond_high: np.ndarray, rate: np.ndarray) -> np.ndarray:
    """z where a power-law tail through the two exceedance rates reaches `rate`."""
    exponent = np.clip(np.log(beyond_low / beyond_high) / np.log(TAIL_Z[1] / TAIL_Z[0]), 1.0, 50.0)
    return TAIL_Z[0] * np.maximum(beyond_low / rate, 1.0) ** (1.0 / exponent)


def _truncated_exponent(ratio: np.ndarray, limit: np.ndarray) -> np.ndarray:
    """ν of a power-law tail P(|z| > x) ∝ x^-ν whose counts in [2.5, w) and [4, w) (`TAIL_Z`) have this ratio (bisection;
    w = inf is the plain two-point fit). Runs per device and batch (50,000 meters in one head-end burst): powers
    as `exp` of precomputed logs (3× cheaper than `**`), and 26 halvings of [1, 50] leave ν within 1e-6."""
    log_low, log_high, log_limit = np.log(TAIL_Z[0]), np.log(TAIL_Z[1]), np.log(limit)
    low, high = np.full(len(ratio), 1.0), np.full(len(ratio), 50.0)
    for _ in range(26):
        middle = 0.5 * (low + high)
        top = np.exp(-middle * log_limit)
        modelled = (np.exp(-middle * log_low) - top) / np.maximum(np.exp(-middle * log_high) - top, 1e-300)
        heavier = modelled > ratio  # the ratio grows with ν: the tail is heavier than `middle`
        high, low = np.where(heavier, middle, high), np.where(heavier, low, middle)
    return 0.5 * (low + high)


def tail_inflation(state: EwmaState, rows: np.ndarray, rate: np.ndarray) -> np.ndarray:
    """How much further out than a Gaussian's the device's steps reach the false-alarm `rate` (per row of
    the state, at least 1). The device's tail is a power law fitted to its counts beyond 2.5 and 4 sd below
    the warning level it had then; a Gaussian's is the same power-law extrapolation of its own rates, so
    Gaussian steps give 1. Heavy-tailed noise (Student-t with 3 degrees of freedom: ~7 after 5,000 samples
    at one sample a minute) would otherwise cross a Gaussian threshold every few hundred samples."""
    samples = state.tail_samples[rows]
    # the tail is heavier than a Gaussian's only as far as the counts show it (95 % lower bound): with the
    # point estimate, one step of 5.1 sd in 850 made Yahoo's threshold 6 → 354 and hid the spike whose own
    # return it was
    beyond_low = np.maximum(_poisson_lower(state.tail_beyond_low[rows]), samples * TAIL_GAUSSIAN[0]) / samples
    beyond_high = (
        np.maximum(_poisson_lower(state.tail_beyond_high[rows]), samples * TAIL_GAUSSIAN[1]) / samples
    )
    beyond_low = np.maximum(beyond_low, 1e-12)
    beyond_high = np.clip(beyond_high, 1e-15, beyond_low * 0.999)
    limit = np.maximum(state.tail_limit[rows], TAIL_Z[1] + 0.5)
    exponent = _truncated_exponent(beyond_low / beyond_high, limit)
    scale = beyond_high / np.maximum(
        TAIL_Z[1] ** -exponent - limit**-exponent, 1e-300
    )  # P(|z| > x) = scale x^-ν
    own = np.maximum(scale / rate, 1.0) ** (1.0 / exponent)
    gaussian = _power_tail_z(np.full(len(rows), TAIL_GAUSSIAN[0]), np.full(len(rows), TAIL_GAUSSIAN[1]), rate)
    return np.maximum(own / gaussian, 1.0)


def _poisson_lower(count: np.ndarray) -> np.ndarray:
    """One-sided 95 % lower confidence bound of a Poisson mean seen as `count` events (Wilson–Hilferty;
    0.05 for one event, 2.0 for five, 5.4 for ten)."""
    k = np.maximum(count, 1e-12)
    return k * np.maximum(1.0 - 1.0 / (9.0 * k) - 1.645 / (3.0 * np.sqrt(k)), 0.0) ** 3


def _learn_tail(
    state: EwmaState,
    dev: np.ndarray,
    z: np.ndarray,
    warning: np.ndarray,
    settled: np.ndarray | None = None,
    group_start: np.ndarray | None = None,
) -> None:
    """Fold a batch's judged rows (z > 0: warm) below the warning level into the decayed exceedance counts,
    per device (`dev`: its row of the state, here and in the helpers below, as in `EwmaState.fold`): the
    tail of normal behaviour, extrapolated beyond the warning by `tail_inflation` (a fault's steps would
    teach that faults are normal: on a short series, one alarm made the channel deaf). Rows not `settled`
    (a young baseline) and the step right after an alarm (a spike's way back) are not learned either."""
    settled = np.ones(len(dev), dtype=bool) if settled is None else settled
    group_start = group_starts(dev) if group_start is None else group_start
    alarmed = (z >= warning).astype(np.int8)
    after_alarm = previous_in_group(alarmed, state.step_alarmed[dev], group_start) > 0
    state.step_alarmed[dev[z > 0]] = alarmed[z > 0]  # the last judged row per device wins
    judged = (z > 0) & (z < warning) & settled & ~after_alarm
    rows, values = dev[judged], z[judged]
    if not len(rows):
        return
    # sums per device over its run of rows: per batch row, not per row of the state (1M meters)
    first = np.flatnonzero(group_first(group_starts(rows)))
    devices, samples = rows[first], np.diff(first, append=len(rows))
    keep = 0.5 ** (samples / TAIL_MEMORY_SAMPLES)
    for counts, limit in ((state.tail_beyond_low, TAIL_Z[0]), (state.tail_beyond_high, TAIL_Z[1])):
        beyond = np.add.reduceat((values >= limit).astype(np.float64), first)
        counts[devices] = counts[devices] * keep + beyond
    state.tail_samples[devices] = state.tail_samples[devices] * keep + samples
    state.tail_limit[rows] = warning[judged]  # the last row per device wins


def _learn_blocks(state: EwmaState, scale: int, size: int, dev: np.ndarray, z: np.ndarray) -> None:
    """Cut each device's z (rows sorted by device, then time) into blocks of `size` samples, carrying the
    open block across batches, and fold every finished block's (sum)² / size into the long-run variance."""
    if not len(dev):
        return
    starts = group_starts(dev)
    position = state.block_count[scale, dev] + rank_in_group(starts)
    block = position // size
    first = np.r_[True, (dev[1:] != dev[:-1]) | (block[1:] != block[:-1])]
    bounds = np.flatnonzero(first)
    sums = np.add.reduceat(z, bounds)
    seg_dev, seg_block = dev[bounds], block[bounds]
    sums += np.where(seg_block == 0, state.block_sum[scale, seg_dev], 0.0)  # the block carried over
    ends = np.r_[bounds[1:], len(dev)] - 1
    finished = position[ends] % size == size - 1
    done_dev = seg_dev[finished]
    variance = sums[finished] ** 2 / size
    prior = state.long_run_var[scale, done_dev]
    variance = np.minimum(variance, LONG_RUN_CLIP * prior)
    # sequentially per finished block: v ← v + w (c - v), w = max(forgetting, 1 / (blocks seen + 2)): a
    # running mean while young (the white-noise prior counts as one block, so a slow wander is learned
    # within a few blocks instead of dozens), then exponential forgetting
    forget = 1.0 - 0.5 ** (size / LONG_RUN_MEMORY_SAMPLES)
    order = np.arange(len(done_dev)) - group_starts(done_dev) if len(done_dev) else done_dev
    seen_before = state.long_run_blocks[scale, done_dev] + order
    weight = np.maximum(forget, 1.0 / (seen_before + 2.0))
    _fold_sequential(state.long_run_var[scale], done_dev, variance, weight)
    finished_devices, blocks = np.unique(done_dev, return_counts=True)  # not a pass over every row
    state.long_run_blocks[scale, finished_devices] += blocks
    last = ends[group_last(starts)[ends]]
    last_dev, open_block = dev[last], ~(position[last] % size == size - 1)
    state.block_sum[scale, last_dev] = np.where(
        open_block, sums[np.searchsorted(bounds, last, "right") - 1], 0.0
    )
    state.block_count[scale, last_dev] = np.where(open_block, position[last] % size + 1, 0)


def _fold_sequential(target: np.ndarray, dev: np.ndarray, values: np.ndarray, weight: np.ndarray) -> None:
    """target[d] ← target[d] + w (x - target[d]) for each (d, x, w) in order (rows sorted by device), in
    closed form: the result is Π(1 - w) target + Σ w_j x_j Π_{i>j}(1 - w_i) per device."""
    if not len(dev):
        return
    starts = group_starts(dev)
    log_keep = np.log1p(-np.minimum(weight, 1.0 - 1e-12))
    total = np.cumsum(log_keep)
    after = np.bincount(dev, log_keep, len(target))[dev] - (
        total - np.cumsum(log_keep)[starts] + log_keep[starts]
    )
    contribution = np.bincount(dev, weight * values * np.exp(after), len(target))
    devices = np.unique(dev)
    target[devices] = np.exp(np.bincount(dev, log_keep, len(target))[devices]) * target[devices]
    target[devices] += contribution[devices]


def _lindley(steps: np.ndarray, prior: np.ndarray, group_start: np.ndarray) -> np.ndarray:
    """S_t = max(0, S_{t-1} + steps_t) per device group (rows sorted by device), from `prior` per row, in
    closed form: S_t = C_t - min(-S_0, min_{s<=t} C_s) with C the group's cumulative sum."""
    n = len(steps)
    if not n:
        return steps.copy()
    total = np.cumsum(steps)
    cumulative = total - (total[group_start] - steps[group_start])
    group = np.cumsum(group_start == np.arange(n))
    span = float(np.ptp(cumulative)) + float(np.max(prior[group_start == np.arange(n)], initial=0.0)) + 1.0
    # later groups are shifted below every earlier one, so one running minimum never crosses a group
    shifted = np.minimum(cumulative, -prior) - group * span
    running = np.minimum.accumulate(shifted) + group * span
    return np.maximum(cumulative - running, 0.0)
