"""C37.118.2 configuration frames (CFG-1/CFG-2 and CFG-3): parse them into a StreamConfig, and encode CFG-2.

The StreamConfig says how to read every data frame that follows: PMUs in order, their FORMAT bits, phasor
channels with unit scaling, nominal frequency and CFGCNT (which changes when a PMU is reconfigured).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import Any

from gridmon.adapters.c37118.frames import HEADER_SIZE, Frame, FrameError, FrameType, seal

FORMAT_POLAR, FORMAT_PHASOR_FLOAT, FORMAT_ANALOG_FLOAT, FORMAT_FREQ_FLOAT = 1, 2, 4, 8
_PHASE_CODES = {4: "A", 5: "B", 6: "C"}


@dataclass(frozen=True, slots=True)
class PhasorChannel:
    name: str
    is_current: bool
    scale: float = 1.0  # engineering units per integer count (PHUNIT × 10⁻⁵, or CFG-3 PHSCALE)
    angle_offset_deg: float = 0.0
    phase: str | None = None  # "A"/"B"/"C" when CFG-3 says so


@dataclass(frozen=True, slots=True)
class PmuConfig:
    station: str
    idcode: int
    format: int
    phasors: tuple[PhasorChannel, ...]
    analogs: tuple[str, ...] = ()
    digital_words: int = 0
    nominal_hz: float = 60.0
    cfg_count: int = 0

    @property
    def polar(self) -> bool:
        return bool(self.format & FORMAT_POLAR)

    @property
    def phasor_float(self) -> bool:
        return bool(self.format & FORMAT_PHASOR_FLOAT)

    @property
    def analog_float(self) -> bool:
        return bool(self.format & FORMAT_ANALOG_FLOAT)

    @property
    def freq_float(self) -> bool:
        return bool(self.format & FORMAT_FREQ_FLOAT)

    @property
    def block_size(self) -> int:
        """Bytes of this PMU's block in a data frame."""
        phasor = 8 if self.phasor_float else 4
        number = 4 if self.freq_float else 2
        analog = 4 if self.analog_float else 2
        return (
            2 + phasor * len(self.phasors) + 2 * number + analog * len(self.analogs) + 2 * self.digital_words
        )


@dataclass(frozen=True, slots=True)
class StreamConfig:
    idcode: int
    time_base: int
    pmus: tuple[PmuConfig, ...]
    data_rate: float  # frames per second (a negative DATA_RATE in the frame means seconds per frame)
    version: int = 2
    pmu_index: dict[int, int] = field(default_factory=dict, compare=False)

    @property
    def data_frame_size(self) -> int:
        return HEADER_SIZE + sum(pmu.block_size for pmu in self.pmus) + 2


class _Reader:
    """A cursor over a frame body that raises FrameError instead of struct.error on truncation."""

    def __init__(self, raw: bytes, offset: int, end: int) -> None:
        self.raw, self.offset, self.end = raw, offset, end

    def take(self, fmt: str) -> tuple[Any, ...]:
        size = struct.calcsize(fmt)
        if self.offset + size > self.end:
            raise FrameError(f"configuration frame truncated at byte {self.offset}")
        values = struct.unpack_from(fmt, self.raw, self.offset)
        self.offset += size
        return values

    def one(self, fmt: str) -> int:
        return int(self.take(fmt)[0])

    def fixed_name(self) -> str:
        return bytes(self.take(">16s")[0]).decode("latin-1").strip(" \x00")

    def counted_name(self) -> str:
        length = self.one(">B")
        return bytes(self.take(f">{length}s")[0]).decode("utf-8", "replace")


def parse_config(frame: Frame) -> StreamConfig:
    if frame.type in (FrameType.CFG1, FrameType.CFG2):
        return _parse_cfg2(frame)
    if frame.type == FrameType.CFG3:
        return _parse_cfg3(frame)
    raise FrameError(f"frame type {frame.type.name} is not a configuration frame")


def _finish(
    frame: Frame, reader: _Reader, time_base: int, pmus: list[PmuConfig], version: int
) -> StreamConfig:
    rate = reader.one(">h")
    if time_base <= 0:
        raise FrameError("TIME_BASE is 0: timestamps cannot be computed")
    data_rate = float(rate) if rate > 0 else (1.0 / -rate if rate < 0 else 0.0)
    index = {pmu.idcode: position for position, pmu in enumerate(pmus)}
    return StreamConfig(frame.idcode, time_base, tuple(pmus), data_rate, version, index)


def _parse_cfg2(frame: Frame) -> StreamConfig:
    reader = _Reader(frame.raw, HEADER_SIZE, len(frame.raw) - 2)
    time_base = reader.one(">I") & 0xFFFFFF
    pmus = [_parse_cfg2_pmu(reader) for _ in range(reader.one(">H"))]
    return _finish(frame, reader, time_base, pmus, 2)


