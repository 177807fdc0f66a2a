"""Kafka client configuration from Settings, the same for confluent-kafka, aiokafka and Faust.

confluent-kafka producers use `murmur2_random` so that a key lands on the same partition as from the Java
clients, aiokafka and Faust.
"""

from __future__ import annotations

import ssl
from typing import Any

from gridmon.settings import Settings


def security_protocol(settings: Settings) -> str:
    tls = settings.kafka_tls_ca is not None
    if settings.kafka_sasl_mechanism:
        return "SASL_SSL" if tls else "SASL_PLAINTEXT"
    return "SSL" if tls else "PLAINTEXT"


def librdkafka_config(settings: Settings, bootstrap: str) -> dict[str, Any]:
    """Settings for confluent-kafka (librdkafka) clients."""
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "security.protocol": security_protocol(settings),
    }
    if settings.kafka_sasl_mechanism:
        password = settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else ""
        config |= {
            "sasl.mechanism": settings.kafka_sasl_mechanism,
            "sasl.username": settings.kafka_sasl_username or "",
            "sasl.password": password,
        }
    if settings.kafka_tls_ca:
        config["ssl.ca.location"] = str(settings.kafka_tls_ca)
    if settings.kafka_tls_cert:
        config["ssl.certificate.location"] = str(settings.kafka_tls_cert)
    if settings.kafka_tls_key:
        config["ssl.key.location"] = str(settings.kafka_tls_key)
    return config


def make_producer(settings: Settings, bootstrap: str, **overrides: Any) -> Any:
    """A confluent-kafka Producer tuned for batches: small linger, idempotent-safe acks."""
    from confluent_kafka import Producer

    config = librdkafka_config(settings, bootstrap) | {
        "partitioner": "murmur2_random",
        "linger.ms": 5,
        "acks": "all",
        "queue.buffering.max.messages": 1_000_000,
        "message.max.bytes": max(settings.max_message_bytes * 3, 4_000_000),
    }
    return Producer(config | overrides)


def make_consumer(settings: Settings, bootstrap: str, group_id: str, **overrides: Any) -> Any:
    """A confluent-kafka Consumer that commits only when told to (at-least-once)."""
    from confluent_kafka import Consumer

    config = librdkafka_config(settings, bootstrap) | {
        "group.id": group_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "fetch.message.max.bytes": max(settings.max_message_bytes * 3, 4_000_000),
    }
    return Consumer(config | overrides)


def make_admin(settings: Settings, bootstrap: str) -> Any:
    from confluent_kafka.admin import AdminClient

    return AdminClient(librdkafka_config(settings, bootstrap))


def faust_broker_options(settings: Settings, bootstrap: str) -> dict[str, Any]:
    """Keyword arguments for `faust.App` that reach the same cluster with the same credentials."""
    import faust

    urls = ";".join(f"kafka://{server.strip()}" for server in bootstrap.split(","))
    options: dict[str, Any] = {"broker": urls}
    context = _ssl_context(settings)
    if settings.kafka_sasl_mechanism:
        password = settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else ""
        options["broker_credentials"] = faust.SASLCredentials(
            username=settings.kafka_sasl_username or "",
            password=password,
            mechanism=settings.kafka_sasl_mechanism,
            ssl_context=context,
        )
    elif context is not None:
        options["broker_credentials"] = faust.SSLCredentials(context)
    return options


def _ssl_context(settings: Settings) -> ssl.SSLContext | None:
    if settings.kafka_tls_ca is None:
        return None
    context = ssl.create_default_context(cafile=str(settings.kafka_tls_ca))
    if settings.kafka_tls_cert and settings.kafka_tls_key:
        context.load_cert_chain(str(settings.kafka_tls_cert), str(settings.kafka_tls_key))
    return context
