"""A real publish to the embedded broker with the counts read back, and the ground truth into ClickHouse (chdb)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from gridmon.kafka.admin import apply_topics
from gridmon.kafka.catalog import load_catalog
from gridmon.kafka.clients import make_admin, make_consumer, make_producer
from gridmon.records import KINDS
from gridmon.settings import Settings
from gridmon.simulate import Simulator, TruthFile, publish, read_truth_file, write_truth_file


def _read_back(
    settings: Settings, expected: int, timeout_s: float = 60.0
) -> tuple[Counter[str], Counter[str]]:
    assert settings.kafka_bootstrap
    from confluent_kafka import OFFSET_BEGINNING, TopicPartition

    consumer = make_consumer(settings, settings.kafka_bootstrap, group_id="sim-test")
    topics = [settings.topic(f"grid.{kind}") for kind in KINDS]
    metadata = consumer.list_topics(timeout=10).topics
    # assign, not subscribe: no group rebalance to wait for
    consumer.assign(
        [TopicPartition(topic, p, OFFSET_BEGINNING) for topic in topics for p in metadata[topic].partitions]
    )
    messages: Counter[str] = Counter()
    readings: Counter[str] = Counter()
    deadline = time.monotonic() + timeout_s
    try:
        while sum(messages.values()) < expected and time.monotonic() < deadline:
            for message in consumer.consume(1000, timeout=1.0):
                if message.error():
                    continue
                kind = message.topic().rpartition(".")[2]
                messages[kind] += 1
                readings[kind] += len(json.loads(message.value())["readings"])
    finally:
        consumer.close()
    return messages, readings


def test_publish_sends_every_message_and_counts_them(grid_model: Any, settings: Settings) -> None:
    assert settings.kafka_bootstrap
    apply_topics(make_admin(settings, settings.kafka_bootstrap), settings, list(load_catalog().values()))
    simulator = Simulator(grid_model, "outages", seed=9, duration_s=30.0, sent_clock="wall")
    producer = make_producer(settings, settings.kafka_bootstrap)
    counts = publish(simulator, producer, settings, speed=None, progress=False)
    total = sum(counts.messages.values())
    assert total > 0 and counts.readings["pmu"] > 0 and counts.readings["sensor"] > 0
    messages, readings = _read_back(settings, total)
    assert dict(messages) == {k: v for k, v in counts.messages.items() if v}
    assert dict(readings) == {k: v for k, v in counts.readings.items() if v}


def test_speed_paces_by_event_time(grid_model: Any, settings: Settings) -> None:
    assert settings.kafka_bootstrap
    apply_topics(make_admin(settings, settings.kafka_bootstrap), settings, list(load_catalog().values()))
    simulator = Simulator(grid_model, "pmu", seed=1, duration_s=4.0)
    producer = make_producer(settings, settings.kafka_bootstrap)
    counts = publish(simulator, producer, settings, speed=2.0, progress=False)
    assert 1.8 <= counts.wall_seconds < 6.0  # 4 s of event time at 2× real time


_CHDB_SCRIPT = """
import sys, clickhouse_connect
from gridmon.simulate import read_truth_file, write_ground_truth
client = clickhouse_connect.get_client(dsn="chdb://" + sys.argv[1])
client.command("CREATE DATABASE IF NOT EXISTS simtest")
client.command(
    "CREATE TABLE simtest.ground_truth (run_id String, id String, kind LowCardinality(String), device String,"
    " zone String, start_ns Int64, end_ns Int64, detail String) ENGINE = MergeTree ORDER BY (run_id, id)"
)
truth = read_truth_file(__import__("pathlib").Path(sys.argv[2]))
print(write_ground_truth(client, "run-1", truth.faults, table="simtest.ground_truth"))
rows = client.query("SELECT id, kind, device, start_ns, JSONExtractString(detail, 'scope') FROM simtest.ground_truth ORDER BY id")
for row in rows.result_rows:
    print("|".join(map(str, row)))
"""


def test_ground_truth_goes_to_a_file_and_to_clickhouse(
    grid_model: Any, tmp_path: Path, run_start_ns: int
) -> None:
    simulator = Simulator(grid_model, "outages", seed=2, start_ns=run_start_ns, duration_s=300.0)
    document = TruthFile(
        run_id="run-1",
        scenario="outages",
        seed=2,
        start_ns=simulator.start_ns,
        end_ns=simulator.end_ns,
        model="small",
        faults=simulator.truths,
    )
    path = write_truth_file(tmp_path / "truth.json", document)
    assert read_truth_file(path) == document
    # chdb allows one data path per process: this check runs in its own interpreter
    result = subprocess.run(
        [sys.executable, "-c", _CHDB_SCRIPT, str(tmp_path / "chdb"), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    assert int(lines[0]) == len(simulator.truths)
    stored = [line.split("|") for line in lines[1:]]
    expected = sorted(simulator.truths, key=lambda t: t.id)
    assert [(s[0], s[1], s[2], int(s[3]), s[4]) for s in stored] == [
        (t.id, t.kind, t.device, t.start_ns, t.scope) for t in expected
    ]