def _parse_cfg2_pmu(reader: _Reader) -> PmuConfig:
    station = reader.fixed_name()
    idcode, fmt, phasor_count, analog_count, digital_count = reader.take(">HHHHH")
    names = [
        reader.fixed_name() for _ in range(int(phasor_count) + int(analog_count) + 16 * int(digital_count))
    ]
    units = [reader.one(">I") for _ in range(int(phasor_count))]
    reader.take(f">{4 * (int(analog_count) + int(digital_count))}x")
    fnom, cfg_count = reader.take(">HH")
    phasors = tuple(
        PhasorChannel(names[i], bool(unit >> 24), (unit & 0xFFFFFF) * 1e-5) for i, unit in enumerate(units)
    )
    analogs = tuple(names[int(phasor_count) : int(phasor_count) + int(analog_count)])
    nominal = 50.0 if int(fnom) & 1 else 60.0
    return PmuConfig(
        station, int(idcode), int(fmt), phasors, analogs, int(digital_count), nominal, int(cfg_count)
    )


def _parse_cfg3(frame: Frame) -> StreamConfig:
    reader = _Reader(frame.raw, HEADER_SIZE, len(frame.raw) - 2)
    if reader.one(">H") != 0:
        raise FrameError("fragmented CFG-3 (CONT_IDX ≠ 0) is not supported: ask the PDC for CFG-2")
    time_base = reader.one(">I") & 0xFFFFFF
    pmus = [_parse_cfg3_pmu(reader) for _ in range(reader.one(">H"))]
    return _finish(frame, reader, time_base, pmus, 3)


def _parse_cfg3_pmu(reader: _Reader) -> PmuConfig:
    station = reader.counted_name()
    idcode = reader.one(">H")
    reader.take(">16x")  # G_PMU_ID
    fmt, phasor_count, analog_count, digital_count = (int(v) for v in reader.take(">HHHH"))
    names = [reader.counted_name() for _ in range(phasor_count + analog_count + 16 * digital_count)]
    phasors = tuple(_cfg3_phasor(reader, names[i]) for i in range(phasor_count))
    reader.take(f">{8 * analog_count + 4 * digital_count}x")  # ANSCALE, DIGUNIT
    reader.take(">fffBff")  # PMU_LAT, PMU_LON, PMU_ELEV, SVC_CLASS, WINDOW, GRP_DLY
    fnom, cfg_count = (int(v) for v in reader.take(">HH"))
    analogs = tuple(names[phasor_count : phasor_count + analog_count])
    return PmuConfig(
        station, idcode, fmt, phasors, analogs, digital_count, 50.0 if fnom & 1 else 60.0, cfg_count
    )


def _cfg3_phasor(reader: _Reader, name: str) -> PhasorChannel:
    _flags, kind, _user, scale, offset_rad = reader.take(">HBBff")
    kind = int(kind)
    is_current = bool(kind & 0x08)
    return PhasorChannel(
        name, is_current, float(scale), math.degrees(float(offset_rad)), _PHASE_CODES.get(kind & 0x7)
    )


def encode_cfg2(config: StreamConfig, soc: int = 0, fracsec: int = 0) -> bytes:
    """A CFG-2 frame for `config` (the simulator sends it; tests compare with other implementations)."""
    body = bytearray(struct.pack(">IH", config.time_base, len(config.pmus)))
    for pmu in config.pmus:
        body += _encode_cfg2_pmu(pmu)
    rate = int(config.data_rate) if config.data_rate >= 1 else -round(1 / config.data_rate)
    body += struct.pack(">h", rate)
    return seal(bytes(body), FrameType.CFG2, config.idcode, soc, fracsec)


def _encode_cfg2_pmu(pmu: PmuConfig) -> bytes:
    names = [channel.name for channel in pmu.phasors] + list(pmu.analogs) + [""] * (16 * pmu.digital_words)
    out = bytearray(_name16(pmu.station))
    out += struct.pack(
        ">HHHHH", pmu.idcode, pmu.format, len(pmu.phasors), len(pmu.analogs), pmu.digital_words
    )
    for name in names:
        out += _name16(name)
    for channel in pmu.phasors:
        out += struct.pack(">I", (int(channel.is_current) << 24) | round(channel.scale * 1e5))
    out += struct.pack(">I", 1) * len(pmu.analogs) + struct.pack(">I", 0xFFFF) * pmu.digital_words
    out += struct.pack(">HH", 1 if pmu.nominal_hz == 50.0 else 0, pmu.cfg_count)
    return bytes(out)


def _name16(name: str) -> bytes:
    return name.encode("latin-1", "replace")[:16].ljust(16)
