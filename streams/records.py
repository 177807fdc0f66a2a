"""The records that cross gridmon's boundaries: input envelopes and readings, and output records.

Every input message is an *envelope* carrying one or many readings of one kind, so that a data concentrator
or head-end batch costs one Kafka message, not thousands. Units are SI (V, A, Hz, °C, kWh); event time `ts`
is UTC, integer nanoseconds since the epoch (an RFC 3339 string is accepted and normalised).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Generic, Literal, TypeVar

import msgspec

SCHEMA_VERSION = 1
Timestamp = int | datetime
NonNegative = Annotated[float, msgspec.Meta(ge=0)]
DeviceId = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]

Kind = Literal["pmu", "sensor", "meter", "scada"]
KINDS: tuple[Kind, ...] = ("pmu", "sensor", "meter", "scada")

MeterEvent = Literal[
    "interval",
    "last_gasp",
    "power_restored",
    "voltage_sag",
    "voltage_swell",
    "tamper",
    "ping_ok",
    "ping_fail",
]
ScadaEvent = Literal["open", "close", "trip", "reclose", "lockout", "fault_indicator", "analog"]
Severity = Literal["info", "warning", "major", "critical"]
Scope = Literal["individual", "street", "zonal"]
DeadLetterReason = Literal[
    "not_utf8",
    "not_json",
    "schema",
    "out_of_range",
    "time_skew",
    "unknown_device",
    "oversize",
    "duplicate",
    "bad_signature",
    "sink_rejected",
    "unmapped",
]
DEAD_LETTER_REASONS: tuple[str, ...] = DeadLetterReason.__args__  # type: ignore[attr-defined]


class PmuReading(msgspec.Struct, frozen=True, gc=False):
    """One synchrophasor measurement (IEEE C37.118 data frame, one PMU). Magnitudes RMS, angles in degrees."""

    device: DeviceId
    ts: Timestamp
    freq_hz: float
    rocof_hz_s: float = 0.0
    va: NonNegative = 0.0
    vb: NonNegative = 0.0
    vc: NonNegative = 0.0
    va_angle: float = 0.0
    vb_angle: float = 0.0
    vc_angle: float = 0.0
    ia: NonNegative = 0.0
    ib: NonNegative = 0.0
    ic: NonNegative = 0.0
    ia_angle: float = 0.0
    ib_angle: float = 0.0
    ic_angle: float = 0.0
    status: Annotated[int, msgspec.Meta(ge=0, le=0xFFFF)] = 0


class SensorReading(msgspec.Struct, frozen=True, gc=False):
    """A line, transformer or power-quality sensor sample; absent quantities are null."""

    device: DeviceId
    ts: Timestamp
    voltage_v: NonNegative | None = None
    current_a: NonNegative | None = None
    temperature_c: float | None = None
    thd_pct: NonNegative | None = None


class MeterReading(msgspec.Struct, frozen=True, gc=False):
    """An AMI interval read or meter event (last gasp, power restored, sag/swell, tamper, ping answer)."""

    device: DeviceId
    ts: Timestamp
    event: MeterEvent = "interval"
    kwh: NonNegative | None = None
    voltage_v: NonNegative | None = None
    interval_s: Annotated[int, msgspec.Meta(ge=0, le=86400)] | None = None


class ScadaReading(msgspec.Struct, frozen=True, gc=False):
    """A SCADA state change (breaker/recloser/switch), relay trip, fault indicator or analog point."""

    device: DeviceId
    ts: Timestamp
    event: ScadaEvent
    point: Annotated[str, msgspec.Meta(max_length=64)] = "status"
    value: float | None = None
    phase: Literal["A", "B", "C", "ABC", "AB", "BC", "CA"] | None = None


Reading = PmuReading | SensorReading | MeterReading | ScadaReading
READING_TYPES: dict[str, type[msgspec.Struct]] = {
    "pmu": PmuReading,
    "sensor": SensorReading,
    "meter": MeterReading,
    "scada": ScadaReading,
}


R = TypeVar("R")


class Envelope(msgspec.Struct, Generic[R], frozen=True, gc=False):
    """The wire format of every input message: `readings` holds one or many readings of the topic's kind.

    `sent_ns` is when the gateway sent the message (for end-to-end latency); `schema` is e.g. `gridmon.pmu/1`.
    """

    readings: list[R]
    source: Annotated[str, msgspec.Meta(max_length=128)] = ""
    sent_ns: int = 0
    schema: str = ""


class Anomaly(msgspec.Struct, frozen=True, kw_only=True):
    """One state of an anomaly (open → updated → closed); the newest `version` wins."""

    id: str
    version: int
    device: str
    zone: str
    feeder: str
    metric: str
    detector: str
    category: Literal["grid", "data_quality"]
    severity: Severity
    state: Literal["open", "closed", "suppressed"]
    start_ns: int
    end_ns: int | None = None
    score: float
    value: float
    parent_outage: str | None = None
    group: str | None = None
    schema: str = "gridmon.anomaly/1"


class Outage(msgspec.Struct, frozen=True, kw_only=True):
    """One state of an outage; the newest `version` wins. `customers` is the peak, `customers_out` now."""

    id: str
    version: int
    feeder: str
    device: str
    zone: str
    scope: Scope
    state: Literal["probable", "confirmed", "restoring", "restored", "momentary"]
    start_ns: int
    end_ns: int | None = None
    customers: int
    customers_out: int
    confirmed_by: list[Literal["ami", "scada", "pmu", "sensor"]]
    parent: str | None = None
    advice: list[str] = []
    schema: str = "gridmon.outage/1"


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    """A message (or one reading of it) that could not be accepted, with why and where it came from."""

    reason: DeadLetterReason
    detail: str
    source_topic: str
    partition: int
    offset: int
    received_ns: int
    device: str | None = None
    original: bytes
    schema: str = "gridmon.dead_letter/1"


class OutageEvent(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A validated meter or SCADA event that matters for outages, routed by feeder to the correlator."""

    feeder: str
    device: str
    ts: int
    source: Literal["ami", "scada", "pmu", "sensor"]
    event: str
    value: float | None = None
