"""Settings come from GRIDMON_* variables; wrong values name the variable; secrets never print."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gridmon.errors import ConfigError
from gridmon.settings import load_settings


def test_defaults_mean_embedded_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GRIDMON_KAFKA_BOOTSTRAP", "GRIDMON_CLICKHOUSE_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.embedded_kafka and settings.embedded_clickhouse
    assert settings.topic("grid.pmu") == "grid.pmu"


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDMON_KAFKA_BOOTSTRAP", "kafka-1:9092,kafka-2:9092")
    monkeypatch.setenv("GRIDMON_TOPIC_PREFIX", "site1.")
    settings = load_settings()
    assert settings.kafka_bootstrap == "kafka-1:9092,kafka-2:9092"
    assert settings.topic("grid.pmu") == "site1.grid.pmu"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("GRIDMON_KAFKA_SASL_MECHANISM", "KERBEROS-ISH"),
        ("GRIDMON_CLICKHOUSE_URL", "ftp://clickhouse"),
        ("GRIDMON_KAFKA_BOOTSTRAP", "no-port-here"),
        ("GRIDMON_PARTITIONS", "0"),
    ],
)
def test_wrong_value_names_the_variable(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=variable):
        load_settings()


def test_config_command_masks_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"GRIDMON_KAFKA_SASL_PASSWORD": "hunter2-secret", "GRIDMON_CLICKHOUSE_PASSWORD": "ch-secret-pw"}
    result = subprocess.run(
        [sys.executable, "-m", "gridmon", "config", "--json"],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, **env},
        check=True,
    )
    assert "hunter2-secret" not in result.stdout and "ch-secret-pw" not in result.stdout
    assert '"kafka_sasl_password": "**********"' in result.stdout


def test_config_command_rejects_wrong_value_in_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gridmon", "config"],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "GRIDMON_KAFKA_SASL_MECHANISM": "FOO"},
    )
    assert result.returncode == 2
    assert "GRIDMON_KAFKA_SASL_MECHANISM" in result.stderr
    assert "Traceback" not in result.stderr
