"""End-to-end performance benchmark of the real pipeline on the embedded stack (issue 9).

run_bench(BenchOptions(workload=Workload("medium"), workers=1)) → dict of figures (JSON-ready)
"""

from gridmon.bench.run import BenchOptions, run_bench
from gridmon.bench.workload import Workload

__all__ = ["BenchOptions", "Workload", "run_bench"]
