"""The Modbus TCP polling adapter: each poll reads the mapped points, stamps them with the poll time, and
publishes breaker state changes (grid.scada) and scaled register values (grid.sensor).

A unit that does not answer is named in health; when no unit answers, the session ends and the runner
reconnects with backoff. Breaker states survive reconnects, so a reconnect never repeats a state change.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from gridmon.adapters.base import FieldAdapter
from gridmon.adapters.health import AdapterHealth
from gridmon.adapters.mapping import ModbusMapping, ModbusPoint
from gridmon.adapters.modbus.registers import ReadBlock, decode_register_value, plan_reads, point_width
from gridmon.adapters.publisher import EnvelopePublisher, adapter_dead_letter
from gridmon.errors import AdapterError
from gridmon.records import DeadLetterReason, ScadaReading, SensorReading

# Exception codes that mean "the mapping names a point this device does not have"; the others (busy,
# device failure, gateway target not answering) mean the unit could not answer this time.
_NOT_ON_DEVICE = {1: "illegal function", 2: "illegal data address", 3: "illegal data value"}
_NON_NEGATIVE = {"voltage_v", "current_a", "thd_pct"}


@dataclass
class ModbusOptions:
    host: str
    port: int = 502
    poll_interval_s: float = 1.0
    timeout_s: float = 1.0  # a request unanswered for this long: the unit is not answering


class _UnitSilent(Exception):
    """A unit did not answer (timeout, busy, gateway path down) for this poll."""


class _NotOnDevice(Exception):
    """The device answered that the requested points do not exist."""


@dataclass
class _PollResult:
    ts_ns: int
    scada: list[ScadaReading] = field(default_factory=list)
    sensor_fields: dict[str, dict[str, float]] = field(default_factory=dict)


class ModbusAdapter(FieldAdapter):
    protocol = "modbus"

    def __init__(self, options: ModbusOptions, mapping: ModbusMapping) -> None:
        super().__init__(f"modbus://{options.host}:{options.port}")
        if not mapping.points:
            raise AdapterError(
                "the mapping file has no [[modbus.points]]: nothing to poll (see docs/adapters.md)"
            )
        self.options = options
        self.mapping = mapping
        self.blocks = plan_reads(mapping)
        self._client: Any = None
        self._closed_state: dict[tuple[int, str, int, str], bool] = {}  # last breaker state per point
        self._silent_units: dict[int, str] = {}
        self._polls = 0

    async def connect(self) -> None:
        from pymodbus.client import AsyncModbusTcpClient

        # retries and reconnects are ours (run_adapter's backoff), not pymodbus's
        client = AsyncModbusTcpClient(
            self.options.host,
            port=self.options.port,
            timeout=self.options.timeout_s,
            retries=0,
            reconnect_delay=0,
        )
        if not await client.connect():
            client.close()
            raise AdapterError(
                f"cannot connect to Modbus device {self.endpoint}: check host/port and that it accepts TCP clients"
            )
        self._client = client

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    async def pump(self, publisher: EnvelopePublisher) -> None:
        next_poll = time.monotonic()
        while True:
            await self.poll_once(publisher)
            next_poll += self.options.poll_interval_s
            delay = next_poll - time.monotonic()
            if delay < 0:  # a slow poll: start the next one now, without a burst of catch-up polls
                next_poll, delay = time.monotonic(), 0.0
            await asyncio.sleep(delay)

    async def poll_once(self, publisher: EnvelopePublisher) -> None:
        """Read every block once, publish what was read, and raise AdapterError if no unit answered."""
        self._polls += 1
        result = _PollResult(time.time_ns())
        answered: set[int] = set()
        silent: dict[int, str] = {}
        try:
            for block in self.blocks:
                if block.unit in silent:
                    continue  # one timeout per unit and poll is enough
                try:
                    values = await self._read(block)
                except _UnitSilent as exc:
                    silent[block.unit] = str(exc)
                    continue
                except _NotOnDevice as exc:
                    answered.add(block.unit)
                    self._dead_letter_block(publisher, block, "unmapped", str(exc))
                    continue
                answered.add(block.unit)
                self._map_block(publisher, block, values, result)
        finally:  # breaker states are already remembered: what was read must be published even if we fail
            self._publish(publisher, result)
        self._report_silence(publisher.health, silent, answered)
        if silent and not answered:
            raise AdapterError(
                f"Modbus device {self.endpoint} stopped answering: {'; '.join(silent.values())}"
            )

    async def _read(self, block: ReadBlock) -> Sequence[Any]:
        from pymodbus.exceptions import ConnectionException, ModbusException

        client = self._client
        if client is None or not client.connected:
            raise AdapterError(f"the connection to Modbus device {self.endpoint} was closed")
        method = {
            "coil": client.read_coils,
            "discrete_input": client.read_discrete_inputs,
            "holding_register": client.read_holding_registers,
            "input_register": client.read_input_registers,
        }[block.table]
        try:
            response = await method(block.address, count=block.count, device_id=block.unit)
        except ConnectionException as exc:
            raise AdapterError(f"Modbus device {self.endpoint} dropped the connection: {exc}") from exc
        except ModbusException as exc:
            raise _UnitSilent(f"unit {block.unit} did not answer within {self.options.timeout_s} s") from exc
        if response.isError():
            code = int(response.exception_code)
            if code in _NOT_ON_DEVICE:
                raise _NotOnDevice(
                    f"{block.describe()}: the device answered exception {code} ({_NOT_ON_DEVICE[code]}); "
                    "fix these [[modbus.points]] in the mapping file"
                )
            raise _UnitSilent(f"unit {block.unit} answered exception {code} (busy or not reachable)")
        return list(response.bits[: block.count]) if block.is_bits else list(response.registers)

    def _map_block(
        self, publisher: EnvelopePublisher, block: ReadBlock, values: Sequence[Any], result: _PollResult
    ) -> None:
        for point in block.points:
            offset = point.address - block.address
            if block.is_bits:
                self._map_breaker(block.unit, point, bool(values[offset]), result)
                continue
            words = values[offset : offset + point_width(point)]
            problem = self._map_register(point, decode_register_value(point, words), result)
            if problem:
                self._dead_letter_point(publisher, block, point, problem, list(words), result.ts_ns)

    def _map_breaker(self, unit: int, point: ModbusPoint, bit: bool, result: _PollResult) -> None:
        closed = bit == point.closed_when
        key = (unit, point.table, point.address, point.device)
        previous = self._closed_state.get(key)
        self._closed_state[key] = closed
        if previous == closed or (previous is None and not self.mapping.report_initial):
            return
        event = "close" if closed else "open"
        result.scada.append(
            ScadaReading(point.device, result.ts_ns, event, point=point.point, value=1.0 if closed else 0.0)
        )

    def _map_register(self, point: ModbusPoint, decoded: float, result: _PollResult) -> str:
        """Add the scaled value to the device's sensor reading; returns why it cannot be, or ""."""
        if not math.isfinite(decoded) or decoded in point.invalid:
            return f"{point.device} {point.quantity}: the device sent {decoded}, its 'no value' marker"
        value = decoded * point.scale + point.offset
        if point.quantity in _NON_NEGATIVE and value < 0:
            return f"{point.device} {point.quantity} = {value} is negative (check scale/offset/data_type)"
        result.sensor_fields.setdefault(point.device, {})[point.quantity] = value
        return ""

    def _publish(self, publisher: EnvelopePublisher, result: _PollResult) -> None:
        sensors = [
            SensorReading(device, result.ts_ns, **fields)  # type: ignore[arg-type]
            for device, fields in result.sensor_fields.items()
        ]
        for kind, readings in (("scada", result.scada), ("sensor", sensors)):
            devices = {reading.device for reading in readings}
            key = next(iter(devices)) if len(devices) == 1 else self.mapping.source
            publisher.publish(kind, readings, key, self.mapping.source)  # type: ignore[arg-type]
        if result.scada or sensors:
            publisher.health.last_event_ns = result.ts_ns
        publisher.health.frames = self._polls

    def _report_silence(self, health: AdapterHealth, silent: dict[int, str], answered: set[int]) -> None:
        for unit in answered:
            self._silent_units.pop(unit, None)
        self._silent_units.update(silent)
        health.unresponsive = [
            f"unit {unit} ({', '.join(self._unit_devices(unit))}) at {self.endpoint}"
            for unit in sorted(self._silent_units)
        ]

    def _unit_devices(self, unit: int) -> list[str]:
        return sorted({p.device for b in self.blocks if b.unit == unit for p in b.points})

    def _dead_letter_block(
        self, publisher: EnvelopePublisher, block: ReadBlock, reason: DeadLetterReason, detail: str
    ) -> None:
        devices = {point.device for point in block.points}
        original = msgspec.json.encode(
            {"unit": block.unit, "table": block.table, "address": block.address, "count": block.count}
        )
        device = next(iter(devices)) if len(devices) == 1 else None
        letter = adapter_dead_letter(reason, detail, self.endpoint, original, self._polls, device)
        publisher.dead_letter(letter, readings=len(block.points))

    def _dead_letter_point(
        self,
        publisher: EnvelopePublisher,
        block: ReadBlock,
        point: ModbusPoint,
        detail: str,
        words: list[int],
        ts_ns: int,
    ) -> None:
        original = msgspec.json.encode(
            {
                "unit": block.unit,
                "table": point.table,
                "address": point.address,
                "registers": words,
                "ts": ts_ns,
            }
        )
        letter = adapter_dead_letter(
            "out_of_range", detail, self.endpoint, original, self._polls, point.device
        )
        publisher.dead_letter(letter)
