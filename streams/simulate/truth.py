"""Ground truth out of the simulator: a JSON file beside the run, and rows in ClickHouse's `ground_truth` table.

The file holds the run's parameters too, so a report can be scored later without re-running the simulator.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from gridmon.errors import StorageError
from gridmon.simulate.scenario import GroundTruth

GROUND_TRUTH_TABLE = "ground_truth"
GROUND_TRUTH_COLUMNS = ("run_id", "id", "kind", "device", "zone", "start_ns", "end_ns", "detail")


class TruthFile(msgspec.Struct, kw_only=True):
    """What `--truth FILE` holds."""

    run_id: str
    scenario: str
    seed: int
    start_ns: int
    end_ns: int
    model: str
    faults: list[GroundTruth]
    skipped: list[str] = []
    stats: dict[str, int] = {}
    schema: str = "gridmon.ground_truth/1"


def write_truth_file(path: Path, truth: TruthFile) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(msgspec.json.format(msgspec.json.encode(truth), indent=2) + b"\n")
    return path


def read_truth_file(path: Path) -> TruthFile:
    try:
        return msgspec.json.decode(path.read_bytes(), type=TruthFile)
    except (OSError, msgspec.DecodeError) as exc:
        raise StorageError(f"cannot read the ground truth file {path}: {exc}") from None


def truth_detail(truth: GroundTruth) -> str:
    """The `detail` column: the fields the table has no column for, as JSON."""
    extra: dict[str, Any] = {"feeder": truth.feeder, "text": truth.detail}
    if truth.scope is not None:
        extra |= {"scope": truth.scope, "customers": truth.customers}
    if truth.parent:
        extra["parent"] = truth.parent
    if truth.steps:
        extra["steps"] = msgspec.to_builtins(truth.steps)
    return msgspec.json.encode(extra).decode()


def ground_truth_rows(run_id: str, truths: Sequence[GroundTruth]) -> list[tuple[Any, ...]]:
    return [(run_id, t.id, t.kind, t.device, t.zone, t.start_ns, t.end_ns, truth_detail(t)) for t in truths]


def write_ground_truth(
    client: Any, run_id: str, truths: Sequence[GroundTruth], table: str = GROUND_TRUTH_TABLE
) -> int:
    """Insert the run's ground truth (clickhouse-connect client, server or chdb); returns the rows written."""
    rows = ground_truth_rows(run_id, truths)
    if not rows:
        return 0
    try:
        client.insert(table, rows, column_names=list(GROUND_TRUTH_COLUMNS))
    except Exception as exc:  # clickhouse-connect raises its own DatabaseError family
        raise StorageError(
            f"could not write the ground truth to ClickHouse table {table!r}: {exc}; "
            "run `gridmon db migrate` to create the tables"
        ) from exc
    return len(rows)
