"""A simulated C37.118.2 PMU/PDC server on TCP for tests, demos and benchmarks, with fault injection.

It answers SEND_CFG2/CFG3 with a CFG-2, streams data frames at the configured rate after DATA_ON, and can
corrupt frames, reconfigure mid-stream, jump its clock, stop answering or drop its clients on request.
"""

from __future__ import annotations

import asyncio
import cmath
import contextlib
import math
import time
from dataclasses import dataclass, field, replace

from gridmon.adapters.c37118.config import (
    FORMAT_FREQ_FLOAT,
    FORMAT_PHASOR_FLOAT,
    FORMAT_POLAR,
    PhasorChannel,
    PmuConfig,
    StreamConfig,
    encode_cfg2,
)
from gridmon.adapters.c37118.data import STAT_CONFIG_CHANGE, encode_data
from gridmon.adapters.c37118.frames import Command, FrameSplitter, FrameType, parse_frame

TIME_BASE = 1_000_000
_PHASE_NAMES = ("VA", "VB", "VC", "IA", "IB", "IC")


def simulated_config(
    pmus: int, rate: float = 30, idcode: int = 1, first_pmu: int = 101, fmt: int | None = None
) -> StreamConfig:
    """A PDC stream of `pmus` PMUs with 3 voltage and 3 current phasors; formats rotate over the 4 phasor kinds."""
    configs = []
    for index in range(pmus):
        # index % 4 walks polar/rectangular × integer/float; every other group of 4 sends float FREQ
        rotating = (index % 4) | (FORMAT_FREQ_FLOAT if (index // 4) % 2 else 0)
        pmu_format = fmt if fmt is not None else rotating
        channels = tuple(
            PhasorChannel(name, name.startswith("I"), 0.5 if name.startswith("V") else 0.02)
            for name in _PHASE_NAMES
        )
        configs.append(
            PmuConfig(f"PMU {first_pmu + index}", first_pmu + index, pmu_format, channels, cfg_count=1)
        )
    return StreamConfig(
        idcode, TIME_BASE, tuple(configs), rate, 2, {p.idcode: i for i, p in enumerate(configs)}
    )


def phasors_at(ts_ns: int, pmu_index: int) -> list[complex]:
    """Balanced three-phase 7.2 kV / 150 A phasors with a slow drift, distinct per PMU."""
    base = math.radians((pmu_index * 7) % 360) + ts_ns * 1e-9 * 0.01
    voltage, current = 7200.0 + pmu_index % 50, 150.0 + pmu_index % 20
    shifts = (0.0, -2 * math.pi / 3, 2 * math.pi / 3)
    return [cmath.rect(voltage, base + s) for s in shifts] + [
        cmath.rect(current, base - 0.3 + s) for s in shifts
    ]


@dataclass
class PdcSimulator:
    """A PDC on 127.0.0.1 streaming `config`; `await start()`, then inject faults, `await stop()`."""

    config: StreamConfig
    host: str = "127.0.0.1"
    port: int = 0
    frames_sent: int = 0
    clock_offset_ns: int = 0
    paused: bool = False
    config_change_pending: bool = False
    _server: asyncio.Server | None = None
    _clients: set[asyncio.StreamWriter] = field(default_factory=set)
    _injections: list[bytes] = field(default_factory=list)

    async def start(self) -> PdcSimulator:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        self.drop_clients()
        if self._server is not None:
            self._server.close()
            # wait_closed waits for every connection to detach; never let a stuck peer hang the caller
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5.0)

    def drop_clients(self) -> None:
        """Reset every client connection (abort: a graceful close would wait for unread frames to drain)."""
        for writer in list(self._clients):
            writer.transport.abort()
        self._clients.clear()

    def inject(self, raw: bytes) -> None:
        """Send these bytes (a malformed frame, garbage) before the next data frame."""
        self._injections.append(raw)

    def reconfigure(self, config: StreamConfig) -> None:
        """Switch to a new configuration; data frames flag STAT bit 10 until a client re-reads it."""
        self.config = config
        self.config_change_pending = True

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._clients.add(writer)
        streaming: asyncio.Task[None] | None = None
        splitter = FrameSplitter()
        try:
            while chunk := await reader.read(4096):
                for raw in splitter.feed(chunk):
                    streaming = self._on_command(raw, writer, streaming)
        except (ConnectionError, OSError):
            pass
        finally:
            if streaming is not None:
                streaming.cancel()
            self._clients.discard(writer)
            writer.close()

    def _on_command(
        self, raw: bytes, writer: asyncio.StreamWriter, streaming: asyncio.Task[None] | None
    ) -> asyncio.Task[None] | None:
        frame = parse_frame(raw)
        if frame.type != FrameType.COMMAND:
            return streaming
        command = int.from_bytes(frame.raw[14:16], "big")
        if command in (Command.SEND_CFG2, Command.SEND_CFG3, Command.SEND_CFG1):
            writer.write(encode_cfg2(self.config, *self._now()))
            self.config_change_pending = False
        elif command == Command.DATA_ON and streaming is None:
            return asyncio.create_task(self._stream(writer))
        elif command == Command.DATA_OFF and streaming is not None:
            streaming.cancel()
            return None
        return streaming

    def _now(self) -> tuple[int, int]:
        now = time.time_ns() + self.clock_offset_ns
        return now // 1_000_000_000, (now % 1_000_000_000) * TIME_BASE // 1_000_000_000

    async def _stream(self, writer: asyncio.StreamWriter) -> None:
        """Send frames on the rate's time grid (aligned to the second, as real PMUs do)."""
        period_ns = int(1e9 / self.config.data_rate)
        next_ns = (time.time_ns() // period_ns + 1) * period_ns
        while not writer.is_closing():
            await asyncio.sleep(max(0.0, (next_ns - time.time_ns()) / 1e9))
            if not self.paused:
                for raw in self._injections:
                    writer.write(raw)
                self._injections.clear()
                writer.write(self.data_frame(next_ns + self.clock_offset_ns))
                self.frames_sent += 1
                await writer.drain()
            next_ns += period_ns

    def data_frame(self, ts_ns: int) -> bytes:
        config = self.config
        soc, fraction = ts_ns // 1_000_000_000, (ts_ns % 1_000_000_000) * config.time_base // 1_000_000_000
        status = [STAT_CONFIG_CHANGE if self.config_change_pending else 0] * len(config.pmus)
        phasors = [phasors_at(ts_ns, index)[: len(pmu.phasors)] for index, pmu in enumerate(config.pmus)]
        freq = [pmu.nominal_hz + 0.01 * math.sin(ts_ns * 1e-9) for pmu in config.pmus]
        return encode_data(config, soc, fraction, status, phasors, freq, [0.02] * len(config.pmus))


def with_extra_pmu(config: StreamConfig, idcode: int) -> StreamConfig:
    """The same stream with one more PMU (float polar, float frequency): a mid-stream reconfiguration."""
    template = config.pmus[0]
    extra = replace(
        template,
        station=f"PMU {idcode}",
        idcode=idcode,
        format=FORMAT_POLAR | FORMAT_PHASOR_FLOAT | FORMAT_FREQ_FLOAT,
        cfg_count=template.cfg_count + 1,
    )
    pmus = (*config.pmus, extra)
    return replace(config, pmus=pmus, pmu_index={p.idcode: i for i, p in enumerate(pmus)})
