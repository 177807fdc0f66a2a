"""The embedded broker on s3:// storage keeps topics, records and committed offsets across its own restart."""

from __future__ import annotations

import time
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from gridmon.kafka.embedded import EmbeddedBroker
from load_tests.reliability import ObjectStore


def read_all(bootstrap: str, topic: str, group: str, expected: int) -> list[bytes]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    values: list[bytes] = []
    deadline = time.monotonic() + 20
    while len(values) < expected and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            values.append(message.value())
    consumer.commit(offsets=[TopicPartition(topic, 0, len(values))], asynchronous=False)
    consumer.close()
    return values


def committed(bootstrap: str, topic: str, group: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        return int(consumer.committed([TopicPartition(topic, 0)], timeout=10)[0].offset)
    finally:
        consumer.close()


def test_topics_records_and_offsets_survive_a_broker_restart(tmp_path: Path) -> None:
    objects = ObjectStore(tmp_path).start()
    broker = EmbeddedBroker(storage=f"s3://{objects.bucket}/", storage_env=objects.broker_env())
    try:
        broker.start()
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})  # kept: a dropped client cancels
        admin.create_topics([NewTopic("kept", 1, 1)])["kept"].result(timeout=10)
        producer = Producer({"bootstrap.servers": broker.bootstrap})
        for i in range(20):
            producer.produce("kept", value=b"m%d" % i)
        assert producer.flush(10) == 0
        assert len(read_all(broker.bootstrap, "kept", "g", 20)) == 20

        port = broker.port
        broker.stop()
        broker.port = port
        broker.start()

        assert committed(broker.bootstrap, "kept", "g") == 20
        assert read_all(broker.bootstrap, "kept", "other", 20) == [b"m%d" % i for i in range(20)]
    finally:
        broker.stop()
        objects.stop()
