"""Minimal reproduction: Tansu 0.6 reports the high watermark as (base offset of the last batch + 1).

Run: `.venv/bin/python load_tests/repro_tansu_watermark.py`. On Kafka both lines print 50; on the embedded
Tansu the watermark line prints 1 (50 records sent as one batch, base offset 0).
"""

from __future__ import annotations

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from gridmon.kafka.embedded import EmbeddedBroker
from gridmon.pipeline.progress import end_offsets


def main() -> None:
    with EmbeddedBroker() as broker:
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        admin.create_topics([NewTopic("repro", 1, 1)])["repro"].result()
        producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 50})
        for _ in range(50):
            producer.produce("repro", value=b"x")
        producer.flush()
        consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "repro"})
        _low, high = consumer.get_watermark_offsets(TopicPartition("repro", 0), timeout=10)
        print(f"high watermark reported by the broker: {high}")
        print(
            f"end offset found by gridmon.pipeline.progress.end_offsets: {end_offsets(consumer, ['repro'])}"
        )
        consumer.close()


if __name__ == "__main__":
    main()
