"""The benchmark's arithmetic: the busy window of several workers, throughput over it, latency percentiles."""

from __future__ import annotations

import pytest

from gridmon.bench.stats import merge_histograms, percentiles, slope_per_minute, throughput
from gridmon.bench.worker import Snapshot


def series(worker: int, points: list[tuple[float, int]]) -> list[Snapshot]:
    return [Snapshot(worker, t, messages, messages * 10, {}, 100.0, 100.0, 0) for t, messages in points]


def test_throughput_counts_only_the_window_where_every_worker_is_busy() -> None:
    # worker 0 starts at t=1 and runs out of work at t=6; worker 1 starts late (t=3) and works to t=9
    early = series(
        0, [(0, 0), (1, 100), (2, 200), (3, 300), (4, 400), (5, 500), (6, 600), (7, 600), (8, 600)]
    )
    late = series(1, [(0, 0), (2, 0), (3, 50), (4, 100), (5, 150), (6, 200), (7, 250), (8, 300), (9, 350)])
    measured = throughput([early, late])
    assert measured.window_s == pytest.approx(3.0)  # t = 3 … 6
    assert measured.messages_per_s == pytest.approx((300 + 150) / 3)
    assert measured.readings_per_s == pytest.approx(10 * (300 + 150) / 3)


def test_a_worker_that_processed_nothing_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="processed nothing"):
        throughput([series(0, [(0, 0), (1, 0)])])


def test_percentiles_of_a_millisecond_histogram() -> None:
    histogram = merge_histograms([{10: 50, 20: 40}, {20: 5, 900: 5}])
    assert percentiles(histogram) == {"p50": 10.0, "p95": 20.0, "p99": 900.0}


def test_slope_per_minute_is_flat_for_constant_memory_and_positive_for_growth() -> None:
    t = [0.0, 10.0, 20.0, 30.0]
    assert slope_per_minute(t, [500.0] * 4) == pytest.approx(0.0)
    assert slope_per_minute(t, [500.0, 510.0, 520.0, 530.0]) == pytest.approx(60.0)


def test_the_window_starts_when_the_first_batch_reached_the_stages_not_when_it_was_done() -> None:
    # one big batch from t=1 to t=4 (counter jumps at 4), then steady to t=8; the first batch's work counts
    snapshots = [
        Snapshot(0, t, messages, messages, {}, 1.0, 1.0, 0, started_t=1.0)
        for t, messages in [(0, 0), (1, 0), (2, 0), (3, 0), (4, 300), (5, 400), (6, 500), (7, 600), (8, 600)]
    ]
    measured = throughput([snapshots])
    assert measured.window_s == pytest.approx(6.0)  # t = 1 … 7
    assert measured.messages_per_s == pytest.approx(600 / 6)
