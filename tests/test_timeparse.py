"""One reading of a typed time for every command (`gridmon.timeparse`): exact ns before 1970 and to the ns,
naive = Z = the same instant at an offset, relative forms, clear errors — and each call site uses it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gridmon.cli import _register_all
from gridmon.cli import app as cli_app
from gridmon.detect.series import EPOCH_NS, SeriesError, read_series_csv
from gridmon.errors import ConfigError
from gridmon.store.queries import QUERIES, bind, parse_time
from gridmon.timeparse import datetime_to_ns, ns_to_datetime, parse_duration, parse_instant

NEW_YEAR_NS = 1_767_225_600 * 10**9  # 2026-01-01T00:00:00Z
NOW_NS = 1_800_000_000 * 10**9
S = 10**9


@pytest.mark.parametrize(
    ("text", "expected_ns"),
    [
        ("1969-12-31T23:59:59.5", -S // 2),  # the old parse_time gave +0.5 s: int() of -0.5 s truncates to 0
        ("1969-12-31T23:59:59.5Z", -S // 2),
        ("1900-01-01T00:00:00.25", -2_208_988_800 * S + S // 4),
        ("1969-12-31T23:59:59.999999999Z", -1),
        ("1677-09-21T00:12:44Z", -9_223_372_036 * S),
    ],
)
def test_a_time_before_1970_is_exact(text: str, expected_ns: int) -> None:
    assert parse_time(text) == expected_ns  # `gridmon query --param` …
    assert parse_instant(text, "--from") == expected_ns  # … and every other command


def test_fraction_digits_count_to_the_nanosecond() -> None:
    # replay's float arithmetic made this 1_767_225_600_000_001_024
    assert parse_instant("2026-01-01T00:00:00.000001Z") == NEW_YEAR_NS + 1000
    assert parse_instant("2026-01-01T00:00:00.123456789Z") == NEW_YEAR_NS + 123_456_789
    assert parse_instant("2026-01-01T00:00:00,5") == NEW_YEAR_NS + S // 2
    assert parse_instant("2026-01-01T00:00:00.1234567891Z") == NEW_YEAR_NS + 123_456_789  # cut, not rounded


@pytest.mark.parametrize(
    "text",
    [
        "2026-01-01T00:00:00",
        "2026-01-01T00:00:00Z",
        "2026-01-01T00:00:00+00:00",
        "2026-01-01T01:00:00+01:00",
        "2025-12-31T19:00:00-05:00",
        "2025-12-31T23:00:00.000-01:00",
        "2026-01-01 00:00",
        "2026-01-01",
        "20260101T000000Z",
        " 2026-01-01T00:00Z ",
    ],
)
def test_naive_z_and_offsets_name_the_same_instant(text: str) -> None:
    assert parse_instant(text) == NEW_YEAR_NS


def test_a_fraction_and_an_offset_together() -> None:
    assert parse_instant("2026-01-01T00:00:00.25-05:00") == NEW_YEAR_NS + 5 * 3600 * S + S // 4


@pytest.mark.parametrize(
    ("text", "before_now_ns"),
    [
        ("now", 0),
        (" NOW ", 0),
        ("-90s", 90 * S),
        ("-15m", 900 * S),
        ("now-15m", 900 * S),
        ("-1.5h", 5400 * S),
        ("-7d", 7 * 86400 * S),
        ("-0.000000001s", 1),
    ],
)
def test_relative_forms_count_back_from_now_exactly(text: str, before_now_ns: int) -> None:
    assert parse_instant(text, now_ns=NOW_NS) == NOW_NS - before_now_ns
    assert parse_time(text, now_ns=NOW_NS) == NOW_NS - before_now_ns


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("yesterday", "not a time"),
        ("", "not a time"),
        ("1767225600", "bare number"),
        ("15m", "not a time"),  # a time before now needs its minus
        ("-15", "bare number"),
        ("-15w", "not a time"),
        ("2026-01-01T12.5", "only seconds may have a fraction"),  # fromisoformat would read 12:00:00.5
        ("2262-04-12", "outside 1677"),
        ("-99999999999999999999d", "outside 1677"),
        ("-1e999999999s", "not a time"),
    ],
)
def test_a_bad_time_says_why_and_lists_the_accepted_forms(text: str, why: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_instant(text, "--from", now_ns=NOW_NS)
    message = str(error.value)
    assert message.startswith(f"--from {text!r}: ") and why in message
    assert "ISO 8601" in message and "no zone = UTC" in message and "-15m" in message


def test_durations_are_exact_and_positive() -> None:
    assert parse_duration("1.5h") == 5400 * S
    assert parse_duration("7d", "--range") == 7 * 86400 * S
    with pytest.raises(ConfigError, match="--range '0s': a duration must be longer than zero"):
        parse_duration("0s", "--range")
    with pytest.raises(ConfigError, match="--range '1 hour': not a duration"):
        parse_duration("1 hour", "--range")


def test_datetimes_convert_exactly_both_ways() -> None:
    assert ns_to_datetime(-1) == datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)  # floored
    assert datetime_to_ns(datetime(1969, 12, 31, 23, 59, 59, 500_000)) == -S // 2  # naive = UTC
    moment = datetime(1901, 7, 4, 3, 2, 1, 123_456, tzinfo=UTC)
    assert ns_to_datetime(datetime_to_ns(moment)) == moment


def test_query_parameters_read_times_like_every_command() -> None:
    query = QUERIES["top_anomalies"]
    values = bind(query, {"start": "2025-12-31T19:00-05:00", "end": "2026-01-01T00:00:00.5"})
    assert (values["start"], values["end"]) == (NEW_YEAR_NS, NEW_YEAR_NS + S // 2)
    with pytest.raises(ConfigError, match="--param start '1767225600': a bare number"):
        bind(query, {"start": "1767225600"})


def test_replay_reads_naive_as_utc_and_refuses_bad_times() -> None:
    _register_all()
    runner = CliRunner()
    # the same instant twice: refused as an empty range before any ClickHouse is opened
    same = runner.invoke(cli_app, ["replay", "--from", "2026-11-01T01:00+01:00", "--to", "2026-11-01T00:00"])
    assert isinstance(same.exception, ConfigError) and "--to must be after --from" in str(same.exception)
    bad = runner.invoke(cli_app, ["replay", "--from", "-1h", "--to", "tomorrow"])
    assert isinstance(bad.exception, ConfigError) and "--to 'tomorrow': not a time" in str(bad.exception)


def test_dashboards_refuse_a_bad_end_or_range_before_opening_clickhouse() -> None:
    _register_all()
    runner = CliRunner()
    bad_end = runner.invoke(cli_app, ["dashboards", "check", "--end", "1767225600"])
    assert isinstance(bad_end.exception, ConfigError) and "--end '1767225600': a bare number" in str(
        bad_end.exception
    )
    bad_range = runner.invoke(cli_app, ["dashboards", "render", "--range", "0h"])
    assert isinstance(bad_range.exception, ConfigError) and "longer than zero" in str(bad_range.exception)


def test_series_csv_reads_iso_cells_as_commands_do_and_numbers_from_2020(tmp_path: Path) -> None:
    iso = tmp_path / "iso.csv"
    iso.write_text("timestamp,value\n1969-12-31T23:59:59.5Z,1\n1970-01-01T01:00:00.5+01:00,2\n")
    assert read_series_csv(iso).ts_ns.tolist() == [-S // 2, S // 2]
    numbers = tmp_path / "numbers.csv"
    numbers.write_text("timestamp,value\n-1.25,1\n0,2\n0.000000001,3\n")
    assert read_series_csv(numbers).ts_ns.tolist() == [EPOCH_NS - 1_250_000_000, EPOCH_NS, EPOCH_NS + 1]


@pytest.mark.parametrize(
    ("cell", "why"),
    [
        ("inf", "not a finite number"),  # these three crashed with OverflowError
        ("1e300", "outside 1677"),
        ("1e10", "outside 1677"),  # 2020 + 317 years: past int64 ns
        ("soon", "not a time"),
    ],
)
def test_series_csv_refuses_a_bad_timestamp_with_its_line(tmp_path: Path, cell: str, why: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(f"timestamp,value\n0,1\n{cell},2\n")
    with pytest.raises(SeriesError, match=f":3: timestamp '{cell}': {why}"):
        read_series_csv(path)
