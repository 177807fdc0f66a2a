"""IEEE C37.118.2 framing: the common header, the CRC, command frames and splitting a TCP byte stream.

Every frame starts with SYNC (0xAA, type<<4 | version), FRAMESIZE, IDCODE, SOC, FRACSEC and ends with a
CRC-CCITT (init 0xFFFF); the splitter resynchronises on the next 0xAA after garbage instead of giving up.
"""

from __future__ import annotations

import binascii
import struct
from dataclasses import dataclass
from enum import IntEnum

SYNC = 0xAA
HEADER = struct.Struct(
    ">BBHHIi"
)  # sync, type|version, framesize, idcode, soc, fracsec (signed: TQ in top byte)
HEADER_SIZE = HEADER.size
MIN_FRAME = HEADER_SIZE + 2
MAX_FRAME = 65535


class FrameType(IntEnum):
    DATA = 0
    HEADER = 1
    CFG1 = 2
    CFG2 = 3
    COMMAND = 4
    CFG3 = 5


class Command(IntEnum):
    """CMD words a PDC client sends to a PMU/PDC (C37.118.2 table 15)."""

    DATA_OFF = 1
    DATA_ON = 2
    SEND_HEADER = 3
    SEND_CFG1 = 4
    SEND_CFG2 = 5
    SEND_CFG3 = 6


class FrameError(ValueError):
    """A frame that cannot be decoded; the message says why (the adapter dead-letters it)."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One complete frame as read from the wire (CRC checked, bytes kept for dead letters)."""

    type: FrameType
    version: int
    idcode: int
    soc: int
    fracsec: int  # the 24-bit fraction of second, time quality removed
    time_quality: int  # the FRACSEC top byte: leap-second flags and message time quality code
    raw: bytes


def crc_ccitt(data: bytes | memoryview) -> int:
    return binascii.crc_hqx(data, 0xFFFF)


def seal(body: bytes, frame_type: FrameType, idcode: int, soc: int, fracsec: int, version: int = 1) -> bytes:
    """A complete frame: header + body + CRC (used by the simulator and for commands)."""
    size = HEADER_SIZE + len(body) + 2
    head = struct.pack(">BBHHII", SYNC, (frame_type << 4) | version, size, idcode, soc, fracsec)
    unsigned = head + body
    return unsigned + crc_ccitt(unsigned).to_bytes(2, "big")


def command_frame(idcode: int, command: Command, soc: int = 0) -> bytes:
    return seal(struct.pack(">H", command), FrameType.COMMAND, idcode, soc, 0)


def parse_frame(raw: bytes) -> Frame:
    """Check SYNC, size, type and CRC of one frame; raise FrameError saying what is wrong."""
    if len(raw) < MIN_FRAME:
        raise FrameError(f"frame of {len(raw)} bytes is shorter than the {MIN_FRAME}-byte minimum")
    sync, type_version, size, idcode, soc, fracsec = HEADER.unpack_from(raw)
    if sync != SYNC:
        raise FrameError(f"SYNC byte is 0x{sync:02X}, expected 0xAA")
    if size != len(raw):
        raise FrameError(f"FRAMESIZE says {size} bytes but the frame has {len(raw)}")
    expected = int.from_bytes(raw[-2:], "big")
    if crc_ccitt(memoryview(raw)[:-2]) != expected:
        raise FrameError("CRC mismatch: the frame was corrupted in transit")
    kind = (type_version >> 4) & 0x7
    if kind not in FrameType._value2member_map_:
        raise FrameError(f"unknown frame type {kind}")
    fracsec &= 0xFFFFFFFF
    return Frame(
        FrameType(kind), type_version & 0xF, idcode, soc, fracsec & 0xFFFFFF, fracsec >> 24, bytes(raw)
    )


class FrameSplitter:
    """Cuts a byte stream into frames; bytes that cannot start a frame are reported, not silently lost."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.skipped_bytes = 0

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        frames: list[bytes] = []
        while True:
            start = self._buffer.find(SYNC)
            if start != 0:
                self._skip(len(self._buffer) if start < 0 else start)
                if start < 0:
                    return frames
            if len(self._buffer) < 4:
                return frames
            size = int.from_bytes(self._buffer[2:4], "big")
            if size < MIN_FRAME or (self._buffer[1] >> 4) & 0x7 not in FrameType._value2member_map_:
                self._skip(1)  # a stray 0xAA inside garbage: look for the next one
                continue
            if len(self._buffer) < size:
                return frames
            frames.append(bytes(self._buffer[:size]))
            del self._buffer[:size]

    def _skip(self, count: int) -> None:
        self.skipped_bytes += count
        del self._buffer[:count]
