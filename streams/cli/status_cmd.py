"""`gridmon status`: what is stored, what was dead-lettered and why, and how far the workers lag behind."""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from gridmon.kafka.clients import make_consumer
from gridmon.kafka.embedded import running_broker
from gridmon.pipeline.progress import end_offsets
from gridmon.records import KINDS
from gridmon.settings import Settings, load_settings
from gridmon.store.client import connect
from gridmon.store.tables import RAW_TABLES

console = Console()
TABLES = (*RAW_TABLES.values(), "dead_letters")


def status() -> None:
    """Rows per table, dead letters per reason, consumer lag per input topic."""
    settings = load_settings()
    client = connect(settings)
    console.print(_tables(client))
    console.print(_dead_letters(client))
    bootstrap = settings.kafka_bootstrap or running_broker(settings)
    if bootstrap is None:
        console.print("[dim]no Kafka configured or running (`gridmon broker`): lag not shown[/]")
        return
    console.print(_lag(settings, bootstrap))


def _tables(client: Any) -> Table:
    table = Table("table", "rows", title="ClickHouse")
    for name in TABLES:
        final = " FINAL" if name == "dead_letters" else ""
        rows = client.query(f"SELECT count() FROM {name}{final}").result_rows[0][0]
        table.add_row(name, f"{rows:,}")
    return table


def _dead_letters(client: Any) -> Table:
    table = Table("reason", "source topic", "count", "last seen", title="dead letters by reason")
    result = client.query(
        "SELECT reason, source_topic, count(), fromUnixTimestamp64Nano(max(received_ns)) "
        "FROM dead_letters FINAL GROUP BY reason, source_topic ORDER BY count() DESC"
    )
    for reason, topic, count, last in result.result_rows:
        table.add_row(reason, topic, f"{count:,}", str(last))
    return table


def _lag(settings: Settings, bootstrap: str) -> Table:
    from confluent_kafka import TopicPartition

    group = settings.topic("gridmon")
    table = Table("topic", "partition", "end offset", "committed", "lag", title=f"consumer group {group}")
    probe = make_consumer(settings, bootstrap, group_id=f"{group}-status-probe")
    consumer = make_consumer(settings, bootstrap, group_id=group)
    try:
        existing = set(consumer.list_topics(timeout=10).topics)
        topics = [t for t in (settings.topic(f"grid.{kind}") for kind in KINDS) if t in existing]
        ends = end_offsets(probe, topics)
        partitions = [TopicPartition(topic, partition) for topic, partition in ends]
        for committed in consumer.committed(partitions, timeout=10):
            end = ends[(committed.topic, committed.partition)]
            done = max(committed.offset, 0)
            table.add_row(committed.topic, str(committed.partition), str(end), str(done), str(end - done))
    finally:
        probe.close()
        consumer.close()
    return table


def register(app: typer.Typer) -> None:
    app.command("status")(status)
