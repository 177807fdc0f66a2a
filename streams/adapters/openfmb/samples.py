"""Build OpenFMB profiles as a field device would publish them (for tests, demos and `simulate-openfmb`).

Only the fields gridmon reads are filled: equipment mRID, message time, TotWh/PhV, Pos, ReclosingAction.
"""

from __future__ import annotations

import uuid
from typing import Any

from gridmon.adapters.openfmb.profiles import (
    DB_POS_CLOSED,
    DB_POS_OPEN,
    PROFILES,
    RECLOSE_LOCKOUT,
    ProfileSpec,
    message_class,
)


def subject(spec_name: str, mrid: str, prefix: str = "openfmb") -> str:
    spec = PROFILES[spec_name]
    return f"{prefix}.{spec.module}.{spec.name}.{mrid}"


def meter_reading_profile(mrid: str, ts_ns: int, total_wh: int | None, phase_a_v: float | None) -> bytes:
    spec = PROFILES["MeterReadingProfile"]
    message = _stamped(spec, mrid, ts_ns)
    if total_wh is not None:
        message.meterReading.readingMMTR.TotWh.actVal = total_wh
    if phase_a_v is not None:
        message.meterReading.readingMMXU.PhV.phsA.cVal.mag = phase_a_v
    return bytes(message.SerializeToString())


def position_profile(
    spec_name: str, mrid: str, ts_ns: int, closed: bool | None, lockout: bool = False, phase: str = "phs3"
) -> bytes:
    """A switch/recloser/breaker status or event profile with the position (None: no Pos) and lockout."""
    spec = PROFILES[spec_name]
    message = _stamped(spec, mrid, ts_ns)
    node = getattr(getattr(message, spec.body), spec.node)
    if closed is not None:
        status = getattr(node.Pos, phase)
        status.stVal = DB_POS_CLOSED if closed else DB_POS_OPEN
        status.t.seconds, status.t.nanoseconds = divmod(ts_ns, 1_000_000_000)
    if lockout:
        node.ReclosingAction.phs3.value = RECLOSE_LOCKOUT
    return bytes(message.SerializeToString())


def _stamped(spec: ProfileSpec, mrid: str, ts_ns: int) -> Any:
    message = message_class(spec)()
    info = getattr(message, spec.info).messageInfo
    info.identifiedObject.mRID.value = str(uuid.uuid4())
    info.messageTimeStamp.seconds, info.messageTimeStamp.nanoseconds = divmod(ts_ns, 1_000_000_000)
    getattr(message, spec.equipment).conductingEquipment.mRID = mrid
    return message
