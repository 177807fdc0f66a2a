"""The one reading of a time a person types (`--from`, `--end`, `--param start=…`) as Unix nanoseconds.
Integer arithmetic throughout, so any instant from 1677 to 2262 (the int64 range) is exact to the nanosecond.

Accepted forms, the same for every command:

- ISO 8601: `2026-01-31`, `2026-01-31T12:00`, `2026-01-31 12:00:00.123456789`, with `Z` or an offset
  (`+01:00`); without a zone the time is UTC. Up to nine fraction digits count (more are cut).
- `now`, or a time before now: `-90s`, `-15m`, `-1.5h`, `-7d` (also Grafana's `now-15m`).

A bare number is refused: seconds, milliseconds and nanoseconds all look alike.

>>> parse_instant("1969-12-31T23:59:59.5Z")
-500000000
>>> parse_instant("2026-01-01T01:00:00+01:00") == parse_instant("2026-01-01T00:00:00Z")
True
>>> parse_instant("-1.5h", now_ns=10**13)
4600000000000
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

from gridmon.errors import ConfigError

ACCEPTED = (
    "ISO 8601 such as 2026-01-31T12:00:00Z or 2026-01-31T13:00+01:00 (no zone = UTC), "
    "'now', or a time before now such as -90s, -15m, -2h, -7d"
)
HELP = "ISO 8601 (no zone = UTC), now, or a time before now such as -2h"  # for --help texts
UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
RELATIVE = re.compile(r"^(?:now)?-(\d+(?:\.\d+)?[smhd])$")
# A fraction of the time of day's seconds (extended or basic form): not of an hour, not in an offset.
SECOND_FRACTION = re.compile(r"^(\d{4}-?\d{2}-?\d{2}[Tt ]\d{2}:?\d{2}:?\d{2})[.,](\d+)")
UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NS_MIN, NS_MAX = -(2**63), 2**63 - 1
EARLIEST, LATEST = "1677-09-21T00:12:43Z", "2262-04-11T23:47:16Z"


def parse_instant(text: str, option: str = "time", now_ns: int | None = None) -> int:
    """`text` as Unix ns; `option` names the input in the error (`--from`, `--param start`)."""
    cleaned = text.strip().lower()
    now_ns = time.time_ns() if now_ns is None else now_ns
    if cleaned == "now":
        return now_ns
    relative = RELATIVE.match(cleaned)
    try:
        if relative:
            return _in_range(now_ns - duration_ns(relative.group(1)))
        return iso_to_ns(text)
    except ValueError as error:
        raise ConfigError(f"{option} {text!r}: {error}; use {ACCEPTED}") from None


def parse_duration(text: str, option: str = "duration") -> int:
    """A length of time the user typed (`90s`, `15m`, `1.5h`, `7d`) in ns; zero is refused."""
    try:
        length = duration_ns(text.strip().lower())
    except ValueError as error:
        raise ConfigError(
            f"{option} {text!r}: {error}; use a number and s, m, h or d, e.g. 15m, 1h, 7d"
        ) from None
    if length == 0:
        raise ConfigError(f"{option} {text!r}: a duration must be longer than zero")
    return length


def duration_ns(text: str) -> int:
    """`15m` → 900 × 10⁹; ValueError if it is not a number followed by s, m, h or d."""
    match = DURATION.match(text)
    if not match:
        raise ValueError("not a duration")
    return _in_range(seconds_to_ns(match.group(1)) * UNIT_S[match.group(2)])


def seconds_to_ns(text: str, since_ns: int = 0) -> int:
    """`since_ns` plus a decimal number of seconds (`-1.25`, `3e2`), exact to the nearest ns; ValueError else."""
    try:
        seconds = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError("not a number") from None
    if not seconds.is_finite():
        raise ValueError("not a finite number")
    if seconds.adjusted() > 12:  # far past the int64 ns range; checked before Decimal arithmetic can overflow
        raise _out_of_range()
    return _in_range(since_ns + round(seconds.scaleb(9)))


def iso_to_ns(text: str) -> int:
    """ISO 8601 (UTC without a zone) as Unix ns, fraction digits kept to the ns; ValueError if it is not."""
    stripped = text.strip()
    fraction_ns = 0
    fraction = SECOND_FRACTION.search(stripped)
    if fraction:  # datetime keeps only microseconds: read the digits ourselves
        fraction_ns = int(fraction.group(2)[:9].ljust(9, "0"))
        stripped = stripped[: fraction.end(1)] + stripped[fraction.end() :]
    elif re.search(r"[.,]", stripped):  # fromisoformat reads 12.5 as 12:00:00.5, not 12:30
        raise ValueError("only seconds may have a fraction (12:30:00.5)")
    try:
        moment = datetime.fromisoformat(stripped)
    except ValueError:
        bare = is_number(text)
        raise ValueError("a bare number is no time (seconds? ms? ns?)" if bare else "not a time") from None
    return _in_range(datetime_to_ns(moment) + fraction_ns)


def is_number(text: str) -> bool:
    """Whether `text` reads as a number (`12`, `-1.5`, `3e2`, `nan`)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def datetime_to_ns(moment: datetime) -> int:
    """Exact Unix ns of a datetime (naive = UTC), before 1970 too: timedelta parts, never float seconds."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    since = moment - UNIX_EPOCH  # days may be negative; seconds and microseconds never are
    return (since.days * 86_400 + since.seconds) * 10**9 + since.microseconds * 1000


def ns_to_datetime(ns: int) -> datetime:
    """Unix ns as an aware UTC datetime, floored to the microsecond (datetime holds no finer)."""
    return UNIX_EPOCH + timedelta(microseconds=ns // 1000)


def _in_range(ns: int) -> int:
    if not NS_MIN <= ns <= NS_MAX:
        raise _out_of_range()
    return ns


def _out_of_range() -> ValueError:
    return ValueError(f"outside {EARLIEST} … {LATEST} (nanoseconds in 64 bits)")
