"""The fastest fault scenarios of `make reliability` on real parts (worker processes, embedded broker, chdb):
kill -9 mid-batch and restart, poison messages at a high rate, two workers with one killed."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridmon.kafka.embedded import EmbeddedBroker
from load_tests.reliability import Scenario, run_kill9, run_poison, run_two_workers


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
def test_two_workers_one_killed_the_survivor_takes_over_and_nothing_is_lost_or_doubled(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    """Two real `gridmon worker`s sharing one store through `gridmon store serve`; kill -9 one mid-run.

    The batches the killed worker stored but the group had not committed reach the survivor again; its
    sink reads the shared offset high-water and drops them, as on a ClickHouse server. Devices are keyed by
    gateway and street outages span the kill: the survivor adopts the killed worker's checkpointed state and
    continues its alarms (same ids), so no anomaly or outage is raised twice and every outage closes.
    """
    scenario = Scenario("two", broker.bootstrap, tmp_path, messages=160, poison_every=20, gateways=True)
    row = run_two_workers(scenario, 10.0)
    extra = row.extra
    assert extra["producing_at_kill"]  # killed under load, not after it
    assert row.produced == scenario.produced_valid + 8
    assert (row.stored, row.dead_lettered, row.lost, row.duplicated) == (scenario.produced_valid, 8, 0, 0)
    assert extra["moved_partitions"] >= 1  # the killed worker held input partitions, the survivor took them
    assert extra["adopted"].get("detector", 0) > 0  # its devices' state, from its checkpoint
    assert extra["adopted"].get("outages", 0) >= 1  # it was killed holding open outages: they moved
    assert extra["outages"] == len(scenario.outage_devices) and extra["unclosed_outages"] == 0
    assert (extra["re_raised_anomalies"], extra["re_raised_outages"]) == (0, 0)
