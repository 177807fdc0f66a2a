"""C37.118.2 data frames, decoded in columns: a batch of N frames × P PMUs costs a few numpy gathers.

A DataLayout is built once per configuration: the byte offset of every STAT, FREQ, DFREQ and phasor field.
Decoding views the N frames as an (N, size) byte matrix and gathers each field family in one step.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

import numpy as np

from gridmon.adapters.c37118.config import PmuConfig, StreamConfig
from gridmon.adapters.c37118.frames import HEADER_SIZE, FrameType, seal

SLOTS = ("va", "vb", "vc", "ia", "ib", "ic")
STAT_NOT_SYNCHRONIZED = 0x2000
STAT_CONFIG_CHANGE = 0x0400
TIME_QUALITY_FAULT = 0xF  # FRACSEC message time quality: clock failure, time not reliable
_INT_MISSING = -32768  # 0x8000 marks a missing integer value
_PHASE_SUFFIX = re.compile(r"(?:^|[^A-Z])(?:PH)?([ABC])(?:PH)?(?:[^A-Z]|$)|([ABC])$")


def infer_slots(pmu: PmuConfig) -> list[int | None]:
    """Phase slot (index in SLOTS) per phasor: CFG-3 phase codes, else names (VA, IB_PH…), else order."""
    slots: list[int | None] = []
    next_in_order = {False: 0, True: 0}
    for channel in pmu.phasors:
        base = 3 if channel.is_current else 0
        phase = channel.phase or _phase_from_name(channel.name)
        if phase is None and next_in_order[channel.is_current] < 3:
            phase = "ABC"[next_in_order[channel.is_current]]
        if phase is not None:
            next_in_order[channel.is_current] = "ABC".index(phase) + 1
        slots.append(None if phase is None else base + "ABC".index(phase))
    return slots


def _phase_from_name(name: str) -> str | None:
    match = _PHASE_SUFFIX.search(name.upper().strip())
    return (match.group(1) or match.group(2)) if match else None


@dataclass
class PmuColumns:
    """Decoded values of N frames × P PMUs (P in configuration order); angles in degrees."""

    ts_ns: np.ndarray  # (N,) int64
    time_quality: np.ndarray  # (N,) uint8: FRACSEC top byte
    status: np.ndarray  # (N, P) uint16 STAT words
    freq_hz: np.ndarray  # (N, P)
    rocof_hz_s: np.ndarray  # (N, P)
    magnitude: np.ndarray  # (N, P, 6) RMS in V / A, slot order SLOTS
    angle_deg: np.ndarray  # (N, P, 6)
    missing: np.ndarray  # (N, P) bool: the PMU sent a missing/non-finite value


class DataLayout:
    """Where every field of a data frame lives, for one StreamConfig and one channel → slot assignment."""

    def __init__(self, config: StreamConfig, slots: list[list[int | None]] | None = None) -> None:
        self.config = config
        self.frame_size = config.data_frame_size
        self.slots = slots if slots is not None else [infer_slots(pmu) for pmu in config.pmus]
        self.nominal_hz = np.array([pmu.nominal_hz for pmu in config.pmus])
        self._stat_offsets: list[int] = []
        self._freq: dict[bool, list[tuple[int, int]]] = {False: [], True: []}  # float? → (pmu, offset)
        self._phasors: dict[tuple[bool, bool], list[tuple[int, int, int, float, float]]] = {}
        self._plan()

    def _plan(self) -> None:
        offset = HEADER_SIZE
        for position, pmu in enumerate(self.config.pmus):
            self._stat_offsets.append(offset)
            offset += 2
            width = 8 if pmu.phasor_float else 4
            for channel, slot in zip(pmu.phasors, self.slots[position], strict=True):
                if slot is not None:
                    entry = (position, slot, offset, channel.scale, channel.angle_offset_deg)
                    self._phasors.setdefault((pmu.polar, pmu.phasor_float), []).append(entry)
                offset += width
            self._freq[pmu.freq_float].append((position, offset))
            offset += (8 if pmu.freq_float else 4) + (4 if pmu.analog_float else 2) * len(pmu.analogs)
            offset += 2 * pmu.digital_words

    def decode(self, frames: list[bytes]) -> PmuColumns:
        """Decode same-configuration data frames (each exactly `frame_size` bytes, CRC already checked)."""
        count, pmus = len(frames), len(self.config.pmus)
        matrix = np.frombuffer(b"".join(frames), dtype=np.uint8).reshape(count, self.frame_size)
        soc = _gather(matrix, [6], ">u4")[:, 0].astype(np.int64)
        fracsec = _gather(matrix, [10], ">u4")[:, 0].astype(np.int64)
        columns = PmuColumns(
            ts_ns=soc * 1_000_000_000 + (fracsec & 0xFFFFFF) * 1_000_000_000 // self.config.time_base,
            time_quality=(fracsec >> 24).astype(np.uint8),
            status=_gather(matrix, self._stat_offsets, ">u2").astype(np.uint16),
            freq_hz=np.zeros((count, pmus)),
            rocof_hz_s=np.zeros((count, pmus)),
            magnitude=np.zeros((count, pmus, len(SLOTS))),
            angle_deg=np.zeros((count, pmus, len(SLOTS))),
            missing=np.zeros((count, pmus), dtype=bool),
        )
        self._decode_frequency(matrix, columns)
        for (polar, is_float), entries in self._phasors.items():
            self._decode_phasors(matrix, columns, polar, is_float, entries)
        unreliable_clock = (columns.time_quality & 0xF) == TIME_QUALITY_FAULT
        columns.status[unreliable_clock] |= STAT_NOT_SYNCHRONIZED
        return columns

    def _decode_frequency(self, matrix: np.ndarray, out: PmuColumns) -> None:
        for is_float, entries in self._freq.items():
            if not entries:
                continue
            position = np.array([p for p, _ in entries])
            offsets = np.array([o for _, o in entries])
            if is_float:
                freq = _gather(matrix, offsets, ">f4").astype(np.float64)
                rocof = _gather(matrix, offsets + 4, ">f4").astype(np.float64)
                missing = ~(np.isfinite(freq) & np.isfinite(rocof))
            else:
                raw_freq, raw_rocof = _gather(matrix, offsets, ">i2"), _gather(matrix, offsets + 2, ">i2")
                freq = self.nominal_hz[position] + raw_freq / 1000.0  # mHz deviation from nominal
                rocof = raw_rocof / 100.0  # Hz/s × 100
                missing = (raw_freq == _INT_MISSING) | (raw_rocof == _INT_MISSING)
            out.freq_hz[:, position], out.rocof_hz_s[:, position] = freq, rocof
            out.missing[:, position] |= missing

    def _decode_phasors(
        self,
        matrix: np.ndarray,
        out: PmuColumns,
        polar: bool,
        is_float: bool,
        entries: list[tuple[int, int, int, float, float]],
    ) -> None:
        position, slot, offsets, scale, angle_offset = (
            np.array(column) for column in zip(*entries, strict=True)
        )
        width, kind = (4, ">f4") if is_float else (2, ">i2")
        first = _gather(matrix, offsets, kind).astype(np.float64)
        second = _gather(matrix, offsets + width, kind).astype(np.float64)
        if not is_float:
            # 0x8000 marks a missing value; a polar magnitude is unsigned, so only its angle can say so
            missing = (
                (second == _INT_MISSING) if polar else (first == _INT_MISSING) | (second == _INT_MISSING)
            )
            if polar:  # magnitude is unsigned, angle is radians × 10⁴
                first = np.where(first < 0, first + 65536.0, first)
                second = second / 10_000.0
            first = first * scale
            if not polar:
                second = second * scale
        if polar:
            magnitude, angle = first, np.degrees(second)
        else:
            magnitude, angle = np.hypot(first, second), np.degrees(np.arctan2(second, first))
        if is_float:
            missing = ~(np.isfinite(magnitude) & np.isfinite(angle))
        angle = (angle + angle_offset + 180.0) % 360.0 - 180.0
        out.magnitude[:, position, slot] = np.abs(magnitude)
        out.angle_deg[:, position, slot] = angle
        owner = np.zeros((len(position), out.missing.shape[1]))  # channel → its PMU, to OR per PMU
        owner[np.arange(len(position)), position] = 1.0
        out.missing |= (missing.astype(np.float64) @ owner) > 0


def _gather(matrix: np.ndarray, offsets: list[int] | np.ndarray, kind: str) -> np.ndarray:
    """Field values at `offsets` of every row, shape (N, len(offsets)), native byte order."""
    dtype = np.dtype(kind)
    index = np.asarray(offsets)[:, None] + np.arange(dtype.itemsize)
    return np.ascontiguousarray(matrix[:, index]).view(dtype).reshape(matrix.shape[0], len(index))


def encode_data(
    config: StreamConfig,
    soc: int,
    fraction: int,
    status: list[int],
    phasors: list[list[complex]],
    freq_hz: list[float],
    rocof_hz_s: list[float],
    time_quality: int = 0,
) -> bytes:
    """A data frame for `config` (for simulators and tests): phasors as complex RMS values per PMU."""
    body = bytearray()
    for position, pmu in enumerate(config.pmus):
        body += struct.pack(">H", status[position])
        for channel, value in zip(pmu.phasors, phasors[position], strict=True):
            body += _encode_phasor(pmu, channel.scale, value)
        body += _encode_frequency(pmu, freq_hz[position], rocof_hz_s[position])
        body += (b"\x00\x00\x00\x00" if pmu.analog_float else b"\x00\x00") * len(pmu.analogs)
        body += b"\x00\x00" * pmu.digital_words
    fracsec = (time_quality << 24) | fraction
    return seal(bytes(body), FrameType.DATA, config.idcode, soc, fracsec)


def _encode_phasor(pmu: PmuConfig, scale: float, value: complex) -> bytes:
    magnitude, angle = abs(value), float(np.angle(value))
    if pmu.phasor_float:
        return (
            struct.pack(">ff", magnitude, angle) if pmu.polar else struct.pack(">ff", value.real, value.imag)
        )
    if pmu.polar:
        return struct.pack(">Hh", min(round(magnitude / scale), 65535), round(angle * 10_000))
    return struct.pack(">hh", round(value.real / scale), round(value.imag / scale))


def _encode_frequency(pmu: PmuConfig, freq_hz: float, rocof_hz_s: float) -> bytes:
    if pmu.freq_float:
        return struct.pack(">ff", freq_hz, rocof_hz_s)
    return struct.pack(">hh", round((freq_hz - pmu.nominal_hz) * 1000), round(rocof_hz_s * 100))
