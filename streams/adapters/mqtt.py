"""MQTT (v5 / 3.1.1) adapter for AMI head-ends and IoT sensors: topic patterns → devices, JSON payloads.

Patterns such as `ami/{device}/reading` subscribe as `ami/+/reading` and name the device from the topic;
payloads are a reading object, a list of them, or Sparkplug-like `{"timestamp", "metrics": [...]}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import msgspec
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from gridmon.adapters.base import FieldAdapter
from gridmon.adapters.batching import PendingReadings
from gridmon.adapters.mapping import MqttMapping, MqttTopicMapping
from gridmon.adapters.publisher import EnvelopePublisher, adapter_dead_letter
from gridmon.errors import AdapterError
from gridmon.records import READING_TYPES, DeadLetterReason


class MqttSettings(BaseSettings):
    """Broker connection of the MQTT adapter, from `GRIDMON_MQTT_*` variables (password never printed)."""

    model_config = SettingsConfigDict(env_prefix="GRIDMON_MQTT_", env_file=".env", extra="ignore")

    host: str = Field("127.0.0.1", description="MQTT broker host")
    port: int = Field(1883, ge=1, le=65535, description="MQTT broker port (8883 for TLS)")
    username: str | None = Field(None, description="MQTT user")
    password: SecretStr | None = Field(None, description="MQTT password")
    tls_ca: Path | None = Field(None, description="CA bundle (PEM); set to connect with TLS")
    client_id: str = Field(
        "gridmon-adapter", description="client id; a persistent session keeps QoS 1 backlog"
    )
    protocol: Literal[4, 5] = Field(4, description="MQTT protocol level: 4 (3.1.1, default) or 5")
    qos: int = Field(1, ge=0, le=1, description="subscription QoS")


@dataclass(frozen=True)
class TopicRoute:
    """One mapping entry compiled: the MQTT filter to subscribe and the regex naming topic levels."""

    entry: MqttTopicMapping
    subscription: str
    regex: re.Pattern[str]

    @classmethod
    def compile(cls, entry: MqttTopicMapping) -> TopicRoute:
        levels, parts = entry.pattern.split("/"), []
        filters = []
        for level in levels:
            named = re.fullmatch(r"\{(\w+)\}", level)
            if named:
                filters.append("+")
                parts.append(f"(?P<{named.group(1)}>[^/]+)")
            elif level == "+":
                filters.append("+")
                parts.append("[^/]+")
            elif level == "#":
                filters.append("#")
                parts.append(".*")
            else:
                filters.append(level)
                parts.append(re.escape(level))
        return cls(entry, "/".join(filters), re.compile("/".join(parts) + "$"))

    def device(self, topic: str) -> str | None:
        match = self.regex.match(topic)
        if match is None:
            return None
        try:
            return self.entry.device.format(**match.groupdict())
        except KeyError:
            return None


class PayloadError(ValueError):
    def __init__(self, reason: DeadLetterReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def decode_payload(payload: bytes, route: TopicRoute, device: str) -> list[Any]:
    """The readings in one MQTT payload, validated against the kind's record; raises PayloadError."""
    try:
        document = msgspec.json.decode(payload)
    except msgspec.DecodeError as exc:
        raise PayloadError("not_json", f"payload is not JSON: {exc}") from None
    if route.entry.payload == "sparkplug-json":
        document = _from_sparkplug(document)
    items = document if isinstance(document, list) else [document]
    reading_type = READING_TYPES[route.entry.kind]
    try:
        return [msgspec.convert({**_object(item), "device": device}, reading_type) for item in items]
    except msgspec.ValidationError as exc:
        raise PayloadError("schema", f"{route.entry.kind} reading invalid: {exc}") from None


def _object(item: Any) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise msgspec.ValidationError(f"expected a JSON object, got {type(item).__name__}")
    return item


def _from_sparkplug(document: Any) -> dict[str, Any]:
    """`{"timestamp": ms, "metrics": [{"name", "value"}]}` → one reading object (metric names are fields)."""
    if not isinstance(document, dict) or not isinstance(document.get("metrics"), list):
        raise PayloadError("schema", "Sparkplug-like payload needs a `metrics` list")
    reading: dict[str, Any] = {"ts": int(document.get("timestamp", 0)) * 1_000_000}
    for metric in document["metrics"]:
        if isinstance(metric, dict) and "name" in metric:
            reading[str(metric["name"])] = metric.get("value")
    return reading


SESSION_EXPIRY_S = 86_400  # how long an MQTT 5 broker keeps our QoS 1 backlog while we are away


def _session_properties() -> Any:
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = SESSION_EXPIRY_S
    return properties


