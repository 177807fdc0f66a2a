"""One settings class for all of gridmon, read from `GRIDMON_*` environment variables (and `.env`).

Unset Kafka or ClickHouse settings mean the embedded defaults: a Tansu broker on loopback and chdb in the
data dir. Secrets are `SecretStr`, so they print masked everywhere.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gridmon.errors import ConfigError

ENV_PREFIX = "GRIDMON_"
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class Settings(BaseSettings):
    """Effective configuration. Field `x` is read from `GRIDMON_X`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", validate_default=True
    )

    kafka_bootstrap: str | None = Field(None, description="host:port[,host:port]; unset = embedded broker")
    kafka_sasl_mechanism: SaslMechanism | None = Field(None, description="SASL mechanism; unset = no SASL")
    kafka_sasl_username: str | None = Field(None, description="SASL user")
    kafka_sasl_password: SecretStr | None = Field(None, description="SASL password")
    kafka_tls_ca: Path | None = Field(None, description="CA bundle (PEM); set to enable TLS")
    kafka_tls_cert: Path | None = Field(None, description="client certificate (PEM) for mutual TLS")
    kafka_tls_key: Path | None = Field(None, description="client key (PEM) for mutual TLS")

    clickhouse_url: str | None = Field(None, description="http(s)://host:8123; unset = embedded chdb")
    clickhouse_user: str = Field("default", description="ClickHouse user")
    clickhouse_password: SecretStr = Field(SecretStr(""), description="ClickHouse password")
    clickhouse_database: str = Field("gridmon", description="ClickHouse database")

    data_dir: Path = Field(Path(".gridmon"), description="local state: chdb data, broker address, charts")
    topic_prefix: str = Field("", description="prefix for every topic name, e.g. `site1.`")
    partitions: int = Field(4, ge=1, le=1024, description="partitions for new topics")
    replication_factor: int = Field(1, ge=1, le=16, description="replication factor for new topics")
    log_level: LogLevel = Field("INFO", description="log level")
    web_port: int = Field(6066, ge=1, le=65535, description="Faust web port (distinct per worker)")
    worker_id: str = Field(
        "worker-0", min_length=1, max_length=64, description="name of this worker's state checkpoint"
    )
    checkpoint_interval_s: float = Field(
        5.0, gt=0, description="how often detector and outage state is checkpointed to ClickHouse"
    )
    batch_max_messages: int = Field(
        10_000, ge=1, le=1_000_000, description="most Kafka messages a stage handles (and stores) at once"
    )
    batch_max_bytes: int = Field(
        32 * 2**20,
        ge=2**16,
        le=2**31,
        description="most message bytes a batch holds (a head-end message carries thousands of reads)",
    )
    batch_window_s: float = Field(
        0.3, gt=0, le=10.0, description="longest wait to fill a batch: adds up to this much latency"
    )

    max_message_bytes: int = Field(1_000_000, ge=1024, description="bigger messages are dead-lettered")
    max_future_skew_s: float = Field(300.0, ge=0, description="readings further ahead are time_skew")
    max_event_age_s: float = Field(30 * 86400.0, ge=0, description="older readings are time_skew")
    hmac_key: SecretStr | None = Field(None, description="key for field-gateway message signatures")
    pseudonym_key: SecretStr = Field(
        SecretStr("gridmon-dev-pseudonym-key"), description="key for meter-id pseudonyms in analytics"
    )
    opt_out_file: Path | None = Field(
        None, description="opted-out meter ids, one a line: their interval reads are not stored"
    )

    @field_validator("kafka_bootstrap")
    @classmethod
    def _bootstrap_has_ports(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        for server in value.split(","):
            host, _, port = server.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"expected host:port[,host:port], got {server.strip()!r}")
        return value

    @field_validator("clickhouse_url")
    @classmethod
    def _clickhouse_url_is_http(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"expected http(s)://host:port, got {value!r}")
        return value

    @property
    def embedded_kafka(self) -> bool:
        return self.kafka_bootstrap is None

    @property
    def embedded_clickhouse(self) -> bool:
        return self.clickhouse_url is None

    def topic(self, name: str) -> str:
        """The full topic name for a catalog name such as `grid.pmu`."""
        return f"{self.topic_prefix}{name}"

    def masked(self) -> dict[str, Any]:
        """Every effective setting with secrets shown as `**********`."""
        shown: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = "**********" if value.get_secret_value() else ""
            shown[name] = value
        return shown


def load_settings(**overrides: Any) -> Settings:
    """Read settings; a wrong value raises ConfigError naming the variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        variable = ENV_PREFIX + str(error["loc"][0]).upper() if error["loc"] else ENV_PREFIX
        raise ConfigError(f"{variable}: {error['msg']}") from None


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()
