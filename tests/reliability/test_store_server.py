"""`gridmon store serve`: the real ClickHouse HTTP client path (`GRIDMON_CLICKHOUSE_URL`) against one chdb
folder held by one process; two writers share the sink's offset high-water, as on a ClickHouse server."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

from gridmon.kafka.embedded import free_loopback_port
from gridmon.settings import Settings, load_settings
from gridmon.store.client import connect
from gridmon.store.migrations import migrate
from gridmon.store.sink import BatchSink, OffsetRange

FLOATS = ["freq_hz", "rocof_hz_s", "va", "vb", "vc", "va_angle", "vb_angle", "vc_angle"]
FLOATS += ["ia", "ib", "ic", "ia_angle", "ib_angle", "ic_angle"]
PMU_COLUMNS = ["device", "ts", *FLOATS, "status", "sent_ns", "_topic", "_partition", "_offset"]
BASE_NS = (time.time_ns() // 3_600_000_000_000 - 1) * 3_600_000_000_000


@pytest.fixture(scope="module")
def store_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A `gridmon store serve` process on its own data dir (chdb: one process per folder)."""
    data_dir = tmp_path_factory.mktemp("store-front")
    port = free_loopback_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDMON_")}
    env["GRIDMON_DATA_DIR"] = str(data_dir)
    command = [
        sys.executable,
        "-c",
        "from gridmon.cli import main; main()",
        "store",
        "serve",
        "--port",
        str(port),
    ]
    with open(data_dir / "serve.log", "wb") as log:
        process = subprocess.Popen(command, cwd=data_dir, env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_ping(url, process, data_dir / "serve.log")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait_for_ping(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gridmon store serve exited: {log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=1) as response:  # noqa: S310 - loopback
                if response.read() == b"Ok.\n":
                    return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"gridmon store serve did not answer /ping: {log.read_text()}")


@pytest.fixture
def front_settings(store_url: str, tmp_path: Path) -> Settings:
    return load_settings(
        clickhouse_url=store_url, clickhouse_database=f"front_{uuid.uuid4().hex[:10]}", data_dir=tmp_path
    )


@pytest.fixture
def client(front_settings: Settings) -> Any:
    client = connect(front_settings)
    migrate(client)
    return client


def pmu_batch(topic: str, partition: int, first: int, last: int) -> list[Any]:
    """One reading per message first..last, in PMU_COLUMNS order."""
    offsets = np.arange(first, last + 1, dtype=np.int64)
    n = len(offsets)
    by_name: dict[str, Any] = {name: np.full(n, 1.0) for name in FLOATS}
    by_name |= {
        "device": [f"pmu-{partition}"] * n,
        "ts": BASE_NS + offsets * 33_333_333 + partition,
        "status": np.zeros(n, dtype=np.int64),
        "sent_ns": BASE_NS + offsets,
        "_topic": [topic] * n,
        "_partition": np.full(n, partition, dtype=np.int32),
        "_offset": offsets,
    }
    return [by_name[name] for name in PMU_COLUMNS]


def write_batches(sink: BatchSink, topic: str, partition: int, first: int, last: int, size: int) -> int:
    written = 0
    for start in range(first, last + 1, size):
        stop = min(start + size - 1, last)
        columns = pmu_batch(topic, partition, start, stop)
        ranges = [OffsetRange(topic, partition, start, stop)]
        written += asyncio.run(sink.write(columns, ranges, columns[-2], columns[-1])).written
    return written


def rows_per_offset(client: Any) -> dict[tuple[int, int], int]:
    query = "SELECT _partition, _offset, count() FROM pmu_readings GROUP BY _partition, _offset"
    return {(p, o): n for p, o, n in client.query(query).result_rows}


def test_a_second_writer_sees_the_first_ones_high_water(client: Any) -> None:
    """The two-worker case: the survivor replays a killed worker's uncommitted batches, other boundaries."""
    topic = "grid.pmu"
    assert write_batches(BatchSink(client, "pmu_readings", PMU_COLUMNS), topic, 0, 0, 29, size=10) == 30
    survivor = BatchSink(client, "pmu_readings", PMU_COLUMNS)
    assert write_batches(survivor, topic, 0, 17, 44, size=7) == 15
    assert rows_per_offset(client) == {(0, offset): 1 for offset in range(45)}


def insert(client: Any, partition: int, **settings: str) -> None:
    """A plain client insert (no sink, no high-water); event times as datetimes, the client's default."""
    columns = pmu_batch("grid.pmu", partition, 0, 4)
    columns[1] = [datetime.fromtimestamp(ns / 1e9, UTC) for ns in columns[1]]
    client.insert("pmu_readings", columns, PMU_COLUMNS, column_oriented=True, settings=settings)


def test_a_retried_insert_is_dropped_by_its_token_and_the_token_does_not_leak(client: Any) -> None:
    # Other rows under the same token: only the token can make ClickHouse drop the second block.
    insert(client, 3, insert_deduplication_token="front-test")
    insert(client, 4, insert_deduplication_token="front-test")
    assert sum(rows_per_offset(client).values()) == 5
    # A later insert without a token must not inherit it: settings are per request, not per connection.
    insert(client, 5)
    assert sum(rows_per_offset(client).values()) == 10


def test_parameters_arrive_as_data_and_errors_keep_their_code(client: Any) -> None:
    payload = "x'); DROP TABLE pmu_readings; --"
    result = client.query(
        "SELECT {text:String}, {when:DateTime64(9, 'UTC')}, {ids:Array(UInt16)}",
        parameters={"text": payload, "when": np.datetime64(BASE_NS, "ns").item(), "ids": [1, 2]},
    )
    text, _when, ids = result.result_rows[0]
    assert (text, ids) == (payload, [1, 2])
    assert client.command("EXISTS TABLE pmu_readings") == 1
    with pytest.raises(DatabaseError) as raised:
        client.query("SELECT * FROM no_such_table")
    assert raised.value.code == 60  # UNKNOWN_TABLE, as a ClickHouse server reports it


def test_the_shared_client_runs_queries_from_several_threads_at_once(client: Any) -> None:
    """A worker shares one cached client between its threads: no HTTP session may serialise them."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda n: client.query("SELECT sleep(0.2), {n:UInt8}", {"n": n}), range(4)))
    assert [answer.result_rows[0][1] for answer in answers] == [0, 1, 2, 3]
