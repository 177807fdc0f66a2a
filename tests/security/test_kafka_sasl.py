"""Kafka authentication: settings give SCRAM-SHA-512 (and TLS) to every client; the embedded broker with
authentication on refuses anonymous clients and wrong credentials.

Tansu 0.6 cannot give an authenticating broker a SCRAM user (creating one is itself an authenticated request,
and users made on a broker without authentication are not shared through s3:// storage:
load_tests/repro_tansu_scram.py), so the *accepted* login is tested only against a real Kafka: set
GRIDMON_KAFKA_BOOTSTRAP, GRIDMON_KAFKA_SASL_MECHANISM, GRIDMON_KAFKA_SASL_USERNAME/PASSWORD.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from gridmon.kafka.clients import faust_broker_options, librdkafka_config
from gridmon.kafka.embedded import EmbeddedBroker, port_answers
from gridmon.settings import load_settings


@pytest.fixture(scope="module")
def sasl_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """Started by hand: `EmbeddedBroker.start()` waits for an anonymous metadata answer, which never comes."""
    broker = EmbeddedBroker(log_path=tmp_path_factory.mktemp("sasl") / "broker.log", sasl=True)
    from gridmon.kafka.embedded import free_loopback_port

    broker.port = free_loopback_port()
    broker._spawn()
    deadline = time.monotonic() + 15
    while not port_answers("127.0.0.1", broker.port) and time.monotonic() < deadline:
        time.sleep(0.05)
    yield broker
    broker.stop()


def refused(config: dict[str, str]) -> bool:
    admin = AdminClient(config | {"socket.timeout.ms": "3000", "log_level": "0"})
    try:
        admin.list_topics(timeout=4)
    except Exception:
        return True
    return False


def test_settings_give_scram_sha_512_to_every_client(tmp_path: Path) -> None:
    settings = load_settings(
        kafka_sasl_mechanism="SCRAM-SHA-512", kafka_sasl_username="ingest", kafka_sasl_password="pw-123456"
    )
    config = librdkafka_config(settings, "kafka:9093")
    assert config["security.protocol"] == "SASL_PLAINTEXT"
    assert (config["sasl.mechanism"], config["sasl.username"], config["sasl.password"]) == (
        "SCRAM-SHA-512",
        "ingest",
        "pw-123456",
    )
    credentials = faust_broker_options(settings, "kafka:9093")["broker_credentials"]
    assert credentials.mechanism.value == "SCRAM-SHA-512" and credentials.username == "ingest"
    ca = tmp_path / "ca.pem"
    ca.write_text("not used here")
    tls = load_settings(kafka_sasl_mechanism="SCRAM-SHA-512", kafka_tls_ca=ca)
    assert librdkafka_config(tls, "kafka:9093")["security.protocol"] == "SASL_SSL"


def test_broker_with_authentication_refuses_anonymous_and_wrong_credentials(
    sasl_broker: EmbeddedBroker,
) -> None:
    bootstrap = {"bootstrap.servers": sasl_broker.bootstrap}
    assert refused(bootstrap)
    wrong = bootstrap | {
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "intruder",
        "sasl.password": "guessed-password",
    }
    assert refused(wrong)


def test_the_same_client_is_accepted_when_authentication_is_off(broker: EmbeddedBroker) -> None:
    """Control: `refused()` does not fail for reasons other than authentication."""
    assert not refused({"bootstrap.servers": broker.bootstrap})


@pytest.mark.skipif(
    not (os.environ.get("GRIDMON_KAFKA_BOOTSTRAP") and os.environ.get("GRIDMON_KAFKA_SASL_MECHANISM")),
    reason="needs a real Kafka with SASL (GRIDMON_KAFKA_BOOTSTRAP + GRIDMON_KAFKA_SASL_*)",
)
def test_real_kafka_accepts_the_configured_user_and_refuses_a_wrong_password() -> None:
    settings = load_settings()
    config = librdkafka_config(settings, settings.kafka_bootstrap or "")
    assert not refused(config)
    assert refused(config | {"sasl.password": "definitely-wrong"})