class MqttAdapter(FieldAdapter):
    protocol = "mqtt"

    def __init__(
        self,
        settings: MqttSettings,
        mapping: MqttMapping,
        batch_size: int = 500,
        max_batch_delay_s: float = 0.2,
    ) -> None:
        scheme = "mqtts" if settings.tls_ca else "mqtt"
        super().__init__(f"{scheme}://{settings.host}:{settings.port}")
        if not mapping.topics:
            raise AdapterError("the mapping file has no [[mqtt.topics]]: nothing to subscribe to")
        self.settings = settings
        self.mapping = mapping
        self.routes = [TopicRoute.compile(entry) for entry in mapping.topics]
        self._pending = PendingReadings(mapping.source, batch_size, max_batch_delay_s)
        self._client: Any = None
        self._sequence = 0

    def _make_client(self) -> Any:
        import aiomqtt
        from paho.mqtt.client import MQTT_CLEAN_START_FIRST_ONLY

        password = self.settings.password.get_secret_value() if self.settings.password else None
        tls = ssl.create_default_context(cafile=str(self.settings.tls_ca)) if self.settings.tls_ca else None
        return aiomqtt.Client(
            self.settings.host,
            self.settings.port,
            username=self.settings.username,
            password=password,
            identifier=self.settings.client_id,
            protocol=aiomqtt.ProtocolVersion(self.settings.protocol),
            clean_session=None if self.settings.protocol == 5 else False,
            # MQTT 5: resume the session (each reconnect is a new client, so never the default "first
            # connect only") and ask the broker to keep it, since a v5 session otherwise ends at disconnect
            clean_start=False if self.settings.protocol == 5 else MQTT_CLEAN_START_FIRST_ONLY,
            properties=_session_properties() if self.settings.protocol == 5 else None,
            tls_context=tls,
            timeout=10,
        )

    async def connect(self) -> None:
        import aiomqtt

        self._client = self._make_client()
        try:
            await self._client.__aenter__()
            for route in self.routes:
                await self._client.subscribe(route.subscription, qos=self.settings.qos)
        except aiomqtt.MqttError as exc:
            raise AdapterError(f"MQTT broker {self.endpoint} refused or dropped us: {exc}") from exc

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.__aexit__(None, None, None)
            except Exception:  # the connection is already gone; aiomqtt raises on a second disconnect
                return

    async def pump(self, publisher: EnvelopePublisher) -> None:
        import aiomqtt

        # One pending `anext` lives across batch timeouts: cancelling aiomqtt's `__anext__` after its queue
        # read has completed drops that message (it was already acknowledged to the broker), so a timeout
        # must never cancel the read — it only flushes the batch.
        messages = self._client.messages
        receive: asyncio.Task[Any] | None = None
        try:
            while True:
                if receive is None:
                    receive = asyncio.ensure_future(anext(messages))
                done, _ = await asyncio.wait({receive}, timeout=self._pending.wait_s())
                if done:
                    finished, receive = receive, None
                    try:
                        message = finished.result()
                    except aiomqtt.MqttError as exc:
                        raise AdapterError(
                            f"MQTT broker {self.endpoint} dropped the connection: {exc}"
                        ) from exc
                    self._accept(str(message.topic), bytes(message.payload or b""), publisher)
                if self._pending.due():
                    self._flush(publisher)
        finally:
            await self._settle(receive, publisher)
            self._flush(publisher)

    async def _settle(self, receive: asyncio.Task[Any] | None, publisher: EnvelopePublisher) -> None:
        """On the way out, decode the message a finished read holds instead of dropping it."""
        if receive is None:
            return
        if not receive.done():
            receive.cancel()
            with contextlib.suppress(asyncio.CancelledError):  # a second stop request: go on closing
                await asyncio.wait(
                    {receive}
                )  # let the cancelled read wind down (it may still hold a message)
        if receive.done() and not receive.cancelled() and receive.exception() is None:
            message = receive.result()
            self._accept(str(message.topic), bytes(message.payload or b""), publisher)

    def _accept(self, topic: str, payload: bytes, publisher: EnvelopePublisher) -> None:
        self._sequence += 1
        original = topic.encode() + b"\n" + payload
        for route in self.routes:
            device = route.device(topic)
            if device is None:
                continue
            try:
                readings = decode_payload(payload, route, device)
            except PayloadError as exc:
                letter = adapter_dead_letter(
                    exc.reason, str(exc), self.endpoint, original, self._sequence, device
                )
                publisher.dead_letter(letter)
                return
            self._pending.add(route.entry.kind, readings)
            return
        detail = f"topic {topic!r} matches no [[mqtt.topics]] pattern of the mapping file"
        publisher.dead_letter(
            adapter_dead_letter("unmapped", detail, self.endpoint, original, self._sequence)
        )

    def _flush(self, publisher: EnvelopePublisher) -> None:
        self._pending.flush(publisher)
        publisher.health.frames = self._sequence
