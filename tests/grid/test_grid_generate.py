"""Generated feeders: deterministic by seed, sized, with the structure the correlator and simulator rely on."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from gridmon.errors import GridModelError
from gridmon.grid.generate import generate
from gridmon.grid.model import GridModel


def test_same_seed_same_model_other_seed_differs() -> None:
    a, b, c = generate("small", seed=7), generate("small", seed=7), generate("small", seed=8)
    assert a.dimension_rows()[1] == b.dimension_rows()[1]
    assert list(a.ids) == list(b.ids)
    assert np.array_equal(a.customers, b.customers)
    assert list(a.ids) != list(c.ids) or not np.array_equal(a.customers, c.customers)


@pytest.mark.parametrize(("size", "low", "high"), [("small", 800, 1_300), ("medium", 40_000, 60_000)])
def test_sizes(size: str, low: int, high: int) -> None:
    meters = len(generate(size, seed=1).indexes_of_kind("meter"))
    assert low <= meters <= high


def test_structure_is_realistic() -> None:
    model = generate("small", seed=3)
    kinds = Counter(model.device(d).kind.value for d in model.ids)
    assert kinds["substation"] == 1 and kinds["breaker"] == 4
    assert kinds["recloser"] >= 2 and kinds["fuse"] >= 10 and kinds["pmu"] == 5 and kinds["sensor"] >= 1
    for meter in model.devices_of_kind("meter")[::97]:
        path = [model.kind_of(d).value for d in model.upstream(meter)]
        assert path[0] == "transformer" and path[-1] == "substation"
        assert "fuse" in path and "breaker" in path
        assert model.zone_of(meter) == model.protective_upstream(meter)[0]
    assert len(model.ties) == 4  # a ring of ties between neighbouring feeders
    tie = model.ties[0]
    assert model.feeder_of(tie.a_end) != model.feeder_of(tie.b_end)
    assert model.customers_below(tie.id) == 0
    head = model.devices_of_kind("breaker")[0]
    assert model.monitored_by(head) == [head, f"{head.removesuffix('-BRK')}-PMU"]
    assert model.customers_below("S01") == int(model.customers.sum())


def test_unknown_size_is_a_clear_error() -> None:
    with pytest.raises(GridModelError, match="small, medium, large"):
        generate("huge")


def test_medium_round_trips_through_a_file(tmp_path: Path) -> None:
    model = generate("medium", seed=2)
    loaded = GridModel.load(model.save(tmp_path / "m.model"))
    meters = model.devices_of_kind("meter")[::501]
    assert [loaded.zone_of(m) for m in meters] == [model.zone_of(m) for m in meters]
    assert np.array_equal(loaded.zone_index, model.zone_index)
