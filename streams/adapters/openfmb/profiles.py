"""OpenFMB 2.2 profiles (protobuf, from `oes-protobuf`) → gridmon MeterReadings and ScadaReadings.

Meter readings carry TotWh (→ kWh) and phase voltage; switch, recloser and breaker profiles carry the
position per phase (DbPos closed/open) and, for reclosers and breakers, the reclosing action (lockout).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from typing import Any

from gridmon.adapters.mapping import OpenFmbProfile
from gridmon.records import DeadLetterReason, Kind, MeterReading, ScadaReading

DB_POS_TRANSIENT, DB_POS_CLOSED, DB_POS_OPEN = 1, 2, 3  # commonmodule.DbPosKind
RECLOSE_CYCLING, RECLOSE_LOCKOUT = 2, 3  # commonmodule.RecloseActionKind
VALIDITY_INVALID = 2  # commonmodule.ValidityKind
PHASES = (("phs3", "ABC"), ("phsA", "A"), ("phsB", "B"), ("phsC", "C"))


@dataclass(frozen=True)
class ProfileSpec:
    """Where a profile lives in oes-protobuf and where its equipment, time and state are."""

    name: OpenFmbProfile
    module: str
    equipment: str  # the field holding `conductingEquipment`
    info: str  # readingMessageInfo | statusMessageInfo | eventMessageInfo
    body: str  # the field holding the reading / status / event
    node: str  # inside `body`: the logical node with Pos (empty for meters)

    @property
    def kind(self) -> Kind:
        return "meter" if self.module == "metermodule" else "scada"

    @property
    def is_status(self) -> bool:
        """Status profiles repeat the current state periodically; events report changes."""
        return self.info == "statusMessageInfo"

    def subject(self, prefix: str) -> str:
        return f"{prefix}.{self.module}.{self.name}.>"


PROFILES: dict[str, ProfileSpec] = {
    spec.name: spec
    for spec in (
        ProfileSpec("MeterReadingProfile", "metermodule", "meter", "readingMessageInfo", "meterReading", ""),
        ProfileSpec("SwitchStatusProfile", "switchmodule", "protectedSwitch", "statusMessageInfo", "switchStatus", "switchStatusXSWI"),
        ProfileSpec("SwitchEventProfile", "switchmodule", "protectedSwitch", "eventMessageInfo", "switchEvent", "switchEventXSWI"),
        ProfileSpec("RecloserStatusProfile", "reclosermodule", "recloser", "statusMessageInfo", "recloserStatus", "statusAndEventXCBR"),
        ProfileSpec("RecloserEventProfile", "reclosermodule", "recloser", "eventMessageInfo", "recloserEvent", "statusAndEventXCBR"),
        ProfileSpec("BreakerStatusProfile", "breakermodule", "breaker", "statusMessageInfo", "breakerStatus", "statusAndEventXCBR"),
        ProfileSpec("BreakerEventProfile", "breakermodule", "breaker", "eventMessageInfo", "breakerEvent", "statusAndEventXCBR"),
    )
}  # fmt: skip


class ProfileError(ValueError):
    def __init__(self, reason: DeadLetterReason, detail: str, device: str | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.device = device


@cache
def message_class(spec: ProfileSpec) -> Any:
    """The generated protobuf class (oes-protobuf's modules import each other through `openfmb` first)."""
    importlib.import_module("openfmb")
    return getattr(importlib.import_module(f"openfmb.{spec.module}.{spec.module}_pb2"), spec.name)


@dataclass(frozen=True)
class Profile:
    spec: ProfileSpec
    mrid: str
    ts_ns: int
    message: Any


def parse_profile(spec: ProfileSpec, payload: bytes) -> Profile:
    """Decode the protobuf and find its equipment mRID and message time; raises ProfileError."""
    from google.protobuf.message import DecodeError

    message = message_class(spec)()
    try:
        message.ParseFromString(payload)
    except DecodeError as exc:
        raise ProfileError("schema", f"not a valid {spec.name} protobuf: {exc}") from None
    mrid = getattr(message, spec.equipment).conductingEquipment.mRID
    stamp = getattr(message, spec.info).messageInfo.messageTimeStamp
    if not mrid:
        raise ProfileError("schema", f"{spec.name} has no {spec.equipment}.conductingEquipment.mRID")
    if stamp.seconds == 0:
        raise ProfileError("schema", f"{spec.name} of {mrid} has no messageInfo.messageTimeStamp")
    return Profile(spec, mrid, _ns(stamp), message)


def meter_reading(profile: Profile, device: str) -> MeterReading:
    """TotWh (Wh → kWh) and the first phase voltage present; a value of invalid quality is left out."""
    reading = profile.message.meterReading
    kwh = None
    total = reading.readingMMTR.TotWh
    if reading.readingMMTR.HasField("TotWh") and total.q.validity != VALIDITY_INVALID:
        kwh = total.actVal / 1000.0
    voltage = None
    for field, _ in PHASES[1:]:
        phase = getattr(reading.readingMMXU.PhV, field)
        if reading.readingMMXU.PhV.HasField(field) and phase.q.validity != VALIDITY_INVALID:
            voltage = phase.cVal.mag
            break
    if kwh is None and voltage is None:
        raise ProfileError(
            "schema", f"MeterReadingProfile of {profile.mrid} has no valid TotWh or PhV", device
        )
    if (kwh is not None and kwh < 0) or (voltage is not None and voltage < 0):
        raise ProfileError(
            "out_of_range", f"meter {device}: negative TotWh or PhV ({kwh} kWh, {voltage} V)", device
        )
    return MeterReading(device, profile.ts_ns, "interval", kwh=kwh, voltage_v=voltage)


def scada_readings(profile: Profile, device: str) -> list[ScadaReading]:
    """Position per phase (open/close; transient is skipped) and a reclosing lockout, at the value's time."""
    node = getattr(getattr(profile.message, profile.spec.body), profile.spec.node)
    readings = []
    for field, phase in PHASES:
        if not node.Pos.HasField(field):
            continue
        status = getattr(node.Pos, field)
        if status.stVal == DB_POS_TRANSIENT:
            continue
        if status.stVal not in (DB_POS_CLOSED, DB_POS_OPEN) or status.q.validity == VALIDITY_INVALID:
            raise ProfileError(
                "out_of_range", f"{device} Pos.{field} is invalid (DbPos {status.stVal})", device
            )
        closed = status.stVal == DB_POS_CLOSED
        ts = _ns(status.t) if status.t.seconds else profile.ts_ns
        event = "close" if closed else "open"
        readings.append(ScadaReading(device, ts, event, point="Pos", value=float(closed), phase=phase))  # type: ignore[arg-type]
    if profile.spec.node == "statusAndEventXCBR":
        readings.extend(_reclosing(node, device, profile.ts_ns))
    return readings


def _reclosing(node: Any, device: str, ts_ns: int) -> list[ScadaReading]:
    if not node.HasField("ReclosingAction"):
        return []
    action = node.ReclosingAction
    for field, phase in PHASES:
        if action.HasField(field) and getattr(action, field).value == RECLOSE_LOCKOUT:
            return [ScadaReading(device, ts_ns, "lockout", point="ReclosingAction", phase=phase)]  # type: ignore[arg-type]
    return []


def _ns(stamp: Any) -> int:
    return int(stamp.seconds) * 1_000_000_000 + int(stamp.nanoseconds)
