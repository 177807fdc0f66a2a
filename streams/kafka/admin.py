"""Create or update the catalog's topics idempotently on any Kafka-compatible cluster."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gridmon.errors import BrokerError
from gridmon.kafka.catalog import TopicSpec
from gridmon.settings import Settings


@dataclass(frozen=True)
class TopicChange:
    topic: str
    action: str  # created | partitions_increased | unchanged | config_not_updated
    detail: str = ""


def topic_config(spec: TopicSpec) -> dict[str, str]:
    return {"retention.ms": str(spec.retention_ms), "cleanup.policy": spec.cleanup_policy}


def apply_topics(admin: Any, settings: Settings, specs: list[TopicSpec]) -> list[TopicChange]:
    """Create missing topics, grow partitions where the catalog asks for more; never shrink or delete."""
    from confluent_kafka.admin import NewPartitions, NewTopic  # type: ignore[attr-defined]

    try:
        existing = admin.list_topics(timeout=10).topics
    except Exception as exc:  # confluent-kafka's KafkaException: unreachable, refused, not authorised
        raise BrokerError(
            f"Kafka did not answer a metadata request ({exc}): check GRIDMON_KAFKA_BOOTSTRAP and the "
            "GRIDMON_KAFKA_SASL_*/TLS settings"
        ) from None
    changes: list[TopicChange] = []
    to_create: list[Any] = []
    for spec in specs:
        name = settings.topic(spec.name)
        wanted = spec.partitions or settings.partitions
        if name not in existing:
            to_create.append(NewTopic(name, wanted, settings.replication_factor, config=topic_config(spec)))
            changes.append(TopicChange(name, "created", f"{wanted} partitions"))
            continue
        have = len(existing[name].partitions)
        if have < wanted:
            _wait(admin.create_partitions([NewPartitions(name, wanted)]), "grow partitions of")
            changes.append(TopicChange(name, "partitions_increased", f"{have} → {wanted}"))
        else:
            changes.append(TopicChange(name, "unchanged", f"{have} partitions"))
    if to_create:
        _wait(admin.create_topics(to_create), "create")
    return changes


def _wait(futures: dict[str, Any], verb: str) -> None:
    for topic, future in futures.items():
        try:
            future.result(timeout=30)
        except Exception as exc:
            if "TOPIC_ALREADY_EXISTS" in str(exc):  # a concurrent apply won the race: that is fine
                continue
            raise BrokerError(f"could not {verb} topic {topic}: {exc}") from exc
