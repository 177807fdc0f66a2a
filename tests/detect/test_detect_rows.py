"""Compact detector state: rows only for the devices that report, with the same results as a row per device."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from detect_synthetic import pmu_seconds, run

from gridmon.detect import DetectorBank
from gridmon.detect.baseline import EwmaState
from gridmon.detect.lifecycle import Channel
from gridmon.detect.rows import MIN_ROWS


def only(devices: set[int], batches: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for columns in batches:
        keep = np.isin(columns["device_idx"], list(devices))
        yield {name: values[keep] for name, values in columns.items()}


def late_starters(t_split: int = 15) -> list[dict[str, Any]]:
    """Devices 3–5 report from the start, 0–2 only from `t_split`; device 4 sags 20–24 s (anomalies)."""

    def sag(columns: dict[str, Any], t: np.ndarray) -> None:
        hit = (columns["device_idx"] == 4) & (t >= 20) & (t < 24)
        for phase in ("va", "vb", "vc"):
            columns[phase][hit] *= 0.85

    batches = list(pmu_seconds(6, 40, shape=sag))
    return list(only({3, 4, 5}, iter(batches[:t_split]))) + batches[t_split:]


def test_rows_are_given_on_first_sight_and_survive_growth() -> None:
    state = EwmaState(100_000, dense=False)
    first = state.rows(np.array([90_000, 90_000, 5]))
    assert first.tolist() == [1, 1, 0] and state.size == 2  # new devices get rows in device order
    state.mean[first] = [1.5, 1.5, -2.0]
    state.long_run_var[2, first] = 7.0
    many = np.arange(10_000, 10_000 + 3 * MIN_ROWS)
    state.rows(many)  # grows the arrays several times
    assert state.size == 2 + len(many) and len(state.count) < 100_000
    assert state.get("mean", np.array([5, 90_000, 10_000])).tolist() == [-2.0, 1.5, 0.0]
    assert state.get("long_run_var", np.array([90_000, 7]))[2].tolist() == [7.0, 1.0]  # 7: no row, fresh
    assert state.get("interval_s", 7) != state.get("interval_s", 7)  # NaN: a fresh device's value
    assert state.row_of[7] == -1  # reading made no row


def test_compact_state_scores_exactly_like_a_row_per_device(make_bank: Callable[..., DetectorBank]) -> None:
    """Rows given in order of arrival (devices 3–5 first) change nothing: the same anomalies and the same
    learned baselines as banks whose state holds a row per device index."""
    batches = late_starters()
    compact = make_bank(6, zones=1)  # one zone: the peer checks run too
    found = run(compact, iter(batches))
    assert any(a.device == "dev4" for a in found)
    assert compact.baseline.state("freq_hz").device[:3].tolist() == [3, 4, 5]  # rows are not devices
    assert compact.baseline.state("va_peer_pu").has("block_sum")

    dense = make_bank(6, zones=1)
    for metric in compact.baseline.states:
        dense.baseline.states[metric] = EwmaState(6, dense=True)
    for key, channel in compact.lifecycle.channels.items():
        dense.lifecycle.channels[key] = Channel(channel.spec, 6, dense=True)
    assert run(dense, iter(batches)) == found
    everyone = np.arange(6)
    for metric, state in compact.baseline.states.items():
        for name, expected in dense.baseline.states[metric].arrays().items():
            assert np.array_equal(state.get(name, everyone), expected, equal_nan=True), (metric, name)


def test_state_is_sized_by_the_devices_that_report(make_bank: Callable[..., DetectorBank]) -> None:
    bank = make_bank(5000)
    run(bank, only({10, 20, 4000}, pmu_seconds(5000, 12)))
    assert bank.baseline.state("freq_hz").size == 3
    assert len(bank.baseline.state("freq_hz").count) == MIN_ROWS  # not 5000
    assert {channel.size for channel in bank.lifecycle.channels.values()} == {3}
    assert bank.baseline.state("voltage_v").size == 0  # a sensor and meter metric: no PMU has a row


def test_snapshot_restores_the_rows_and_adopting_moves_them(make_bank: Callable[..., DetectorBank]) -> None:
    mine = make_bank(6)
    run(mine, only({1, 5}, pmu_seconds(6, 12)))
    theirs = make_bank(6)
    run(theirs, only({1, 2}, pmu_seconds(6, 12, start_s=12, seed=1)))

    restored = make_bank(6)
    restored.restore(theirs.snapshot())
    assert restored.snapshot() == theirs.snapshot()

    assert mine.adopt(theirs.snapshot()) == 2  # devices 1 and 2: they saw them more recently
    for metric, state in theirs.baseline.states.items():
        for name in state.arrays():
            moved = mine.baseline.state(metric).get(name, np.array([1, 2]))
            assert np.array_equal(moved, state.get(name, np.array([1, 2])), equal_nan=True)
    assert mine.baseline.state("freq_hz").get("count", 5) > 0  # its own device stays


def test_adopting_a_device_they_hold_no_row_for_makes_it_fresh() -> None:
    ours, theirs = EwmaState(10, dense=False), EwmaState(10, dense=False)
    ours_rows, their_rows = ours.rows(np.array([2, 3])), theirs.rows(np.array([1, 2]))
    ours.count[ours_rows], theirs.count[their_rows] = [5, 6], [7, 8]
    taken = np.zeros(10, dtype=bool)
    taken[[1, 3]] = True  # 1: theirs has a row; 3: theirs has none (its state is a fresh one)
    ours.adopt(theirs.saved(), taken)
    assert ours.get("count", np.array([1, 2, 3])).tolist() == [7, 5, 0]


def test_a_metric_holds_only_the_fields_its_checks_use(make_bank: Callable[..., DetectorBank]) -> None:
    bank = make_bank(6, zones=1)  # six neighbours: enough for the peer median
    run(bank, iter(late_starters()))
    level, step, peer = (bank.baseline.state(m) for m in ("freq_hz", "freq_hz_step", "va_peer_pu"))
    assert not level.has("block_sum") and not level.has("last_value") and level.has("mean")
    assert step.has("last_value") and not step.has("cusum_up")
    assert peer.has("block_sum") and peer.has("cusum_up")
    assert level.get("long_run_var", np.array([0, 1])).tolist() == [[1.0, 1.0]] * 4  # fresh, not made
    restored = make_bank(6, zones=1)
    restored.restore(bank.snapshot())
    assert set(restored.baseline.state("freq_hz").arrays()) == set(level.arrays())
    assert restored.snapshot() == bank.snapshot()


def test_adopting_fields_one_side_never_made() -> None:
    ours, theirs = EwmaState(10, dense=False), EwmaState(10, dense=False)
    ours_rows, their_rows = ours.rows(np.array([1, 2])), theirs.rows(np.array([1, 2]))
    ours.cusum_up[ours_rows] = [3.0, 4.0]  # only ours made the CUSUM; only theirs the step's last value
    theirs.last_value[their_rows] = [5.0, 6.0]
    taken = np.zeros(10, dtype=bool)
    taken[1] = True
    ours.adopt(theirs.saved(), taken)
    assert ours.get("cusum_up", np.array([1, 2])).tolist() == [0.0, 4.0]  # theirs: fresh
    assert ours.get("last_value", np.array([1, 2])).tolist()[0] == 5.0
    assert np.isnan(ours.get("last_value", 2))


def test_feedback_scales_are_made_by_the_first_label(make_bank: Callable[..., DetectorBank]) -> None:
    bank = make_bank(6)
    found = run(bank, iter(late_starters()))
    channels = bank.lifecycle.channels.values()
    assert not any(c.has("threshold_scale") or c.has("min_on_scale") for c in channels)
    labelled = next(a for a in found if a.device == "dev4")
    assert bank.label(labelled.id, "false_alarm")
    channel = bank.lifecycle.channels[(labelled.detector, labelled.metric)]
    assert channel.get("threshold_scale", np.array([4, 3, 0])).tolist() == [1.25, 1.0, 1.0]
    assert channel.get("min_on_scale", np.array([4, 3])).tolist() == [2.0, 1.0]


def test_class_settings_index_like_per_device_arrays() -> None:
    from gridmon.detect.context import PerClass

    levels = PerClass(np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]), np.array([1, 0, 1, 1]))
    dense = np.array([[4.0, 5.0, 6.0], [1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [4.0, 5.0, 6.0]])
    dev = np.array([3, 1, 1, 0])
    assert np.array_equal(levels[dev], dense[dev])
    assert np.array_equal(levels[dev, 0], dense[dev, 0]) and np.array_equal(levels[dev, :1], dense[dev, :1])
    assert np.array_equal(levels.map(lambda t: t * 2)[dev], dense[dev] * 2)
    first = levels.map(lambda t: t[:, 0])
    assert np.array_equal(PerClass.stack([first, first])[dev, 1], dense[dev, 0])
    assert levels.map(lambda t: t > 5).any() and not levels.map(lambda t: t > 6).any()
