"""Score one univariate (or few-channel) series through the real `DetectorBank`, presented as a sensor, and
score the anomalies it raises against labelled windows (event-wise precision, recall, latency).

Units: a series in arbitrary units is shown to the bank as a sensor's `voltage_v` channel with an unknown
nominal voltage (NaN), so the only unit-bound checks (ANSI C84.1 limits, interruption, zone peers) skip it by
their own rules, and no temperature, THD or loading limit can apply. What runs is unit-free: the per-device
EWMA z-score baseline, the stuck/flatline check and the gap check. Each channel is centred and scaled by
its first `warmup_samples` readings (causal: nothing later is looked at) and multiplied by `UNIT_SCALE`, so
that the baseline's sd floors (0.05 V absolute, 0.01 % of the level) sit far below the series' own noise;
z-scores and exact-repeat runs do not change under such an affine map.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import msgspec
import numpy as np

from gridmon.detect.bank import DetectorBank
from gridmon.detect.config import BankConfig
from gridmon.detect.context import DeviceContext
from gridmon.detect.lifecycle import ChannelSpec, Signal
from gridmon.errors import SchemaError
from gridmon.records import Anomaly
from gridmon.timeparse import is_number, iso_to_ns, seconds_to_ns

SERIES_KIND = "sensor"
SERIES_COLUMN = "voltage_v"  # a sensor channel whose unit-bound checks all need a nominal voltage
METRIC_NAMES = {
    SERIES_COLUMN: "value",
    f"{SERIES_COLUMN}_stuck": "value_stuck",
    f"{SERIES_COLUMN}_step": "value_step",
}
UNIT_SCALE = 1000.0
EPOCH_NS = 1_577_836_800 * 10**9  # 2020-01-01 UTC: numeric timestamps (seconds, or 0, 1, 2 …) count from here
TIME_COLUMNS = ("timestamp", "time", "ts", "datetime", "date")
LABEL_COLUMNS = ("label", "is_anomaly", "anomaly", "labels")


class SeriesError(SchemaError):
    """A series file does not follow `timestamp,value[,label]` (or `value[,label]` with an interval)."""


@dataclass(frozen=True)
class Series:
    """Samples in event-time order: `values` is (samples, channels); `labels` True inside an incident."""

    name: str
    ts_ns: np.ndarray
    values: np.ndarray
    labels: np.ndarray | None = None
    channels: tuple[str, ...] = ("value",)

    def __post_init__(self) -> None:
        if self.values.ndim != 2 or self.values.shape[1] != len(self.channels):
            raise SeriesError(f"{self.name}: values must be (samples, {len(self.channels)} channels)")
        if len(self.ts_ns) != len(self.values) or len(self.ts_ns) < 2:
            raise SeriesError(f"{self.name}: need at least 2 samples with one timestamp each")
        steps = np.diff(self.ts_ns)
        if (steps <= 0).any():
            row = int(np.flatnonzero(steps <= 0)[0]) + 1
            raise SeriesError(
                f"{self.name}: timestamps must increase; sample {row} is not after the one before"
            )
        if self.labels is not None and len(self.labels) != len(self.ts_ns):
            raise SeriesError(f"{self.name}: one label per sample is needed")

    def __len__(self) -> int:
        return len(self.ts_ns)

    @property
    def interval_s(self) -> float:
        return float(np.median(np.diff(self.ts_ns))) / 1e9


@dataclass(frozen=True)
class SeriesResult:
    """What the bank made of a series: the newest version of each anomaly (metric named after the series,
    value in the series' units), per-sample flags and per-detector scores, and when each was first emitted."""

    series: Series
    anomalies: list[Anomaly]
    flags: np.ndarray  # per sample: inside a raised anomaly of any channel
    scores: dict[str, np.ndarray]  # "detector/metric" → per-sample score (max over channels)
    raised_ns: dict[str, int]  # anomaly id → event time of the batch that first emitted it
    centre: np.ndarray
    scale: np.ndarray

    def events(self) -> list[tuple[int, int, int]]:
        """(start_ns, end_ns, raised_ns) of each raised anomaly; an anomaly still open ends at the last sample."""
        return raised_events(self.anomalies, self.raised_ns, int(self.series.ts_ns[-1]))


def raised_events(
    anomalies: Sequence[Anomaly], raised_ns: dict[str, int], last_ns: int
) -> list[tuple[int, int, int]]:
    return [
        (a.start_ns, a.end_ns if a.end_ns is not None else last_ns, raised_ns.get(a.id, a.start_ns))
        for a in anomalies
        if a.state != "suppressed"
    ]


@dataclass
class _Recorder:
    """Per (detector, metric): the rows of every signal the bank's detectors produced."""

    rows: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = field(default_factory=dict)

    def tee(self, signals: Iterator[tuple[ChannelSpec, Signal]]) -> Iterator[tuple[ChannelSpec, Signal]]:
        for spec, signal in signals:
            key = f"{spec.detector}/{METRIC_NAMES.get(spec.metric, spec.metric)}"
            self.rows.setdefault(key, []).append((signal.device_idx, signal.ts, signal.score))
            yield spec, signal


class _ObservedBank(DetectorBank):
    """The real bank; only watches the per-reading signals on their way to the lifecycle, for scores."""

    def __init__(self, config: BankConfig, context: DeviceContext) -> None:
        super().__init__(config, context)
        self.recorder = _Recorder()

    def _apply(self, name: str, signals: Iterator[tuple[ChannelSpec, Signal]]) -> list[Anomaly]:
        return super()._apply(name, self.recorder.tee(signals))


def score_series(series: Series, config: BankConfig | None = None, batch_s: float = 1.0) -> SeriesResult:
    """Feed `series` through a `DetectorBank` in batches of `batch_s` of event time (the pipeline's cadence;
    at least one sample each), one device per channel, and collect what it raises."""
    config = config or BankConfig()
    bank = _ObservedBank(config, series_context(series))
    centre, scale = _normalisation(series.values, config.default.baseline.warmup_samples)
    scaled = (series.values - centre) / scale * UNIT_SCALE
    newest: dict[str, Anomaly] = {}
    raised: dict[str, int] = {}
    for rows in _batches(series.ts_ns, batch_s):
        for anomaly in bank.process(SERIES_KIND, _columns(series.ts_ns[rows], scaled[rows])):
            raised.setdefault(anomaly.id, int(series.ts_ns[rows][-1]))
            newest[anomaly.id] = anomaly
    anomalies = sorted(
        (_in_series_units(a, series, centre, scale) for a in newest.values()), key=lambda a: a.start_ns
    )
    flags = _flags(series.ts_ns, raised_events(anomalies, raised, int(series.ts_ns[-1])))
    return SeriesResult(series, anomalies, flags, _scores(series, bank.recorder), raised, centre, scale)


def series_context(series: Series) -> DeviceContext:
    """One device per channel, all in one zone of their own; nominal voltage unknown (NaN)."""
    devices = [series.name if len(series.channels) == 1 else f"{series.name}.{c}" for c in series.channels]
    n = len(devices)
    return DeviceContext(devices, [series.name] * n, [series.name] * n, np.full(n, np.nan))


def _normalisation(values: np.ndarray, warmup: int) -> tuple[np.ndarray, np.ndarray]:
    """Per channel: median and sd of its first `warmup` finite samples (scale 1 when they are constant)."""
    centre = np.zeros(values.shape[1])
    scale = np.ones(values.shape[1])
    for channel in range(values.shape[1]):
        column = values[:, channel]
        head = column[np.isfinite(column)][: max(int(warmup), 2)]
        if len(head):
            centre[channel] = float(np.median(head))
            spread = float(np.std(head))
            scale[channel] = spread if spread > 0 and math.isfinite(spread) else 1.0
    return centre, scale


def _batches(ts_ns: np.ndarray, batch_s: float) -> Iterator[np.ndarray]:
    slot = (ts_ns - ts_ns[0]) // max(int(batch_s * 1e9), 1)
    bounds = np.flatnonzero(np.r_[True, slot[1:] != slot[:-1], True])
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        yield np.arange(start, stop)


def _columns(ts_ns: np.ndarray, scaled: np.ndarray) -> dict[str, np.ndarray]:
    samples, channels = scaled.shape
    return {
        "device_idx": np.repeat(np.arange(channels, dtype=np.int32)[None, :], samples, axis=0).ravel(),
        "ts": np.repeat(ts_ns, channels),
        SERIES_COLUMN: scaled.ravel(),
    }


def _in_series_units(anomaly: Anomaly, series: Series, centre: np.ndarray, scale: np.ndarray) -> Anomaly:
    metric = METRIC_NAMES.get(anomaly.metric, anomaly.metric)
    if metric not in METRIC_NAMES.values():
        return msgspec.structs.replace(anomaly, metric=metric)
    channel = _channel_of(anomaly.device, series)
    value = anomaly.value / UNIT_SCALE * scale[channel]  # a step is a difference: no centre
    if metric != "value_step":
        value += centre[channel]
    return msgspec.structs.replace(anomaly, metric=metric, value=float(value))


def _channel_of(device: str, series: Series) -> int:
    if len(series.channels) == 1:
        return 0
    return series.channels.index(device.removeprefix(f"{series.name}."))


def _flags(ts_ns: np.ndarray, events: Sequence[tuple[int, int, int]]) -> np.ndarray:
    flags = np.zeros(len(ts_ns), dtype=bool)
    for start, end, _ in events:
        flags[np.searchsorted(ts_ns, start, "left") : np.searchsorted(ts_ns, end, "right")] = True
    return flags


def _scores(series: Series, recorder: _Recorder) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for key, parts in recorder.rows.items():
        score = np.zeros(len(series))
        for _, ts, values in parts:
            at = np.clip(np.searchsorted(series.ts_ns, ts, "left"), 0, len(series) - 1)
            np.maximum.at(score, at, np.nan_to_num(values, nan=0.0))
        out[key] = score
    return out


# ------------------------------------------------------------------------------------------- event scoring
@dataclass(frozen=True)
class EventScore:
    """Event-wise scores of raised anomalies against labelled windows (runs of label 1).

    A window is found when a raised anomaly overlaps it, extended after its end by `tolerance_samples`
    (a detector needs a few samples of evidence; an alarm before the incident does not count unless it is
    still open when the incident starts). A raised anomaly overlapping no extended window is a false positive.
    Latency: from the window's first sample to the start (`start`) or first emission (`raised`) of the
    earliest anomaly that found it. Event-wise overlap rewards one anomaly left open over most of a series,
    so the share of samples flagged and the share of flagged samples inside a window are kept beside it."""

    samples: int
    windows: int
    found: int
    raised: int
    false_positives: int
    latency_start_s: tuple[float, ...]
    latency_raised_s: tuple[float, ...]
    flagged_samples: int = 0
    flagged_in_windows: int = 0

    @property
    def flagged_share(self) -> float:
        return self.flagged_samples / self.samples

    @property
    def point_precision(self) -> float | None:
        return self.flagged_in_windows / self.flagged_samples if self.flagged_samples else None

    @property
    def precision(self) -> float | None:
        return (self.raised - self.false_positives) / self.raised if self.raised else None

    @property
    def recall(self) -> float | None:
        return self.found / self.windows if self.windows else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None or p + r == 0:
            return None if p is None or r is None else 0.0
        return 2 * p * r / (p + r)

    @property
    def false_positives_per_1000(self) -> float:
        return 1000.0 * self.false_positives / self.samples

    def as_dict(self) -> dict[str, object]:
        return {
            "samples": self.samples, "windows": self.windows, "found": self.found, "raised": self.raised,
            "false_positives": self.false_positives, "precision": self.precision, "recall": self.recall,
            "f1": self.f1, "fp_per_1000_samples": round(self.false_positives_per_1000, 3),
            "latency_start_s": list(self.latency_start_s), "latency_raised_s": list(self.latency_raised_s),
            "flagged_share": round(self.flagged_share, 4), "point_precision": self.point_precision,
        }  # fmt: skip


def label_windows(labels: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) sample index of each run of true labels."""
    edges = np.diff(np.r_[0, np.asarray(labels, dtype=np.int8), 0])
    return list(
        zip(np.flatnonzero(edges == 1).tolist(), (np.flatnonzero(edges == -1) - 1).tolist(), strict=True)
    )


def score_events(
    ts_ns: np.ndarray,
    labels: np.ndarray,
    events: Sequence[tuple[int, int, int]],
    tolerance_samples: int = 10,
) -> EventScore:
    """Score (start_ns, end_ns, raised_ns) events against the label windows of a series."""
    windows = label_windows(labels)
    last = len(ts_ns) - 1
    spans = [(int(ts_ns[a]), int(ts_ns[min(b + tolerance_samples, last)])) for a, b in windows]
    matched = [any(s <= w_end and e >= w_start for w_start, w_end in spans) for s, e, _ in events]
    start_latency: list[float] = []
    raised_latency: list[float] = []
    for w_start, w_end in spans:
        hits = [(s, r) for s, e, r in events if s <= w_end and e >= w_start]
        if hits:
            first_start, first_raised = min(hits)
            start_latency.append((first_start - w_start) / 1e9)
            raised_latency.append((first_raised - w_start) / 1e9)
    flagged = _flags(ts_ns, events)
    return EventScore(
        samples=len(ts_ns), windows=len(windows), found=len(start_latency), raised=len(events),
        false_positives=matched.count(False), latency_start_s=tuple(start_latency),
        latency_raised_s=tuple(raised_latency), flagged_samples=int(flagged.sum()),
        flagged_in_windows=int((flagged & np.asarray(labels, dtype=bool)).sum()),
    )  # fmt: skip


def flag_events(ts_ns: np.ndarray, flags: np.ndarray, merge_samples: int = 10) -> list[tuple[int, int, int]]:
    """Runs of flagged samples as (start_ns, end_ns, raised_ns) events, runs closer than `merge_samples`
    joined (a per-sample detector's flapping is one event, as the bank's hysteresis makes it)."""
    windows = label_windows(flags)
    merged: list[list[int]] = []
    for first, last in windows:
        if merged and first - merged[-1][1] <= merge_samples:
            merged[-1][1] = last
        else:
            merged.append([first, last])
    return [(int(ts_ns[a]), int(ts_ns[b]), int(ts_ns[a])) for a, b in merged]


# ---------------------------------------------------------------------------------------------- CSV input
def read_series_csv(path: Path, interval_s: float | None = None, name: str | None = None) -> Series:
    """Read `timestamp,value[,label]` (header optional), several value columns when the header names them,
    or `value[,label]` when `interval_s` is given. Timestamps: ISO 8601 or seconds (0, 1, 2 … is fine)."""
    if not path.is_file():
        raise SeriesError(f"{path}: no such file; give a CSV of timestamp,value[,label]")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        rows = [row for row in csv.reader(handle) if row and any(cell.strip() for cell in row)]
    if not rows:
        raise SeriesError(f"{path}: the file is empty; give a CSV of timestamp,value[,label]")
    header, body, first_line = _split_header(rows, interval_s)
    if len(body) < 2:
        raise SeriesError(f"{path}: {len(body)} sample(s); a series needs at least 2")
    return _parse(path, name or path.stem, header, body, interval_s, first_line)


def _split_header(rows: list[list[str]], interval_s: float | None) -> tuple[list[str], list[list[str]], int]:
    """(column names, data rows, line number of the first data row)."""
    first = [cell.strip() for cell in rows[0]]
    if any(_is_name(cell) for cell in first):
        return [cell.lower() for cell in first], rows[1:], 2
    width = len(first)
    names = ["value"] if interval_s is not None else ["timestamp", "value"]
    if width == len(names) + 1:
        names.append("label")
    if width != len(names):
        raise SeriesError(
            f"line 1 has {width} columns: without a header, use timestamp,value[,label] "
            "(or value[,label] with --interval-s)"
        )
    return names, rows, 1


def _is_name(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return not _looks_like_time(cell)
    return False


def _looks_like_time(cell: str) -> bool:
    try:
        datetime.fromisoformat(cell)
    except ValueError:
        return False
    return True


def _parse(
    path: Path, name: str, header: list[str], body: list[list[str]], interval_s: float | None, offset: int
) -> Series:
    """`interval_s`, when given, places sample i at i × interval_s and ignores any timestamp column (UCR-style
    files stamp samples 0, 1, 2 … whatever their real rate)."""
    time_col = next((i for i, h in enumerate(header) if h in TIME_COLUMNS), None)
    label_col = next((i for i, h in enumerate(header) if h in LABEL_COLUMNS), None)
    value_cols = [i for i in range(len(header)) if i not in (time_col, label_col)]
    if not value_cols:
        raise SeriesError(f"{path}: no value column in header {header}; expected timestamp,value[,label]")
    if time_col is None and interval_s is None:
        raise SeriesError(f"{path}: no timestamp column ({', '.join(TIME_COLUMNS)}); give --interval-s")
    for number, row in enumerate(body, start=offset):
        if len(row) != len(header):
            raise SeriesError(f"{path}:{number}: {len(row)} columns where the header has {len(header)}")
    values = np.array([[_number(path, n, row[i]) for i in value_cols] for n, row in enumerate(body, offset)])
    if interval_s is not None or time_col is None:
        if not interval_s or interval_s <= 0:
            raise SeriesError(f"{path}: --interval-s must be a positive number of seconds")
        ts = EPOCH_NS + np.round(np.arange(len(body)) * interval_s * 1e9).astype(np.int64)
    else:
        ts = np.array([_stamp(path, n, row[time_col]) for n, row in enumerate(body, offset)], dtype=np.int64)
    steps = np.diff(ts)
    if (steps <= 0).any():
        line = offset + int(np.flatnonzero(steps <= 0)[0]) + 1
        raise SeriesError(f"{path}:{line}: timestamp is not after the previous one; sort the file by time")
    labels = None
    if label_col is not None:
        labels = np.array([_label(path, n, row[label_col]) for n, row in enumerate(body, offset)], dtype=bool)
    channels = tuple(header[i] for i in value_cols)
    return Series(name, ts, values.reshape(len(body), len(value_cols)), labels, channels)


def _number(path: Path, line: int, cell: str) -> float:
    text = cell.strip()
    if text == "" or text.lower() in ("nan", "null", "na"):
        return math.nan  # a missing reading: the bank skips it (and a long run of them is a gap)
    try:
        return float(text)
    except ValueError:
        raise SeriesError(f"{path}:{line}: value {cell!r} is not a number") from None


def _stamp(path: Path, line: int, cell: str) -> int:
    """A number is seconds from `EPOCH_NS` (2020), not Unix seconds: UCR-style files count 0, 1, 2 …;
    anything else is read as every command reads an absolute time (ISO 8601, no zone = UTC)."""
    try:
        return seconds_to_ns(cell, since_ns=EPOCH_NS) if is_number(cell) else iso_to_ns(cell)
    except ValueError as error:
        raise SeriesError(
            f"{path}:{line}: timestamp {cell!r}: {error}; use ISO 8601 or a number of seconds from 2020-01-01"
        ) from None


def _label(path: Path, line: int, cell: str) -> bool:
    text = cell.strip().lower()
    if text in ("1", "1.0", "true"):
        return True
    if text in ("0", "0.0", "false", ""):
        return False
    raise SeriesError(f"{path}:{line}: label {cell!r} must be 0 or 1")
