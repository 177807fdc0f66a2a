"""The mapping file (TOML): which protocol point is which device of the grid model, per adapter.

Unmapped points are dead-lettered with reason `unmapped`, never guessed. See docs/adapters.md for examples.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import msgspec

from gridmon.errors import ConfigError

PhaseSlot = Literal["va", "vb", "vc", "ia", "ib", "ic"]
DeviceName = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]


class PmuMapping(msgspec.Struct, forbid_unknown_fields=True):
    """One PMU (by its C37.118 IDCODE): the grid-model device, and optionally channel name → phase slot."""

    device: DeviceName
    channels: dict[str, PhaseSlot] = {}


class C37118Mapping(msgspec.Struct, forbid_unknown_fields=True):
    source: str = ""  # key of multi-PMU envelopes; default "pdc-<IDCODE>"
    pmus: dict[str, PmuMapping] = {}

    def pmu(self, idcode: int) -> PmuMapping | None:
        return self.pmus.get(str(idcode))


class MqttTopicMapping(msgspec.Struct, forbid_unknown_fields=True):
    """An MQTT topic pattern such as `ami/{device}/reading` (`+`/`#` allowed) and what its payloads are."""

    pattern: str
    kind: Literal["meter", "sensor", "scada"]
    device: str = "{device}"  # template over the pattern's named levels, e.g. `mtr-{device}`
    payload: Literal["json", "sparkplug-json"] = "json"


class MqttMapping(msgspec.Struct, forbid_unknown_fields=True):
    source: str = "mqtt"
    topics: list[MqttTopicMapping] = []


ModbusTable = Literal["coil", "discrete_input", "input_register", "holding_register"]
ModbusQuantity = Literal["breaker", "voltage_v", "current_a", "temperature_c", "thd_pct"]
BIT_TABLES: frozenset[str] = frozenset({"coil", "discrete_input"})


class ModbusPoint(msgspec.Struct, forbid_unknown_fields=True):
    """A Modbus point: coils/discrete inputs are breaker states, registers are scaled sensor quantities.

    A register value is `decoded × scale + offset`; decoded values listed in `invalid` (a device's "no value"
    sentinel such as 65535) are dead-lettered, never published.
    """

    device: DeviceName
    table: ModbusTable
    address: Annotated[int, msgspec.Meta(ge=0, le=65535)]
    quantity: ModbusQuantity = "breaker"
    data_type: Literal["uint16", "int16", "uint32", "int32", "float32"] = "uint16"
    word_order: Literal["big", "little"] = "big"  # which register holds the high word of 32-bit values
    scale: float = 1.0
    offset: float = 0.0
    invalid: list[float] = []
    closed_when: bool = True  # the bit value that means "breaker closed"
    point: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] = "status"  # ScadaReading.point
    unit: Annotated[int, msgspec.Meta(ge=0, le=255)] | None = None  # default: the table's `unit`

    def __post_init__(self) -> None:
        bits = self.table in BIT_TABLES
        if bits != (self.quantity == "breaker"):
            raise ValueError(
                f"{self.device} {self.table} {self.address}: coils/discrete inputs are `breaker` points, "
                f"registers need a sensor quantity (voltage_v, current_a, temperature_c, thd_pct)"
            )


class ModbusMapping(msgspec.Struct, forbid_unknown_fields=True):
    source: str = "modbus"  # key of multi-device envelopes
    unit: Annotated[int, msgspec.Meta(ge=0, le=255)] = 1  # Modbus unit (slave) id of points without one
    report_initial: bool = True  # publish each breaker's state at the first poll, not only its changes
    points: list[ModbusPoint] = []


OpenFmbProfile = Literal[
    "MeterReadingProfile",
    "SwitchStatusProfile",
    "SwitchEventProfile",
    "RecloserStatusProfile",
    "RecloserEventProfile",
    "BreakerStatusProfile",
    "BreakerEventProfile",
]
OPENFMB_PROFILES: tuple[OpenFmbProfile, ...] = OpenFmbProfile.__args__  # type: ignore[attr-defined]


class OpenFmbMapping(msgspec.Struct, forbid_unknown_fields=True):
    """OpenFMB equipment (the profile's conducting-equipment mRID) → grid-model device, and what to subscribe."""

    source: str = "openfmb"  # key of multi-device envelopes
    subject_prefix: str = "openfmb"  # subjects are <prefix>.<module>.<Profile>.<mRID>
    profiles: list[OpenFmbProfile] = msgspec.field(default_factory=lambda: list(OPENFMB_PROFILES))
    devices: dict[str, DeviceName] = {}


class MappingFile(msgspec.Struct, forbid_unknown_fields=True):
    c37118: C37118Mapping = msgspec.field(default_factory=C37118Mapping)
    mqtt: MqttMapping = msgspec.field(default_factory=MqttMapping)
    modbus: ModbusMapping = msgspec.field(default_factory=ModbusMapping)
    openfmb: OpenFmbMapping = msgspec.field(default_factory=OpenFmbMapping)


def load_mapping(path: Path) -> MappingFile:
    """Read and check a mapping file; a mistake raises ConfigError naming the file and the field."""
    try:
        return msgspec.toml.decode(path.read_bytes(), type=MappingFile)
    except OSError as exc:
        raise ConfigError(f"cannot read mapping file {path}: {exc.strerror}") from None
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ConfigError(f"mapping file {path} is invalid: {exc}; see docs/adapters.md") from None


def parse_mapping(text: str) -> MappingFile:
    """A mapping from TOML text (tests and inline configuration)."""
    try:
        return msgspec.toml.decode(text, type=MappingFile)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ConfigError(f"mapping is invalid: {exc}; see docs/adapters.md") from None
