"""A simulated Modbus TCP outstation on loopback (pymodbus server): set its points, make it stop answering.

Used by the tests and `gridmon adapt simulate-modbus`; every unit has `size` coils, discrete inputs, holding and
input registers from address 0, and answers "illegal data address" beyond them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from gridmon.adapters.modbus.registers import encode_register_value
from gridmon.kafka.embedded import free_loopback_port

_FUNCTION_CODE = {"coil": 1, "discrete_input": 2, "holding_register": 3, "input_register": 4}


class ModbusSimulator:
    def __init__(self, units: Sequence[int] = (1,), size: int = 64, port: int | None = None) -> None:
        self.units = tuple(units)
        self.size = size
        self.port = port or free_loopback_port()
        self._answering = asyncio.Event()
        self._answering.set()
        self._server: object | None = None

    @property
    def answering(self) -> bool:
        return self._answering.is_set()

    @answering.setter
    def answering(self, value: bool) -> None:
        """False: requests are received but never answered, like a hung RTU behind a live TCP stack."""
        if value:
            self._answering.set()
        else:
            self._answering.clear()

    async def start(self) -> ModbusSimulator:
        from pymodbus.server import ModbusTcpServer
        from pymodbus.simulator import DataType, SimData, SimDevice

        def device(unit: int) -> SimDevice:
            def bits() -> list[SimData]:
                return [SimData(0, count=self.size, values=False, datatype=DataType.BITS)]

            def registers() -> list[SimData]:
                return [SimData(0, count=self.size, values=0, datatype=DataType.REGISTERS)]

            return SimDevice(
                unit,
                simdata=(bits(), bits(), registers(), registers()),
                action=self._gate,
            )

        server = ModbusTcpServer([device(unit) for unit in self.units], address=("127.0.0.1", self.port))
        await server.serve_forever(background=True)
        self._server = server
        return self

    async def stop(self) -> None:
        server, self._server = self._server, None
        self.answering = True  # release held requests so that their handlers end
        if server is not None:
            await server.shutdown()  # type: ignore[attr-defined]

    async def set_bits(self, table: str, address: int, values: Sequence[bool], unit: int = 1) -> None:
        await self._set(unit, table, address, [bool(value) for value in values])

    async def set_value(
        self,
        table: str,
        address: int,
        value: float,
        data_type: str = "uint16",
        word_order: str = "big",
        unit: int = 1,
    ) -> None:
        await self._set(unit, table, address, encode_register_value(value, data_type, word_order))

    async def _set(self, unit: int, table: str, address: int, values: list[int] | list[bool]) -> None:
        if self._server is None:
            raise RuntimeError("start() the simulator first")
        await self._server.async_setValues(unit, _FUNCTION_CODE[table], address, values)  # type: ignore[attr-defined]

    async def _gate(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> None:
        if set_values is None:  # reads wait while the device "does not answer"; our own writes never do
            await self._answering.wait()
