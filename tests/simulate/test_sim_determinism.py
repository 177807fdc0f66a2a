"""The simulator is deterministic by seed: same seed → same bytes; another seed → other faults and bytes."""

from __future__ import annotations

from typing import Any

from gridmon.simulate import Simulator


def _run(model: Any, seed: int, start_ns: int) -> tuple[list[tuple[str, bytes, bytes]], list[Any]]:
    simulator = Simulator(model, "mixed", seed=seed, start_ns=start_ns, duration_s=40.0)
    messages = [message for batch in simulator.batches() for message in batch.messages]
    return messages, simulator.truths


def test_same_seed_gives_the_same_bytes(grid_model: Any, run_start_ns: int) -> None:
    first, first_truth = _run(grid_model, 11, run_start_ns)
    second, second_truth = _run(grid_model, 11, run_start_ns)
    assert len(first) > 100
    assert first == second
    assert first_truth == second_truth


def test_another_seed_differs(grid_model: Any, run_start_ns: int) -> None:
    first, first_truth = _run(grid_model, 11, run_start_ns)
    other, other_truth = _run(grid_model, 12, run_start_ns)
    assert first != other
    assert [t.device for t in first_truth] != [t.device for t in other_truth]


def test_batches_are_in_delivery_order_and_cover_the_run(grid_model: Any, run_start_ns: int) -> None:
    simulator = Simulator(grid_model, "pmu", seed=3, start_ns=run_start_ns, duration_s=20.0)
    batches = list(simulator.batches())
    untils = [batch.until_ns for batch in batches]
    assert untils == sorted(untils)
    assert untils[-2] == simulator.end_ns  # the last batch holds what is delivered after the run
    readings = sum(sum(batch.readings) for batch in batches)
    assert readings == sum(
        v for k, v in simulator.stats.items() if k.endswith("_readings") and "duplicate" not in k
    )
