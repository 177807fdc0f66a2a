"""Compact data-quality state: a row per device that sent the kind, with the same results as a row per device."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from detect_synthetic import pmu_seconds, run

from gridmon.detect import DetectorBank
from gridmon.detect.quality import TABLE_FRESH, KindState
from gridmon.detect.rows import MIN_ROWS
from gridmon.errors import ConfigError

DEVICES = 8


def faults(columns: dict[str, Any], t: np.ndarray) -> None:
    """Device 5's voltage freezes 15–25 s (stuck), device 2's frequency jumps by 2 Hz at 18 s (impossible)."""
    dev = columns["device_idx"]
    columns["va"][(dev == 5) & (t >= 15) & (t < 25)] = 7200.0
    columns["freq_hz"][(dev == 2) & (t >= 18) & (t < 18.1)] += 2.0


def traffic(seconds: int = 40) -> list[dict[str, Any]]:
    """Devices 4–7 report from the start, 0–3 only from 10 s (rows are given out of device order); device 6
    is silent 20–30 s (a gap)."""
    batches = []
    for second, columns in enumerate(pmu_seconds(DEVICES, seconds, shape=faults)):
        dev = columns["device_idx"]
        keep = ~((second < 10) & (dev < 4)) & ~((second >= 20) & (second < 30) & (dev == 6))
        batches.append({name: values[keep] for name, values in columns.items()})
    return batches


def quality_state(bank: DetectorBank, devices: np.ndarray) -> dict[str, np.ndarray]:
    """Every field and table of the PMU kind's quality state, by device."""
    state = bank.quality.kinds["pmu"]
    fields = {name: state.get(name, devices) for name in state.arrays()}
    for table_name, table in state.tables().items():
        for column in table:
            saved = state.saved()[f"{table_name}.{column}"]
            values = np.full(len(devices), TABLE_FRESH[table_name][1], dtype=saved.dtype)
            row = state.row_of[devices]
            values[row >= 0] = saved[row[row >= 0]]
            fields[f"{table_name}.{column}"] = values
    return fields


def test_compact_quality_state_scores_exactly_like_a_row_per_device(
    make_bank: Callable[..., DetectorBank],
) -> None:
    batches = traffic()
    compact = make_bank(DEVICES)
    found = run(compact, iter(batches))
    flagged = {(a.device, a.metric) for a in found if a.category == "data_quality"}
    assert {("dev5", "va_stuck"), ("dev6", "gap"), ("dev2", "freq_hz_jump")} <= flagged
    assert compact.quality.kinds["pmu"].device[:4].tolist() == [4, 5, 6, 7]  # rows are not devices

    dense = make_bank(DEVICES)
    dense.quality.kinds["pmu"] = KindState(DEVICES, dense=True)
    assert run(dense, iter(batches)) == found
    everyone = np.arange(DEVICES)
    expected = quality_state(dense, everyone)
    got = quality_state(compact, everyone)
    assert got.keys() == expected.keys()
    for name, values in expected.items():
        assert np.array_equal(got[name], values, equal_nan=True), name


def test_quality_state_is_sized_by_the_devices_that_send_the_kind(
    make_bank: Callable[..., DetectorBank],
) -> None:
    bank = make_bank(5000)
    reporting = [10, 20, 4000]
    run(bank, only(reporting, pmu_seconds(5000, 8)))
    state = bank.quality.kinds["pmu"]
    assert state.size == 3 and sorted(state.device[:3].tolist()) == reporting
    assert len(state.last_ts) == MIN_ROWS and all(len(a) == MIN_ROWS for a in state.last_value.values())
    newest = bank.quality.newest_reading(np.array([10, 11]))
    assert newest[0] > 0 and newest[1] < 0  # device 11 never reported: NEVER


def only(devices: list[int], batches: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for columns in batches:
        keep = np.isin(columns["device_idx"], devices)
        yield {name: values[keep] for name, values in columns.items()}


def test_restore_and_adopt_carry_the_quality_rows(make_bank: Callable[..., DetectorBank]) -> None:
    batches = traffic(20)
    first = make_bank(DEVICES)
    run(first, iter(batches[:15]))
    restored = make_bank(DEVICES)
    restored.restore(first.snapshot())
    everyone = np.arange(DEVICES)
    for name, values in quality_state(first, everyone).items():
        assert np.array_equal(quality_state(restored, everyone)[name], values, equal_nan=True), name
    assert run(restored, iter(batches[15:])) == run(first, iter(batches[15:]))

    # a second worker saw devices 4–7 for 5 s only: it takes every device from the first, keeping its counts
    second = make_bank(DEVICES)
    run(second, only([4, 5, 6, 7], iter(batches[:5])))
    seen_before = second.quality.kinds["pmu"].get("seen", everyone)
    assert second.adopt(first.snapshot()) == DEVICES
    theirs, ours = quality_state(first, everyone), quality_state(second, everyone)
    assert np.array_equal(ours["seen"], seen_before)
    for name in theirs.keys() - {"seen"}:
        assert np.array_equal(ours[name], theirs[name], equal_nan=True), name


def test_a_snapshot_of_the_previous_format_is_refused(make_bank: Callable[..., DetectorBank]) -> None:
    import msgspec

    bank = make_bank(DEVICES)
    run(bank, iter(traffic(3)))
    old = msgspec.msgpack.decode(bank.snapshot())
    old["version"] = 5
    with pytest.raises(ConfigError, match="delete the snapshot or replay history"):
        make_bank(DEVICES).restore(msgspec.msgpack.encode(old))
