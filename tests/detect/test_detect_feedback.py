"""Labels stored in real embedded ClickHouse (chdb) and fed back to a bank (in a child process: chdb keeps
one data path per process, and other test modules may open their own)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import sys
    import clickhouse_connect
    from gridmon.detect.feedback import ANOMALY_LABELS_DDL, apply_labels, load_labels, store_label
    from gridmon.errors import StorageError

    client = clickhouse_connect.get_client(dsn="chdb://" + sys.argv[1])
    try:
        store_label(client, "a1", "confirmed")
    except StorageError as exc:
        print("missing:", exc)
    client.command(ANOMALY_LABELS_DDL)
    store_label(client, "a1", "false_alarm", by="op'); DROP TABLE x; --", note="fan noise", labelled_ns=10)
    store_label(client, "a2", "ack", by="op", labelled_ns=20)
    store_label(client, "a3", "confirmed", labelled_ns=30)
    labels = load_labels(client, since_ns=5)
    print([(l.anomaly_id, l.label, l.by) for l in labels])
    print(len(load_labels(client, since_ns=20)))

    class Bank:
        def __init__(self): self.seen = []
        def label(self, anomaly_id, label):
            self.seen.append((anomaly_id, label)); return anomaly_id == "a1"
    bank = Bank()
    print(apply_labels(bank, labels), bank.seen)
    """
)


def test_labels_round_trip_through_clickhouse_and_reach_the_bank(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "chdb")], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("missing:") and "gridmon db migrate" in lines[0]
    assert (
        lines[1]
        == "[('a1', 'false_alarm', \"op'); DROP TABLE x; --\"), ('a2', 'ack', 'op'), ('a3', 'confirmed', '')]"
    )
    assert lines[2] == "1"
    assert lines[3] == "1 [('a1', 'false_alarm'), ('a3', 'confirmed')]"


CLI_SCRIPT = textwrap.dedent(
    """
    import sys
    import clickhouse_connect
    from gridmon.cli.anomalies_cmd import anomaly_versions, latest_anomalies

    client = clickhouse_connect.get_client(dsn="chdb://" + sys.argv[1])
    client.command(
        "CREATE TABLE anomalies (id String, version UInt32, device String, zone String, feeder String, "
        "metric String, detector String, category String, severity String, state String, start_ns Int64, "
        "end_ns Nullable(Int64), score Float64, value Float64, parent_outage Nullable(String), "
        "`group` Nullable(String)) ENGINE = MergeTree ORDER BY (id, version)"
    )
    def row(i, v, device, state, start):
        return [i, v, device, "z", "f", "va_pu", "limits", "grid", "major", state, start, None, 2.0, 0.8, None, i]
    client.insert("anomalies", [row("a", 1, "d1", "open", 100), row("a", 2, "d1", "closed", 100),
                                row("b", 1, "d2", "open", 200), row("c", 1, "x' OR 1=1 --", "open", 50)])
    print([(r["id"], r["version"], r["state"]) for r in latest_anomalies(client, 60)])
    print([r["id"] for r in latest_anomalies(client, 0, states=("open",))])
    print([r["id"] for r in latest_anomalies(client, 0, device="x' OR 1=1 --")])
    print([r["version"] for r in anomaly_versions(client, "a")])
    """
)


def test_anomaly_queries_return_latest_versions(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", CLI_SCRIPT, str(tmp_path / "chdb")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines() == [
        "[('b', 1, 'open'), ('a', 2, 'closed')]",
        "['b', 'c']",
        "['c']",
        "[1, 2]",
    ]
