"""PMU batches for the store tests, importable by a unique name (`from conftest import …` collides with the
other test folders' conftest modules in one pytest run)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

PMU_COLUMNS = [
    "device", "ts", "freq_hz", "rocof_hz_s", "va", "vb", "vc", "va_angle", "vb_angle", "vc_angle",
    "ia", "ib", "ic", "ia_angle", "ib_angle", "ic_angle", "status", "sent_ns", "_topic", "_partition", "_offset",
]  # fmt: skip
# A whole hour before the test run: inside every retention window (raw PMU rows live 14 days).
BASE_NS = (time.time_ns() // 3_600_000_000_000 - 1) * 3_600_000_000_000


def pmu_batch(topic: str, partition: int, first: int, last: int, rows_per_message: int = 2) -> dict[str, Any]:
    """Columns as the ingest makes them for messages first..last, `rows_per_message` readings each;
    every reading is unique (device by row, event time by offset) so rows can be counted per offset."""
    offsets = np.repeat(np.arange(first, last + 1, dtype=np.int64), rows_per_message)
    within = np.tile(np.arange(rows_per_message), last - first + 1)
    n = len(offsets)
    columns: dict[str, Any] = {name: np.full(n, 1.0) for name in PMU_COLUMNS}
    columns["device"] = [f"pmu-{partition}-{i}" for i in within]
    columns["ts"] = BASE_NS + offsets * 33_333_333 + partition
    columns["freq_hz"] = 50.0 + offsets / 1e4
    columns["va"] = np.where(within == 0, np.nan, 230.0)
    columns["status"] = np.zeros(n, dtype=np.int64)
    columns["sent_ns"] = columns["ts"] + 1_000_000
    columns["_topic"] = [topic] * n
    columns["_partition"] = np.full(n, partition, dtype=np.int32)
    columns["_offset"] = offsets
    return columns


def concat(*batches: dict[str, Any]) -> dict[str, Any]:
    """Several partitions' columns as one batch."""
    joined: dict[str, Any] = {}
    for name in PMU_COLUMNS:
        parts = [batch[name] for batch in batches]
        joined[name] = np.concatenate(parts) if isinstance(parts[0], np.ndarray) else sum(parts, [])
    return joined
