"""Grid model at scale: build, save, load and hot-path lookups on a generated network (default: large, ≈1M meters).

Goals: large builds in well under a minute and well under 1.5 GB RSS; lookups of a batch cost a dict get per id
and then numpy. Baseline for the lookups: a plain `dict.get` over the same ids (the least any id→int map costs).
Run: `.venv/bin/python load_tests/bench_grid.py [--size large] [--seed 1] [--batch 100000]`.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from gridmon.grid.generate import generate
from gridmon.grid.model import GridModel


def rss_mb() -> float:
    """Peak resident set size of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(label: str, function, *args):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = function(*args)
    print(f"{label:<38} {time.perf_counter() - start:8.2f} s   peak RSS {rss_mb():8.0f} MB")
    return result


def lookups(model: GridModel, batch: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    meters = model.indexes_of_kind("meter")
    ids = model.ids[rng.choice(meters, size=batch)].tolist()
    ids[::1000] = ["unknown-device"] * len(ids[::1000])  # bad ids map to -1, never raise
    start = time.perf_counter()
    index = {device: i for i, device in enumerate(model.ids.tolist())}
    build_dict = time.perf_counter() - start
    start = time.perf_counter()
    baseline = [index.get(device, -1) for device in ids]
    base = time.perf_counter() - start
    start = time.perf_counter()
    positions = model.index_of(ids)
    known = positions[positions >= 0]
    zones, feeders = model.zone_index[known], model.feeder_index[known]
    transformers = model.transformer_index[known]
    customers = model.customers_below_indexes(zones)
    ours = time.perf_counter() - start
    assert len(baseline) == len(positions) and len(zones) == len(feeders) == len(transformers) == len(
        customers
    )
    print(f"(dict built in {build_dict:.2f} s for the baseline)")
    print(f"batch of {batch:,} ids → index, zone, feeder, transformer, zone customers: {ours * 1e3:8.1f} ms")
    print(f"baseline dict.get over the same ids:                       {base * 1e3:8.1f} ms")
    print(f"ratio ours / baseline: {ours / base:.2f}   ({batch / ours:,.0f} readings/s)")
    start = time.perf_counter()
    sample = model.ids[rng.choice(meters, size=10_000)].tolist()
    for meter in sample:
        model.zone_of(meter)
        model.protective_upstream(meter)
    print(
        f"single lookups zone_of + protective_upstream: {(time.perf_counter() - start) / 1e4 * 1e6:.1f} µs per meter"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", default="large", choices=["small", "medium", "large"])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch", type=int, default=100_000)
    args = parser.parse_args()
    model = timed(f"generate {args.size}", lambda: generate(args.size, seed=args.seed))
    print(
        f"devices {len(model):,}  meters {len(model.indexes_of_kind('meter')):,}  "
        f"customers {int(model.customers.sum()):,}  zones {len(model.zones()):,}  ties {len(model.ties)}"
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "grid.model"
        timed("save", model.save, path)
        print(f"file size {path.stat().st_size / 2**20:.0f} MB")
        loaded = timed("load", GridModel.load, path)
    assert np.array_equal(loaded.zone_index, model.zone_index)
    rows = timed("dimension_rows", model.dimension_rows)
    print(f"dimension rows: {len(rows[0]):,} devices, {len(rows[1]):,} zones")
    del rows, loaded
    lookups(model, args.batch, args.seed)


if __name__ == "__main__":
    main()
