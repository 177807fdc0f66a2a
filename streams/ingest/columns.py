"""Turn a list of decoded readings into columns (numpy for numbers, lists for strings) in a few C-level passes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from operator import attrgetter
from typing import Any

import msgspec
import numpy as np

NAN = math.nan


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


def to_columns(reading_type: type[msgspec.Struct], readings: Sequence[Any]) -> dict[str, Any]:
    kinds = field_kinds(reading_type)
    names = list(kinds)
    if not readings:
        return {name: _empty(kind) for name, kind in kinds.items()}
    rows = list(map(attrgetter(*names), readings))
    transposed = list(zip(*rows, strict=True))
    return {name: _column(kinds[name], values) for name, values in zip(names, transposed, strict=True)}


def _empty(kind: str) -> Any:
    if kind == "str":
        return []
    return np.empty(0, dtype=np.int64 if kind in ("ts", "int", "optional_int") else np.float64)


def _column(kind: str, values: tuple[Any, ...]) -> Any:
    if kind == "ts":
        return timestamps_ns(values)
    if kind == "float":
        return np.array(values, dtype=np.float64)
    if kind == "optional_float":
        try:
            return np.array(values, dtype=np.float64)
        except TypeError:  # some None: they become NaN (stored as NULL)
            return np.array([NAN if v is None else v for v in values], dtype=np.float64)
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
