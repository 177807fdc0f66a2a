"""Turn a list of decoded readings into columns (numpy for numbers, lists for strings) in one C-level pass.

Each reading becomes a tuple (`msgspec.structs.astuple`) that `np.fromiter` writes straight into a structured
array: no per-field Python loop, and null optional numbers land as NaN. Readings that do not fit that fast
layout (RFC 3339 times, times beyond int64) take the per-column path instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from operator import attrgetter
from typing import Any

import msgspec
import numpy as np

NAN = math.nan
_FAST_DTYPES = {
    "ts": "i8",
    "float": "f8",
    "optional_float": "f8",
    "int": "i8",
    "optional_int": "f8",
    "str": "O",
}


@cache
def field_kinds(reading_type: type[msgspec.Struct]) -> dict[str, str]:
    """Per field: `ts`, `float`, `optional_float`, `int`, `optional_int` or `str`."""
    kinds: dict[str, str] = {}
    for info in msgspec.structs.fields(reading_type):
        annotation = str(info.type)
        optional = "None" in annotation or "Optional" in annotation
        if info.name == "ts":
            kinds[info.name] = "ts"
        elif "float" in annotation:
            kinds[info.name] = "optional_float" if optional else "float"
        elif "int" in annotation and "Literal" not in annotation:
            kinds[info.name] = "optional_int" if optional else "int"
        else:
            kinds[info.name] = "str"
    return kinds


@cache
def _row_dtype(reading_type: type[msgspec.Struct]) -> np.dtype[Any]:
    return np.dtype([(name, _FAST_DTYPES[kind]) for name, kind in field_kinds(reading_type).items()])


def to_columns(reading_type: type[msgspec.Struct], readings: Sequence[Any]) -> dict[str, Any]:
    kinds = field_kinds(reading_type)
    if not readings:
        return {name: _empty(kind) for name, kind in kinds.items()}
    try:
        rows = np.fromiter(map(msgspec.structs.astuple, readings), _row_dtype(reading_type), len(readings))
    except (TypeError, OverflowError):  # a datetime or an out-of-int64 time: per column, exactly
        return _slow_columns(kinds, readings)
    return {name: _from_rows(kind, rows[name]) for name, kind in kinds.items()}


def _from_rows(kind: str, values: np.ndarray) -> Any:
    if kind == "str":
        return values.tolist()
    if kind == "optional_int":  # null → -1; the schema bounds these ints far inside float64's exact range
        return np.where(np.isnan(values), -1, values).astype(np.int64)
    return np.ascontiguousarray(values)


def _empty(kind: str) -> Any:
    if kind == "str":
        return []
    return np.empty(0, dtype=np.int64 if kind in ("ts", "int", "optional_int") else np.float64)


def _slow_columns(kinds: dict[str, str], readings: Sequence[Any]) -> dict[str, Any]:
    names = list(kinds)
    transposed = zip(*map(attrgetter(*names), readings), strict=True)
    return {name: _column(kinds[name], values) for name, values in zip(names, transposed, strict=True)}


def _column(kind: str, values: tuple[Any, ...]) -> Any:
    if kind == "ts":
        return timestamps_ns(values)
    if kind in ("float", "optional_float"):  # numpy turns None into NaN (stored as NULL)
        return np.array(values, dtype=np.float64)
    if kind == "int":
        return np.array(values, dtype=np.int64)
    if kind == "optional_int":
        return np.array([-1 if v is None else v for v in values], dtype=np.int64)
    return list(values)


def timestamps_ns(values: tuple[Any, ...]) -> np.ndarray:
    """Event times as int64 UTC nanoseconds; RFC 3339 strings were decoded to datetimes by msgspec."""
    try:
        return np.array(values, dtype=np.int64)
    except (TypeError, OverflowError):
        return np.array([_ns(v) for v in values], dtype=np.int64)


def _ns(value: int | datetime) -> int:
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**63 else -(2**63)  # out of int64: time_skew later
    if value.tzinfo is None:
        return -(2**63)  # a naive time is ambiguous: rejected as time_skew by validation
    ns = int(value.timestamp()) * 1_000_000_000 + value.microsecond * 1000
    return ns if -(2**63) <= ns < 2**63 else -(2**63)  # year 1 or 9999 does not fit int64 ns: time_skew later
