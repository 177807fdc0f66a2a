"""End-to-end pipeline benchmark (issue 9): throughput vs a raw consumer, latency at 50 % of max, memory; one vs
two workers; grid sizes (≈1k, 50k, 1M meters); a storm with many open outages.

Every case is `gridmon bench` (the real worker pipeline in spawned processes on the embedded stack), each in a
fresh data dir of its own. Run: `.venv/bin/python load_tests/bench_pipeline.py [--quick] [--cases
medium,two-workers,...]`; figures go to stdout (one JSON per case) and are merged by case into
docs/perf/pipeline-results.json (a case run later replaces its earlier figures), the chart to
docs/perf/pipeline.png (`--chart-only` redraws it from the JSON).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from gridmon.bench import BenchOptions, Workload, run_bench
from gridmon.settings import load_settings

DOCS = Path(__file__).resolve().parents[1] / "docs" / "perf"
CASES: dict[str, BenchOptions] = {
    # 30 min of backlog (~3.7M readings): a window of ~20 s; 10 min gave ~7 s, too short to trust
    "medium": BenchOptions(Workload("medium"), backlog_seconds=1800.0),  # unprofiled: reference of scaling
    "two-workers": BenchOptions(Workload("medium"), backlog_seconds=1800.0, workers=2, partitions=4),
    # ~1k meters make ~180 readings per event second: 2 hours of backlog give a window of seconds, not one
    "small": BenchOptions(Workload("small"), backlog_seconds=7200.0),
    # 1M meters read once a minute: 120 s of backlog is ~3.8M readings; the latency phase spans a whole AMI
    # collection (head-ends deliver an interval's reads over 30 s), or it sees only a burst or a lull
    "large": BenchOptions(Workload("large"), backlog_seconds=120.0, latency_seconds=60.0),
    "storm": BenchOptions(Workload("medium", "storm"), backlog_seconds=1800.0),
}


RESULTS = DOCS / "pipeline-results.json"


def run_case(name: str, backlog_seconds: float | None) -> dict[str, Any]:
    """One case in a fresh data dir (run_bench wipes `<data_dir>/bench`; two runs must never share one)."""
    options = CASES[name]
    if backlog_seconds is not None:
        options = BenchOptions(**{**options.__dict__, "backlog_seconds": backlog_seconds})
    data_dir = Path(tempfile.mkdtemp(prefix=f"gridmon-bench-{name}-"))
    try:
        result = run_bench(options, load_settings().model_copy(update={"data_dir": data_dir}))
    except Exception as exc:  # one failed case must not lose the figures of the others
        result = {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    return result | {"case": name, "finished_at": time.strftime("%Y-%m-%d %H:%M"), "commit": _commit()}


def _commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    return done.stdout.strip()


def run_cases(names: list[str], backlog_seconds: float | None) -> dict[str, Any]:
    results: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for name in names:
        results[name] = run_case(name, backlog_seconds)
        print(json.dumps(results[name]), flush=True)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    one, two = results.get("medium", {}), results.get("two-workers", {})
    if "pipeline_readings_per_s" in one and "pipeline_readings_per_s" in two:
        results["scaling_two_vs_one"] = round(
            two["pipeline_readings_per_s"] / one["pipeline_readings_per_s"], 2
        )
        print(json.dumps({"scaling_two_vs_one": results["scaling_two_vs_one"]}))
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    return results


def chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    preferred = [
        "small",
        "medium",
        "large",
        "storm",
        "two-workers",
    ]  # devices grow left to right, then the rest
    order = [n for n in preferred if n in results] + [n for n in results if n not in preferred]
    cases = [n for n in order if isinstance(results[n], dict) and "pipeline_readings_per_s" in results[n]]
    labels = [f"{c}\nload {max(results[c].get('load_avg', [0]))}" for c in cases]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.5))
    axes[0].bar(labels, [results[c]["pipeline_readings_per_s"] / 1000 for c in cases], label="pipeline")
    axes[0].axhline(100, color="red", linestyle="--", label="goal per worker")
    axes[0].set_title("throughput (k readings/s, all workers)")
    axes[0].legend()
    axes[1].bar(labels, [results[c]["latency_ms"]["p50"] for c in cases], label="p50")
    axes[1].plot(labels, [results[c]["latency_ms"]["p99"] for c in cases], "ko", label="p99")
    axes[1].axhline(1000, color="red", linestyle="--", label="p99 goal")
    axes[1].set_title("latency at 50 % of max (ms)")
    axes[1].legend()
    axes[2].bar(labels, [results[c]["peak_rss_mb"] for c in cases], label="peak")
    ready = [results[c].get("ready_rss_mb") for c in cases]
    axes[2].plot(labels, [r if r is not None else float("nan") for r in ready], "k_", ms=20, label="built")
    axes[2].axhline(1536, color="red", linestyle="--", label="1.5 GiB goal")
    axes[2].set_title("RSS per worker (MB): built, peak")
    axes[2].legend()
    for axis in axes:
        axis.tick_params(axis="x", labelsize=8)
    fig.suptitle(
        "gridmon pipeline on the embedded stack (2 cores shared with other engineers; load = 1-min avg)"
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, from {', '.join(CASES)}")
    parser.add_argument(
        "--backlog-seconds",
        type=float,
        help="event-time seconds per backlog (default: medium 1800, small 7200, large 120)",
    )
    parser.add_argument("--quick", action="store_true", help="medium only, short backlog (CI smoke run)")
    parser.add_argument(
        "--profile", action="store_true", help="also a cProfiled medium run (docs/perf/*.prof)"
    )
    parser.add_argument("--chart-only", action="store_true", help="redraw the chart from the saved JSON")
    args = parser.parse_args()
    if args.chart_only:
        results = json.loads(RESULTS.read_text())
    else:
        names = ["medium"] if args.quick else args.cases.split(",")
        if args.profile:
            CASES["medium-profiled"] = BenchOptions(Workload("medium"), profile_dir=DOCS)
            names.append("medium-profiled")
        results = run_cases(names, 60.0 if args.quick else args.backlog_seconds)
    chart(results, DOCS / "pipeline.png")


if __name__ == "__main__":
    main()
