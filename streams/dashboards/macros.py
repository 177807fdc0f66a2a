"""Expand Grafana template variables and the ClickHouse plugin's SQL macros, as Grafana would before a query.

Frontend first ($__conditionalAll, then `$var`/`${var:format}`), then the backend macros ($__timeFilter …).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from gridmon.dashboards.errors import MacroError

ALL = "$__all"
NICE_INTERVALS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400)
MACRO_NAME = re.compile(r"\$__(\w+)")
VARIABLE = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\$(?!__)(\w+)")
DEFAULT_MAX_POINTS = 300


@dataclass(frozen=True)
class TimeRange:
    """The dashboard time range and the interval Grafana would pick for a panel of ~300 points."""

    start: datetime
    end: datetime
    interval_s: int

    @classmethod
    def ending(cls, end: datetime, span_s: float, max_points: int = DEFAULT_MAX_POINTS) -> TimeRange:
        start = datetime.fromtimestamp(end.timestamp() - span_s, tz=UTC)
        return cls(start, end, nice_interval(span_s / max_points))


def nice_interval(seconds: float) -> int:
    """The smallest of Grafana-like round intervals that is at least `seconds` (at least 1 s)."""
    for nice in NICE_INTERVALS_S:
        if nice >= seconds:
            return nice
    return int(math.ceil(seconds / 86400)) * 86400


Values = Mapping[str, Sequence[str]]


def expand(sql: str, time_range: TimeRange, variables: Values | None = None) -> str:
    """`sql` as ClickHouse receives it; a variable's value `[ALL]` means All is selected."""
    values = variables or {}
    text = _replace_macro_calls(sql, {"conditionalAll": lambda args: _conditional_all(args, values)})
    text = _interpolate(text, values, time_range)
    return _replace_macro_calls(text, _backend_macros(time_range), strict=True)


def _conditional_all(args: list[str], values: Values) -> str:
    if len(args) != 2:
        raise MacroError(f"$__conditionalAll takes (condition, $variable), got {len(args)} arguments")
    name = args[1].strip().lstrip("$").strip("{}")
    selected = values.get(name)
    if selected is None:
        raise MacroError(f"$__conditionalAll uses the unknown template variable ${name}")
    return "1=1" if list(selected) == [ALL] else args[0]


def _interpolate(sql: str, values: Values, time_range: TimeRange) -> str:
    builtins = {"__interval": f"{time_range.interval_s}s", "__interval_ms": str(time_range.interval_s * 1000)}

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3)
        if name in builtins:
            return builtins[name]
        if name not in values:
            raise MacroError(f"unknown template variable ${name}: define it on the dashboard")
        return _format(list(values[name]), match.group(2) or "raw")

    return VARIABLE.sub(replace, sql)


def _format(selected: list[str], style: str) -> str:
    if style == "singlequote":
        return ",".join("'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'" for value in selected)
    if style in ("raw", "csv"):
        return ",".join(selected)
    raise MacroError(f"unsupported variable format :{style} (use singlequote, csv or raw)")


def _backend_macros(time_range: TimeRange) -> dict[str, Callable[[list[str]], str]]:
    start, end = int(time_range.start.timestamp()), int(time_range.end.timestamp())
    start_ms, end_ms = int(time_range.start.timestamp() * 1000), int(time_range.end.timestamp() * 1000)
    interval = max(time_range.interval_s, 1)

    def one(args: list[str], name: str) -> str:
        if len(args) != 1:
            raise MacroError(f"$__{name} takes one column, got {len(args)} arguments")
        return args[0].strip()

    return {
        "fromTime": lambda args: f"toDateTime({start})",
        "toTime": lambda args: f"toDateTime({end})",
        "fromTime_ms": lambda args: f"fromUnixTimestamp64Milli({start_ms})",
        "toTime_ms": lambda args: f"fromUnixTimestamp64Milli({end_ms})",
        "interval_s": lambda args: str(interval),
        "timeFilter": lambda args: (
            f"{one(args, 'timeFilter')} >= toDateTime({start}) AND {one(args, 'timeFilter')} <= toDateTime({end})"
        ),
        "timeFilter_ms": lambda args: (
            f"{one(args, 'timeFilter_ms')} >= fromUnixTimestamp64Milli({start_ms}) AND "
            f"{one(args, 'timeFilter_ms')} <= fromUnixTimestamp64Milli({end_ms})"
        ),
        "dateFilter": lambda args: (
            f"{one(args, 'dateFilter')} >= toDate('{time_range.start:%Y-%m-%d}') AND "
            f"{one(args, 'dateFilter')} <= toDate('{time_range.end:%Y-%m-%d}')"
        ),
        "timeInterval": lambda args: (
            f"toStartOfInterval(toDateTime({one(args, 'timeInterval')}), INTERVAL {interval} second)"
        ),
        "timeInterval_ms": lambda args: (
            f"toStartOfInterval(toDateTime64({one(args, 'timeInterval_ms')}, 3), INTERVAL {interval * 1000} millisecond)"
        ),
    }


def _replace_macro_calls(
    sql: str, macros: Mapping[str, Callable[[list[str]], str]], strict: bool = False
) -> str:
    """Replace `$__name` / `$__name(args)` left to right; arguments may hold nested parentheses and commas."""
    out: list[str] = []
    position = 0
    while (match := MACRO_NAME.search(sql, position)) is not None:
        name = match.group(1)
        out.append(sql[position : match.start()])
        position = match.end()
        if name not in macros:
            if strict:
                raise MacroError(f"unknown macro $__{name}")
            out.append(match.group(0))
            continue
        args: list[str] = []
        if position < len(sql) and sql[position] == "(":
            args, position = _split_arguments(sql, position)
        out.append(macros[name](args))
    out.append(sql[position:])
    return "".join(out)


def _split_arguments(sql: str, open_paren: int) -> tuple[list[str], int]:
    depth, quote, start = 0, "", open_paren + 1
    args: list[str] = []
    for index in range(open_paren, len(sql)):
        char = sql[index]
        if quote:
            quote = "" if char == quote and sql[index - 1] != "\\" else quote
        elif char in "'\"`":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                args.append(sql[start:index])
                return [arg.strip() for arg in args if arg.strip()], index + 1
        elif char == "," and depth == 1:
            args.append(sql[start:index])
            start = index + 1
    raise MacroError(f"unbalanced parentheses after {sql[max(0, open_paren - 20) : open_paren + 1]!r}")
