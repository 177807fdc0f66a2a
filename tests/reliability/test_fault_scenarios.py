"""The fastest fault scenarios of `make reliability` on real parts (worker processes, embedded broker, chdb):
kill -9 mid-batch and restart, and poison messages at a high rate: nothing lost, nothing doubled."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridmon.kafka.embedded import EmbeddedBroker
from load_tests.reliability import Scenario, run_kill9, run_poison


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
