"""The memory breakdown of a worker: arrays attributed by path (once each, views not counted) and RSS per step."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

from gridmon.bench.memory import array_footprint, largest, memory_steps
from gridmon.settings import Settings


@dataclass
class Inner:
    window: np.ndarray = field(default_factory=lambda: np.zeros((10, 4)))


@dataclass
class Outer:
    inner: Inner = field(default_factory=Inner)
    columns: dict[str, np.ndarray] = field(default_factory=lambda: {"a": np.zeros(5, dtype=np.int32)})


def test_footprint_names_each_array_by_path_and_counts_shared_and_view_arrays_once() -> None:
    outer = Outer()
    outer.columns["again"] = outer.inner.window  # the same buffer reached twice
    outer.columns["view"] = outer.inner.window[:2]  # a view owns no buffer
    found = array_footprint(outer, "bank", modules=(__name__,))
    assert found == {"bank.inner.window": 320, "bank.columns['a']": 20}
    assert largest(found, top=1) == [("bank.inner.window", 0.0), ("(others)", 0.0)]


def test_memory_steps_build_a_small_worker_feed_it_and_attribute_its_arrays(settings: Settings) -> None:
    report = memory_steps(settings, "small", traffic_s=5)
    names = [step.step for step in report.steps]
    assert names[1] == "generate('small')" and any("DetectorBank" in name for name in names)
    assert names[-1].startswith("5 s of simulated traffic")
    assert all(step.rss_mb > 0 and step.seconds >= 0 for step in report.steps)
    detector = report.arrays["detector"]
    assert detector and all(path.startswith("detector.") for path in detector)
    assert sum(report.arrays["ingest.meter"].values()) > 0  # the duplicate memory of fed meter reads
    summary = report.summary(top=3)
    assert len(summary["arrays_mb"]["detector"]["largest"]) == 4  # the top 3 and "(others)"


def test_a_bench_worker_splits_its_rss_into_chdb_and_the_rest(settings: Settings) -> None:
    from gridmon.bench.worker import memory_split
    from gridmon.store.client import connect

    split = memory_split(connect(settings))
    assert split["chdb_tracked_mb"] > 0 and split["rest_mb"] > 0
    assert split["rss_mb"] == pytest.approx(split["chdb_tracked_mb"] + split["rest_mb"], abs=0.2)
