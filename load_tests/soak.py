"""Soak run (issue 9): the real pipeline at 50 % of its measured maximum for `--soak-seconds` (600 = the
10-minute soak; CI uses the shorter default), sampling worker RSS and consumer lag to show both stay flat.

Run: `.venv/bin/python load_tests/soak.py [--soak-seconds 600] [--size medium]` (in a fresh data dir of its own);
JSON to stdout and to docs/perf/soak-results.json, chart to docs/perf/soak.png.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from gridmon.bench import BenchOptions, Workload, run_bench
from gridmon.settings import load_settings

DOCS = Path(__file__).resolve().parents[1] / "docs" / "perf"


def chart(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = result["soak"]["samples"]
    t = [s["t_s"] for s in samples]
    fig, rss_axis = plt.subplots(figsize=(8, 3.5))
    rss_axis.plot(t, [s["rss_mb"] for s in samples], "b-", label="worker RSS (MB)")
    if samples and "chdb_tracked_mb" in samples[0]:
        rss_axis.plot(t, [s["chdb_tracked_mb"] for s in samples], "c--", label="of which chdb (MB)")
        rss_axis.legend(loc="lower left", fontsize=8)
    rss_axis.set_xlabel("seconds")
    rss_axis.set_ylabel("RSS (MB)", color="b")
    rss_axis.set_ylim(bottom=0)
    lag_axis = rss_axis.twinx()
    lag_axis.plot(t, [s["lag_messages"] for s in samples], "r.", label="lag (messages)")
    lag_axis.set_ylabel("lag (messages)", color="r")
    lag_axis.set_ylim(bottom=0)
    if samples and "load_avg" in samples[0]:  # the machine is shared: show what else ran
        load_axis = rss_axis.twinx()
        load_axis.spines["right"].set_position(("outward", 50))
        load_axis.plot(t, [s["load_avg"] for s in samples], "g:", label="load average")
        load_axis.set_ylabel("load avg", color="g")
        load_axis.set_ylim(bottom=0)
    soak = result["soak"]
    fig.suptitle(
        f"soak at {soak['readings_per_s_sent']:,} readings/s: RSS {soak['rss_mb_per_min_after_warmup']:+} MB/min"
        f" after warm-up, lag {soak['lag_messages_per_min']:+} msgs/min"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--soak-seconds", type=float, default=120.0)
    parser.add_argument("--size", default="medium")
    parser.add_argument("--rate-fraction", type=float, default=0.5)
    args = parser.parse_args()
    options = BenchOptions(
        Workload(args.size),
        backlog_seconds=1800.0,  # the maximum that sets "50 %" needs a throughput window of many seconds
        latency_seconds=10.0,
        rate_fraction=args.rate_fraction,
        soak_seconds=args.soak_seconds,
    )
    data_dir = Path(tempfile.mkdtemp(prefix="gridmon-soak-"))
    try:
        result = run_bench(options, load_settings().model_copy(update={"data_dir": data_dir}))
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    print(json.dumps(result, indent=2))
    DOCS.mkdir(parents=True, exist_ok=True)
    (DOCS / "soak-results.json").write_text(json.dumps(result, indent=2) + "\n")
    chart(result, DOCS / "soak.png")


if __name__ == "__main__":
    main()
