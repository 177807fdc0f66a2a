"""End-to-end pipeline benchmark (issue 9): throughput vs a raw consumer, latency at 50 % of max, memory; one vs
two workers; grid sizes (≈1k, 50k, 1M meters); a storm with many open outages.

Every case is `gridmon bench` (the real worker pipeline in spawned processes on the embedded stack).
Run: `.venv/bin/python load_tests/bench_pipeline.py [--quick] [--cases medium,two-workers,...]`; figures go
to stdout (one JSON per case) and to docs/perf/pipeline-results.json, the chart to docs/perf/pipeline.png.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from gridmon.bench import BenchOptions, Workload, run_bench

DOCS = Path(__file__).resolve().parents[1] / "docs" / "perf"
CASES: dict[str, BenchOptions] = {
    "medium": BenchOptions(Workload("medium"), profile_dir=DOCS),
    "two-workers": BenchOptions(Workload("medium"), workers=2, partitions=4),
    "small": BenchOptions(Workload("small")),
    "large": BenchOptions(Workload("large")),
    "storm": BenchOptions(Workload("medium", "storm")),
}


def run_cases(names: list[str], backlog_seconds: float) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name in names:
        options = CASES[name]
        options = BenchOptions(**{**options.__dict__, "backlog_seconds": backlog_seconds})
        try:
            results[name] = run_bench(options)
        except Exception as exc:  # one failed case must not lose the figures of the others
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps({"case": name, **results[name]}), flush=True)
        (DOCS / "pipeline-results.json").write_text(json.dumps(results, indent=2) + "\n")
    if "medium" in results and "two-workers" in results:
        one, two = results["medium"], results["two-workers"]
        scaling = two["pipeline_readings_per_s"] / one["pipeline_readings_per_s"]
        results["scaling_two_vs_one"] = round(scaling, 2)
        print(json.dumps({"scaling_two_vs_one": results["scaling_two_vs_one"]}))
    return results


def chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = [name for name in results if isinstance(results[name], dict) and "error" not in results[name]]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    axes[0].bar(cases, [results[c]["pipeline_readings_per_s"] / 1000 for c in cases], label="pipeline")
    axes[0].axhline(100, color="red", linestyle="--", label="goal per worker")
    axes[0].set_title("throughput (k readings/s)")
    axes[0].legend()
    axes[1].bar(cases, [results[c]["latency_ms"]["p50"] for c in cases], label="p50")
    axes[1].plot(cases, [results[c]["latency_ms"]["p99"] for c in cases], "ko", label="p99")
    axes[1].axhline(1000, color="red", linestyle="--", label="p99 goal")
    axes[1].set_title("latency at 50 % of max (ms)")
    axes[1].legend()
    axes[2].bar(cases, [results[c]["peak_rss_mb"] for c in cases])
    axes[2].axhline(1536, color="red", linestyle="--")
    axes[2].set_title("peak RSS per worker (MB)")
    for axis in axes:
        axis.tick_params(axis="x", rotation=30)
    fig.suptitle("gridmon pipeline on the embedded stack (2 shared cores)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, from {', '.join(CASES)}")
    parser.add_argument("--backlog-seconds", type=float, default=300.0, help="event-time seconds per backlog")
    parser.add_argument("--quick", action="store_true", help="medium only, short backlog (CI smoke run)")
    args = parser.parse_args()
    names = ["medium"] if args.quick else args.cases.split(",")
    results = run_cases(names, 60.0 if args.quick else args.backlog_seconds)
    chart(results, DOCS / "pipeline.png")


if __name__ == "__main__":
    main()
