"""Four stages insert at once into embedded ClickHouse: one shared client (calls queue) against a lane per table.

`python load_tests/bench_lanes.py [--rounds 40] [--data-dir /tmp/lanes]` ingests 40 s of the simulator's medium
`mixed` traffic in batches the size the worker makes at ~50 % load, then times rounds of four concurrent raw
inserts (PMU, sensor, meter, SCADA; one thread each, as the stages' `asyncio.to_thread` writes run), alternating
shared and laned rounds so that both see the same machine load. Prints median and p90 ms per round.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from gridmon.bench.workload import Workload
from gridmon.grid.generate import generate
from gridmon.ingest import IngestProcessor
from gridmon.ingest.messages import RawMessage
from gridmon.settings import load_settings
from gridmon.store.client import close_all, connect, lane_of
from gridmon.store.migrations import migrate
from gridmon.store.sink import BatchSink, OffsetRange
from gridmon.store.tables import RAW_TABLES

MESSAGES_PER_BATCH = {"pmu": 300, "sensor": 150, "meter": 30, "scada": 5}  # ~0.3 s of traffic at 50 %


def ingested_batches(settings: Any) -> dict[str, list[tuple[dict[str, Any], list[RawMessage]]]]:
    model = generate("medium", seed=1)
    messages: dict[str, list[RawMessage]] = {}
    start_ns = time.time_ns() - 3600 * 10**9
    for chunk in Workload("medium", seed=1).simulator(40, start_ns, chunk_s=1.0).batches():
        for topic, key, value in chunk.messages:
            kind = topic.removeprefix("grid.")
            messages.setdefault(kind, []).append(
                RawMessage(topic, 0, len(messages.get(kind, [])), value, key)
            )
    batches: dict[str, list[tuple[dict[str, Any], list[RawMessage]]]] = {}
    for kind, found in messages.items():
        processor, size = IngestProcessor(kind, settings, model), MESSAGES_PER_BATCH[kind]
        parts = [found[i : i + size] for i in range(0, len(found), size)]
        batches[kind] = [(processor.process(part).columns, part) for part in parts]
    return batches


def sinks(client: Any, batches: dict[str, Any], *, lanes: bool) -> dict[str, BatchSink]:
    found = {}
    for kind, kind_batches in batches.items():
        table, columns = RAW_TABLES[kind], kind_batches[0][0]
        query = (
            "SELECT name FROM system.columns WHERE database = currentDatabase() AND table = {t:String} "
            "AND default_kind = '' ORDER BY position"
        )
        names = [
            row[0] for row in client.query(query, parameters={"t": table}).result_rows if row[0] in columns
        ]
        found[kind] = BatchSink(lane_of(client, table) if lanes else client, table, names)
    return found


def insert_round(kind_sinks: dict[str, BatchSink], batches: dict[str, Any], number: int) -> float:
    """Every kind's next batch at once, each at offsets of its own (so none is dropped as a replay)."""

    def insert(kind: str) -> None:
        columns, messages = batches[kind][number % len(batches[kind])]
        shift = (number + 1) * 1_000_000
        columns = dict(columns, _offset=columns["_offset"] + shift)
        first, last = messages[0].offset + shift, messages[-1].offset + shift
        sink = kind_sinks[kind]
        sink.write_sync(
            [columns[name] for name in sink.column_names],
            [OffsetRange(messages[0].topic, 0, first, last)],
            columns["_partition"],
            columns["_offset"],
        )

    threads = [threading.Thread(target=insert, args=(kind,)) for kind in kind_sinks]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="gridmon-lanes-"))
    shutil.rmtree(data_dir, ignore_errors=True)
    settings = load_settings(data_dir=data_dir)
    client = connect(settings)
    migrate(client)
    batches = ingested_batches(settings)
    variants = {
        "shared client": sinks(client, batches, lanes=False),
        "lane per table": sinks(client, batches, lanes=True),
    }
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    for number in range(args.rounds):
        for offset, (name, kind_sinks) in enumerate(variants.items()):
            seconds[name].append(insert_round(kind_sinks, batches, 2 * number + offset))
    for name, found in seconds.items():
        ranked = sorted(found)
        print(
            f"{name:15s} round of {len(batches)} concurrent raw inserts: median "
            f"{statistics.median(found) * 1000:.0f} ms, p90 {ranked[int(len(ranked) * 0.9)] * 1000:.0f} ms"
        )
    close_all()
    shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
