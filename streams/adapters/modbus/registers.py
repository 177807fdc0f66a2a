"""Read plans for mapped Modbus points (few requests per poll) and register words decoded to numbers.

Points of one unit and table that sit next to each other are read in one request, never across a gap: a
device answers "illegal address" for a whole request if any address in it is missing.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from gridmon.adapters.mapping import BIT_TABLES, ModbusMapping, ModbusPoint, ModbusTable

REGISTER_WIDTH = {"uint16": 1, "int16": 1, "uint32": 2, "int32": 2, "float32": 2}
_STRUCT_FORMAT = {"uint16": ">H", "int16": ">h", "uint32": ">I", "int32": ">i", "float32": ">f"}
MAX_BITS_PER_READ = 2000  # Modbus application protocol limits for one read request
MAX_REGISTERS_PER_READ = 125


@dataclass(frozen=True)
class ReadBlock:
    """One read request: `count` bits or registers from `address` of `table` on `unit`."""

    unit: int
    table: ModbusTable
    address: int
    count: int
    points: tuple[ModbusPoint, ...]

    @property
    def is_bits(self) -> bool:
        return self.table in BIT_TABLES

    def describe(self) -> str:
        return f"unit {self.unit} {self.table} {self.address}..{self.address + self.count - 1}"


def point_width(point: ModbusPoint) -> int:
    return 1 if point.table in BIT_TABLES else REGISTER_WIDTH[point.data_type]


def plan_reads(mapping: ModbusMapping) -> list[ReadBlock]:
    """Group the mapping's points into contiguous read requests per unit and table."""
    groups: dict[tuple[int, ModbusTable], list[ModbusPoint]] = {}
    for point in mapping.points:
        unit = mapping.unit if point.unit is None else point.unit
        groups.setdefault((unit, point.table), []).append(point)
    blocks: list[ReadBlock] = []
    for (unit, table), points in sorted(groups.items()):
        blocks.extend(_contiguous_blocks(unit, table, sorted(points, key=lambda p: p.address)))
    return blocks


def _contiguous_blocks(unit: int, table: ModbusTable, points: list[ModbusPoint]) -> list[ReadBlock]:
    limit = MAX_BITS_PER_READ if table in BIT_TABLES else MAX_REGISTERS_PER_READ
    blocks: list[ReadBlock] = []
    start, end, members = points[0].address, points[0].address, [points[0]]
    end += point_width(points[0])
    for point in points[1:]:
        point_end = point.address + point_width(point)
        if point.address <= end and max(end, point_end) - start <= limit:
            end, members = max(end, point_end), [*members, point]
            continue
        blocks.append(ReadBlock(unit, table, start, end - start, tuple(members)))
        start, end, members = point.address, point_end, [point]
    blocks.append(ReadBlock(unit, table, start, end - start, tuple(members)))
    return blocks


def decode_register_value(point: ModbusPoint, words: Sequence[int]) -> float:
    """The point's number from its registers (16-bit words, high word first unless `word_order` is little)."""
    ordered = list(words) if point.word_order == "big" else list(reversed(words))
    raw = b"".join((word & 0xFFFF).to_bytes(2, "big") for word in ordered)
    return float(struct.unpack(_STRUCT_FORMAT[point.data_type], raw)[0])


def encode_register_value(value: float, data_type: str = "uint16", word_order: str = "big") -> list[int]:
    """The registers a device sends for `value` (the inverse of `decode_register_value`; simulators, tests)."""
    number: float | int = value if data_type == "float32" else int(value)
    raw = struct.pack(_STRUCT_FORMAT[data_type], number)
    words = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
    return words if word_order == "big" else list(reversed(words))
