"""The fastest fault scenarios of `make reliability` on real parts (worker processes, embedded broker, chdb):
kill -9 mid-batch and restart, poison messages at a high rate, two workers with one killed."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridmon.kafka.embedded import EmbeddedBroker
from load_tests.reliability import READINGS_PER_MESSAGE, Scenario, run_kill9, run_poison, run_two_workers


@pytest.mark.timeout(400)
def test_kill_9_mid_batch_then_restart_loses_nothing_and_doubles_nothing(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    row = run_kill9(Scenario("kill9", broker.bootstrap, tmp_path, messages=120))
    assert row.produced == 12_000
    assert (row.stored, row.lost, row.duplicated) == (12_000, 0, 0)
    assert "detector" in row.note and "outages" in row.note  # the restarted worker restored its state


@pytest.mark.timeout(300)
def test_poison_at_a_high_rate_is_dead_lettered_and_good_data_still_stored(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    row = run_poison(Scenario("poison", broker.bootstrap, tmp_path, messages=100, poison_every=2))
    assert row.produced == 10_000 + 50
    assert (row.stored, row.dead_lettered, row.lost, row.duplicated) == (10_000, 50, 0, 0)
    assert "0 crashes" in row.note


@pytest.mark.timeout(400)
def test_two_workers_one_killed_the_survivor_takes_over_and_nothing_is_lost(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    """Two real `gridmon worker`s, each with its own chdb folder; kill -9 one mid-run.

    Separate folders share no offset high-water, so a batch the killed worker stored but the group had not
    committed is stored again by the survivor: such duplicates are allowed, but only inside that window.
    """
    row = run_two_workers(Scenario("two", broker.bootstrap, tmp_path, messages=160, poison_every=20), 10.0)
    extra = row.extra
    assert extra["producing_at_kill"]  # killed under load, not after it
    assert row.produced == 16_000 + 8
    assert (row.stored, row.dead_lettered, row.lost) == (16_000, 8, 0)
    assert extra["moved_partitions"] >= 1  # the killed worker held input partitions, the survivor took them
    assert extra["duplicated_within"] == 0  # each folder's sink stayed exactly-once
    assert extra["duplicated_uncommitted"] == extra["duplicated_messages"]
    assert row.duplicated == extra["duplicated_messages"] * READINGS_PER_MESSAGE
    # State is per worker id: the killed worker's checkpoint is in its own folder, the survivor has only its own.
    assert {("w2", "detector"), ("w2", "outages")} <= set(map(tuple, extra["checkpoints"]["w2"]))
    assert {w for w, _ in extra["checkpoints"]["w1"]} == {"w1"}
