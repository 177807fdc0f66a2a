"""Finding a device's row: binary search while few devices have rows, a registry-sized map once many do."""

from __future__ import annotations

import numpy as np

from gridmon.detect.baseline import EwmaState
from gridmon.detect.rows import DENSE_MAP_FRACTION


def test_rows_stay_the_same_when_the_lookup_switches_to_a_map() -> None:
    devices = 64_000
    state = EwmaState(devices, dense=False)
    rng = np.random.default_rng(3)
    few = rng.choice(devices, 50, replace=False)
    rows = state.rows(few)
    state.mean[rows] = few * 0.5
    assert state.lookup(few[:2]).tolist() == rows[:2].tolist()
    assert state.get("mean", few).tolist() == (few * 0.5).tolist()

    many = np.setdiff1d(np.arange(devices), few)[: int(devices * DENSE_MAP_FRACTION) + 10]
    more = state.rows(many)  # past the fraction: found by a map from now on
    assert state.rows(few).tolist() == rows.tolist() and state.rows(many).tolist() == more.tolist()
    assert state.get("mean", few).tolist() == (few * 0.5).tolist()
    absent = np.setdiff1d(np.arange(devices), np.concatenate([few, many]))[:5]
    assert state.lookup(absent).tolist() == [-1] * 5
    row_of = state.row_of
    assert row_of[few].tolist() == rows.tolist() and (row_of >= 0).sum() == state.size


def test_a_loaded_state_finds_its_rows_either_way() -> None:
    for reporting in (np.array([9, 3, 700]), np.arange(0, 1000, 2)):
        state = EwmaState(1000, dense=False)
        rows = state.rows(reporting)  # may grow the arrays: take them after
        state.count[rows] = reporting + 1
        loaded = EwmaState(1000, dense=False)
        loaded.load(state.saved())
        assert loaded.get("count", reporting).tolist() == (reporting + 1).tolist()
        assert loaded.lookup(np.array([1])).tolist() == [-1]
