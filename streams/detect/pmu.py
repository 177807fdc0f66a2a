"""Synchrophasor detectors: ROCOF, phase-angle jumps against the fleet reference, voltage unbalance, and
low-frequency oscillations (0.1–2 Hz) from a sliding spectrum computed every few seconds, not per reading."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from gridmon.detect.baseline import EwmaState
from gridmon.detect.columns import Batch
from gridmon.detect.context import DeviceParams
from gridmon.detect.lifecycle import ChannelSpec, ScaleOf, Signal, graded
from gridmon.detect.limits import one_sided, signal


def wrap_deg(angle: np.ndarray) -> np.ndarray:
    return 180.0 - np.mod(180.0 - angle, 360.0)


def unbalance_pct(va: np.ndarray, vb: np.ndarray, vc: np.ndarray) -> np.ndarray:
    """NEMA MG-1 unbalance: largest deviation from the phase average, in % of the average."""
    average = (va + vb + vc) / 3.0
    deviation = np.maximum(np.maximum(np.abs(va - average), np.abs(vb - average)), np.abs(vc - average))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(average > 0, 100.0 * deviation / average, np.nan)


def fleet_reference(ts: np.ndarray, angle: np.ndarray, use: np.ndarray | None = None) -> np.ndarray:
    """Per row: the circular mean of `angle` over the rows of the same frame (C37.118 frames are aligned)
    where `use` is set; frames without such a row fall back to every row of the frame."""
    frames, frame_of = np.unique(ts, return_inverse=True)
    radians = np.deg2rad(angle)
    weight = np.ones(len(ts)) if use is None else use.astype(np.float64)
    count = np.bincount(frame_of, weight, len(frames))
    weight = np.where(count[frame_of] > 0, weight, 1.0) * np.isfinite(radians)
    radians = np.nan_to_num(radians)
    cos = np.bincount(frame_of, weight * np.cos(radians), len(frames))
    sin = np.bincount(frame_of, weight * np.sin(radians), len(frames))
    return np.rad2deg(np.arctan2(sin, cos))[frame_of]


class PmuDetector:
    """ROCOF, angle jump, unbalance per reading; oscillation per device every `oscillation_every_s`."""

    name = "pmu"

    def __init__(self, params: DeviceParams, scale_of: ScaleOf | None = None) -> None:
        self.config = params.config.default.pmu
        self.params = params
        devices = len(params.class_idx)
        self.rocof = params.per_class(lambda c: c.pmu.rocof_hz_s)
        self.angle_levels = params.per_class(lambda c: c.pmu.angle_jump_deg)
        self.unbalance = params.per_class(lambda c: c.pmu.unbalance_pct)
        self.angle = EwmaState(devices, dense=False)  # a row per PMU, not per registry device
        self.angle_alpha = params.per_class(lambda c: c.pmu.angle_half_life_samples).map(
            lambda samples: 1.0 - 0.5 ** (1.0 / samples)
        )
        self.scale_of = scale_of
        self.oscillation = OscillationWindow(
            self.config.oscillation_window_s, self.config.oscillation_bin_hz, devices
        )
        self.voltage_oscillation = OscillationWindow(
            self.config.oscillation_window_s, self.config.oscillation_bin_hz, devices
        )
        self.next_spectrum_ns = 0

    def spec(self, metric: str) -> ChannelSpec:
        return ChannelSpec(self.name, metric, "grid", self.config.min_on_s, self.config.min_off_s)

    def signals(self, kind: str, batch: Batch) -> Iterator[tuple[ChannelSpec, Signal]]:
        if kind != "pmu" or not len(batch):
            return
        dev = batch.device_idx
        rocof = np.abs(batch.column("rocof_hz_s"))
        clear = np.full(len(batch), self.config.rocof_clear_hz_s)
        yield self.spec("rocof_hz_s"), signal(batch, one_sided(rocof, self.rocof[dev], clear), rocof)
        unbalance = unbalance_pct(batch.column("va"), batch.column("vb"), batch.column("vc"))
        clear = np.full(len(batch), self.config.unbalance_clear_pct)
        yield (
            self.spec("unbalance_pct"),
            signal(batch, one_sided(unbalance, self.unbalance[dev], clear), unbalance),
        )
        yield self.spec("va_angle_rel"), self._angle_jump(batch)
        yield from self._oscillations(batch)

    def _angle_jump(self, batch: Batch) -> Signal:
        dev = batch.device_idx
        row = self.angle.rows(dev)
        angle = batch.column("va_angle")
        usual = self.angle.mean[row]
        known = self.angle.count[row] > 0
        # The reference is the system angle as each known PMU sees it (its angle minus its usual offset), so
        # it does not move when a PMU drops out, goes dark or arrives late; a cold fleet uses raw angles.
        estimate = np.where(known, wrap_deg(angle - usual), angle)
        relative = wrap_deg(angle - fleet_reference(batch.ts, estimate, known))
        jump = np.where(known, np.abs(wrap_deg(relative - usual)), 0.0)
        scale = self._scale("va_angle_rel", dev)
        levels = self.angle_levels[dev] * scale[:, None]
        parts = one_sided(jump, levels, np.full(len(batch), self.config.angle_clear_deg) * scale)
        # fold the relative angle unwrapped around the current baseline, so ±180° does not break the mean
        self.angle.fold(
            row, usual + wrap_deg(relative - usual), lambda used: self.angle_alpha[self.angle.device[used]]
        )
        return signal(batch, parts, relative)

    def _oscillations(self, batch: Batch) -> Iterator[tuple[ChannelSpec, Signal]]:
        dev = batch.device_idx
        self.oscillation.add(dev, batch.ts, batch.column("freq_hz"))
        self.voltage_oscillation.add(dev, batch.ts, 100.0 * batch.column("va") / self.params.nominal_v[dev])
        now = int(batch.ts.max())
        if now < self.next_spectrum_ns:
            return
        self.next_spectrum_ns = now + int(self.config.oscillation_every_s * 1e9)
        for metric, window, levels, unit in (
            ("freq_oscillation", self.oscillation, self.config.oscillation_freq_mhz, 1000.0),
            ("va_oscillation", self.voltage_oscillation, self.config.oscillation_voltage_pct, 1.0),
        ):
            devices, amplitude, snr = window.modes(now, self.config.oscillation_band_hz)
            if len(devices):
                yield (
                    self.spec(metric),
                    self._oscillation_signal(metric, devices, now, amplitude * unit, snr, levels),
                )

    def _oscillation_signal(
        self,
        metric: str,
        devices: np.ndarray,
        now: int,
        amplitude: np.ndarray,
        snr: np.ndarray,
        levels: tuple,
    ) -> Signal:
        scale = self._scale(metric, devices)
        thresholds = np.asarray(levels)[None, :] * scale[:, None]
        distinct = snr >= self.config.oscillation_snr
        level = graded(np.where(distinct, (amplitude[:, None] >= thresholds).sum(axis=1), 0))
        clear = (amplitude < 0.5 * thresholds[:, 0]) | (snr < 0.5 * self.config.oscillation_snr)
        n = len(devices)
        score = np.where(distinct, amplitude / thresholds[:, 0], 0.0)
        return Signal(devices, np.full(n, now, dtype=np.int64), np.arange(n), level, clear, score, amplitude)

    def _scale(self, metric: str, device_idx: np.ndarray) -> np.ndarray:
        if self.scale_of is None:
            return np.ones(len(device_idx))
        return self.scale_of(self.spec(metric), device_idx)

    def state_dict(self) -> dict[str, np.ndarray]:
        state = {f"angle.{k}": v for k, v in self.angle.saved().items()}
        state |= {f"osc.{k}": v for k, v in self.oscillation.arrays().items()}
        state |= {f"vosc.{k}": v for k, v in self.voltage_oscillation.arrays().items()}
        return state | {"next_spectrum_ns": np.array([self.next_spectrum_ns])}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        if "angle.device" in state:
            self.angle.load({k.removeprefix("angle."): v for k, v in state.items() if k.startswith("angle.")})
        for prefix, window in (("osc.", self.oscillation), ("vosc.", self.voltage_oscillation)):
            if f"{prefix}device" in state:
                window.load({k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)})
        self.next_spectrum_ns = int(state.get("next_spectrum_ns", np.zeros(1))[0])


class OscillationWindow:
    """The last `window_s` of one signal per device, binned at `bin_hz` by event time (late rows land in place).

    Rows exist only for devices that sent the signal (PMUs): the registry holds every device, and a row each
    for a million meters took 2.2 GB per window (two windows) at 12 s × 10 Hz. A device's row is found by
    binary search in the rows' devices sorted (a registry-sized map took 9.6 MB per window for ~225 PMUs).
    """

    def __init__(self, window_s: float, bin_hz: float, devices: int) -> None:
        self.bins = int(round(window_s * bin_hz))
        self.bin_ns = int(round(1e9 / bin_hz))
        self.device = np.empty(0, dtype=np.int64)  # the device of each row
        self._by_device = np.empty(0, dtype=np.int64)  # the rows in device order
        self.values = np.empty((0, self.bins))
        self.bin_no = np.empty((0, self.bins), dtype=np.int64)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"values": self.values, "bin_no": self.bin_no, "device": self.device}

    def load(self, arrays: dict[str, np.ndarray]) -> None:
        """Replace the window by saved `arrays()` (checkpoint restore)."""
        self.device = np.asarray(arrays["device"], dtype=np.int64).copy()
        self.values = np.asarray(arrays["values"], dtype=np.float64).reshape(-1, self.bins).copy()
        self.bin_no = np.asarray(arrays["bin_no"], dtype=np.int64).reshape(-1, self.bins).copy()
        self._by_device = np.argsort(self.device, kind="stable")

    def add(self, dev: np.ndarray, ts: np.ndarray, values: np.ndarray) -> None:
        valid = np.isfinite(values)
        if not valid.any():
            return
        rows = self._rows(dev[valid])
        number = ts[valid] // self.bin_ns
        slot = number % self.bins
        self.values[rows, slot] = values[valid]
        self.bin_no[rows, slot] = number

    def _rows(self, dev: np.ndarray) -> np.ndarray:
        rows = self._lookup(dev)
        new = np.unique(dev[rows < 0])
        if len(new):  # rare after the first seconds: every PMU gets its row once
            self.device = np.concatenate([self.device, new.astype(np.int64)])
            self.values = np.vstack([self.values, np.full((len(new), self.bins), np.nan)])
            self.bin_no = np.vstack([self.bin_no, np.full((len(new), self.bins), -1, dtype=np.int64)])
            self._by_device = np.argsort(self.device, kind="stable")
            rows = self._lookup(dev)
        return rows

    def _lookup(self, dev: np.ndarray) -> np.ndarray:
        """The row of each device (-1: none)."""
        if not len(self.device):
            return np.full(len(dev), -1, dtype=np.int64)
        keys = self.device[self._by_device]
        at = np.minimum(np.searchsorted(keys, dev), len(keys) - 1)
        return np.where(keys[at] == dev, self._by_device[at], -1)

    def modes(self, now_ns: int, band_hz: tuple[float, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Devices with a ≥ 80 % full window, their strongest in-band amplitude and its ratio to the band median."""
        last = now_ns // self.bin_ns
        expected = np.arange(last - self.bins + 1, last + 1)
        slots = expected % self.bins
        present = self.bin_no[:, slots] == expected[None, :]
        full = np.flatnonzero(present.mean(axis=1) >= 0.8)
        devices = self.device[full]
        if not len(devices):
            return devices, np.empty(0), np.empty(0)
        window = np.where(present[full], self.values[full][:, slots], np.nan)
        spectrum, freqs = difference_spectrum(window, self.bin_ns / 1e9)
        band = (freqs >= band_hz[0]) & (freqs <= band_hz[1])
        in_band = spectrum[:, band]
        peak = in_band.argmax(axis=1)
        strongest = in_band[np.arange(len(devices)), peak]
        floor = np.maximum(np.median(in_band, axis=1), 1e-12)
        # differencing turns a step into a flat spectrum, so a sag or a tap change is not an oscillation;
        # divide by the differencing gain to get the mode's amplitude in the signal's own unit
        gain = 2.0 * np.sin(np.pi * freqs[band][peak] * self.bin_ns / 1e9)
        return devices, strongest / gain, strongest / floor


def difference_spectrum(window: np.ndarray, step_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Single-sided amplitude spectrum of each row's first difference (missing bins carry the last value)."""
    rows, n = window.shape
    positions = np.where(np.isnan(window), 0, np.arange(n)[None, :])
    carried = np.take_along_axis(window, np.maximum.accumulate(positions, axis=1), axis=1)
    filled = np.where(np.isnan(carried), np.nanmean(window, axis=1, keepdims=True), carried)
    change = np.diff(filled, axis=1)
    change -= change.mean(axis=1, keepdims=True)
    taper = np.hanning(n - 1)
    spectrum = 2.0 * np.abs(np.fft.rfft(change * taper, axis=1)) / taper.sum()
    return spectrum, np.fft.rfftfreq(n - 1, d=step_s)
