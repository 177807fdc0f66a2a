"""The OpenFMB adapter: a NATS subscriber to `<prefix>.<module>.<Profile>.>` that maps each profile's equipment
mRID to a grid-model device and publishes meter readings (grid.meter) and switching events (grid.scada).

Status profiles repeat the current state and events may overtake them, so only state changes are published.
Core NATS is at-most-once: what is published while the adapter is disconnected is not replayed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from gridmon.adapters.base import FieldAdapter
from gridmon.adapters.batching import PendingReadings
from gridmon.adapters.mapping import OpenFmbMapping
from gridmon.adapters.openfmb.profiles import (
    PROFILES,
    ProfileError,
    ProfileSpec,
    meter_reading,
    parse_profile,
    scada_readings,
)
from gridmon.adapters.publisher import EnvelopePublisher, adapter_dead_letter
from gridmon.errors import AdapterError
from gridmon.records import ScadaReading


class NatsSettings(BaseSettings):
    """NATS connection of the OpenFMB adapter, from `GRIDMON_NATS_*` variables (secrets never printed)."""

    model_config = SettingsConfigDict(env_prefix="GRIDMON_NATS_", env_file=".env", extra="ignore")

    url: str = Field("nats://127.0.0.1:4222", description="NATS server URL (tls:// for TLS)")
    user: str | None = Field(None, description="NATS user")
    password: SecretStr | None = Field(None, description="NATS password")
    token: SecretStr | None = Field(None, description="NATS token (instead of user/password)")
    tls_ca: Path | None = Field(None, description="CA bundle (PEM); set to connect with TLS")
    connect_timeout_s: float = Field(5.0, gt=0, description="seconds to wait for the server")


class OpenFmbAdapter(FieldAdapter):
    protocol = "openfmb"

    def __init__(
        self,
        settings: NatsSettings,
        mapping: OpenFmbMapping,
        batch_size: int = 500,
        max_batch_delay_s: float = 0.2,
    ) -> None:
        super().__init__(settings.url)
        if not mapping.devices:
            raise AdapterError("the mapping file has no [openfmb.devices]: map equipment mRIDs to devices")
        self.settings = settings
        self.mapping = mapping
        self.specs = [PROFILES[name] for name in mapping.profiles]
        self._pending = PendingReadings(mapping.source, batch_size, max_batch_delay_s)
        self._client: Any = None
        self._inbox: asyncio.Queue[tuple[str, bytes] | None] = asyncio.Queue()
        self._by_subject_part = {(spec.module, spec.name): spec for spec in self.specs}
        self._states: dict[tuple[str, str, str | None], tuple[str, int]] = {}  # (state, ts) per point
        self._sequence = 0
        self._lost_reason = ""

    async def connect(self) -> None:
        import nats
        from nats.errors import Error as NatsError

        self._inbox = asyncio.Queue()
        self._lost_reason = ""
        try:
            self._client = await nats.connect(**self._connect_options())
            for spec in self.specs:
                await self._client.subscribe(spec.subject(self.mapping.subject_prefix), cb=self._received)
            await self._client.flush()  # subscriptions are active on the server from here on
        except (NatsError, OSError) as exc:
            raise AdapterError(f"NATS server {self.endpoint} refused or dropped us: {exc!r}") from exc

    def _connect_options(self) -> dict[str, Any]:
        settings = self.settings
        options: dict[str, Any] = {
            "servers": [settings.url],
            "name": "gridmon-openfmb",
            "allow_reconnect": False,  # run_adapter reconnects, with backoff and health
            "connect_timeout": settings.connect_timeout_s,
            "error_cb": self._error,
            "disconnected_cb": self._disconnected,
        }
        if settings.user:
            options["user"] = settings.user
        if settings.password:
            options["password"] = settings.password.get_secret_value()
        if settings.token:
            options["token"] = settings.token.get_secret_value()
        if settings.tls_ca:
            options["tls"] = ssl.create_default_context(cafile=str(settings.tls_ca))
        return options

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None and not client.is_closed:
            with contextlib.suppress(Exception):  # the connection may already be gone
                await client.close()

    async def pump(self, publisher: EnvelopePublisher) -> None:
        try:
            while True:
                try:
                    item = await asyncio.wait_for(self._inbox.get(), self._pending.wait_s())
                except TimeoutError:
                    item = ("", b"")
                if item is None:
                    raise AdapterError(
                        f"NATS server {self.endpoint} dropped the connection {self._lost_reason}"
                    )
                if item[0]:
                    self._accept(item[0], item[1], publisher)
                if self._pending.due():
                    self._flush(publisher)
        finally:
            self._flush(publisher)

    async def _received(self, message: Any) -> None:
        self._inbox.put_nowait((message.subject, bytes(message.data)))

    async def _disconnected(self) -> None:
        self._inbox.put_nowait(None)

    async def _error(self, exc: Exception) -> None:
        self._lost_reason = f"({type(exc).__name__}: {exc})"

    def _accept(self, subject: str, payload: bytes, publisher: EnvelopePublisher) -> None:
        self._sequence += 1
        parts = subject.split(".")
        spec = self._by_subject_part.get((parts[1], parts[2])) if len(parts) >= 3 else None
        if spec is None:  # cannot happen with our subscriptions; keep it visible if it does
            self._dead_letter(
                publisher, "unmapped", f"subject {subject!r} is not a subscribed profile", payload
            )
            return
        try:
            self._map(spec, payload)
        except ProfileError as exc:
            self._dead_letter(publisher, exc.reason, str(exc), subject.encode() + b"\n" + payload, exc.device)

    def _map(self, spec: ProfileSpec, payload: bytes) -> None:
        profile = parse_profile(spec, payload)
        device = self.mapping.devices.get(profile.mrid)
        if device is None:
            raise ProfileError(
                "unmapped",
                f"{spec.name} from equipment mRID {profile.mrid!r}: add it to [openfmb.devices] in the mapping file",
            )
        if spec.kind == "meter":
            self._pending.add("meter", [meter_reading(profile, device)])
            return
        readings = scada_readings(profile, device)
        if (
            spec.is_status
            and spec.node == "statusAndEventXCBR"
            and not any(r.event == "lockout" for r in readings)
        ):
            self._forget_lockout(device)  # reset, so that the next lockout is a change again
        # status profiles repeat the state, and NATS delivers each subscription in its own task, so an event
        # may come after the status that already told us: publish changes only, whichever profile says it
        changes = [reading for reading in readings if self._changed(reading)]
        if changes:
            self._pending.add("scada", changes)

    def _forget_lockout(self, device: str) -> None:
        for key in [key for key in self._states if key[0] == device and key[1] == "ReclosingAction"]:
            del self._states[key]

    def _changed(self, reading: ScadaReading) -> bool:
        """Whether `reading` changes the known state; an older state that arrives late changes nothing."""
        key = (reading.device, reading.point, reading.phase)
        ts = int(reading.ts)  # type: ignore[arg-type]
        known = self._states.get(key)
        if known is not None and (ts < known[1] or known[0] == reading.event):
            self._states[key] = (known[0], max(ts, known[1]))
            return False
        self._states[key] = (reading.event, ts)
        return True

    def _dead_letter(
        self,
        publisher: EnvelopePublisher,
        reason: Any,
        detail: str,
        original: bytes,
        device: str | None = None,
    ) -> None:
        letter = adapter_dead_letter(reason, detail, self.endpoint, original, self._sequence, device)
        publisher.dead_letter(letter)

    def _flush(self, publisher: EnvelopePublisher) -> None:
        self._pending.flush(publisher)
        publisher.health.frames = self._sequence
