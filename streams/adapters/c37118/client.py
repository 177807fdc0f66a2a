"""The C37.118.2 PDC client adapter: TCP to a PMU/PDC, CFG-2/CFG-3 handshake, data frames → PmuReadings.

Frames are decoded in batches of `frames_per_envelope` (one envelope per batch, keyed by the PDC's source
id); a new configuration mid-stream, a CFG change bit or a frame of the wrong size triggers a config request.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from gridmon.adapters.base import FieldAdapter
from gridmon.adapters.c37118.config import StreamConfig, parse_config
from gridmon.adapters.c37118.data import SLOTS, STAT_CONFIG_CHANGE, DataLayout, PmuColumns, infer_slots
from gridmon.adapters.c37118.frames import (
    Command,
    Frame,
    FrameError,
    FrameSplitter,
    FrameType,
    command_frame,
    parse_frame,
)
from gridmon.adapters.mapping import C37118Mapping
from gridmon.adapters.publisher import EnvelopePublisher, adapter_dead_letter
from gridmon.errors import AdapterError
from gridmon.records import PmuReading

_SLOT_INDEX = {slot: index for index, slot in enumerate(SLOTS)}
_MAX_FRAME_GAP_NS = 2_000_000_000  # a jump bigger than this between consecutive frames is a clock jump
_CONFIG_RECHECK_S = 5.0


@dataclass
class C37118Options:
    host: str
    port: int
    idcode: int = 1  # the IDCODE our commands address (the PDC's stream id)
    frames_per_envelope: int = 6
    max_batch_delay_s: float = 0.2
    config_timeout_s: float = 5.0
    stall_timeout_s: float = 5.0  # no bytes for this long: the device stopped answering, reconnect
    prefer_cfg3: bool = False


class C37118Adapter(FieldAdapter):
    protocol = "c37118"

    def __init__(self, options: C37118Options, mapping: C37118Mapping) -> None:
        super().__init__(f"c37118://{options.host}:{options.port}")
        self.options = options
        self.mapping = mapping
        self.layout: DataLayout | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._splitter = FrameSplitter()
        self._pending: list[bytes] = []
        self._pending_since = 0.0
        self._config_requested = False
        self._last_ts_ns: int | None = None
        self._sequence = 0
        self._devices: list[str | None] = []
        self._config_change_flagged = False
        self._config_asked_at = 0.0

    async def connect(self) -> None:
        self._reader, self._writer = await asyncio.wait_for(
            asyncio.open_connection(self.options.host, self.options.port), self.options.config_timeout_s
        )
        self._splitter = FrameSplitter()
        self.layout = None
        await self._request_config()

    async def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is None:
            return
        if not writer.is_closing():
            try:
                writer.write(command_frame(self.options.idcode, Command.DATA_OFF, int(time.time())))
                await asyncio.wait_for(writer.drain(), 1.0)
            except (OSError, TimeoutError):
                pass  # the peer is already gone; nothing more to tell it
        writer.close()

    async def _follow_config_change(self) -> None:
        """A PMU sets STAT bit 10 for a minute around a change: re-read the configuration, at most every 5 s."""
        if not self._config_change_flagged:
            return
        self._config_change_flagged = False
        if not self._config_requested and time.monotonic() - self._config_asked_at >= _CONFIG_RECHECK_S:
            await self._request_config()

    async def _request_config(self) -> None:
        self._config_asked_at = time.monotonic()
        command = Command.SEND_CFG3 if self.options.prefer_cfg3 else Command.SEND_CFG2
        await self._send(command)
        self._config_requested = True

    async def _send(self, command: Command) -> None:
        if self._writer is None:
            raise AdapterError(f"{self.endpoint}: not connected")
        self._writer.write(command_frame(self.options.idcode, command, int(time.time())))
        await self._writer.drain()

    async def pump(self, publisher: EnvelopePublisher) -> None:
        """Read frames until the connection ends; publish what is pending whatever happens."""
        try:
            while True:
                chunk = await self._read_chunk()
                for raw in self._splitter.feed(chunk):
                    await self._on_frame(raw, publisher)
                if self._pending and self._batch_due():
                    self._publish_pending(publisher)
                await self._follow_config_change()
                publisher.health.frames = self._sequence
        finally:
            self._publish_pending(publisher)

    async def _read_chunk(self) -> bytes:
        assert self._reader is not None
        timeout = self.options.stall_timeout_s
        if self._pending:  # wake up in time to publish a partial batch
            timeout = max(0.001, self._pending_since + self.options.max_batch_delay_s - time.monotonic())
        try:
            chunk = await asyncio.wait_for(self._reader.read(1 << 16), timeout)
        except TimeoutError:
            if self._pending:
                return b""
            raise AdapterError(
                f"{self.endpoint} sent nothing for {self.options.stall_timeout_s:.0f}s"
            ) from None
        if not chunk:
            raise ConnectionError(f"{self.endpoint} closed the connection")
        return chunk

    def _batch_due(self) -> bool:
        full = len(self._pending) >= self.options.frames_per_envelope
        return full or time.monotonic() - self._pending_since >= self.options.max_batch_delay_s

    async def _on_frame(self, raw: bytes, publisher: EnvelopePublisher) -> None:
        self._sequence += 1
        try:
            frame = parse_frame(raw)
            if frame.type in (FrameType.CFG1, FrameType.CFG2, FrameType.CFG3):
                await self._on_config(frame, publisher)
            elif frame.type == FrameType.DATA:
                await self._on_data(frame, publisher)
        except FrameError as exc:
            publisher.dead_letter(adapter_dead_letter("schema", str(exc), self.endpoint, raw, self._sequence))

    async def _on_config(self, frame: Frame, publisher: EnvelopePublisher) -> None:
        config = parse_config(frame)
        self._publish_pending(publisher)  # frames so far belong to the previous configuration
        self.layout = DataLayout(
            config, [self._slots(config, position) for position in range(len(config.pmus))]
        )
        self._devices = [self._device(pmu.idcode) for pmu in config.pmus]
        if self._config_requested:
            self._config_requested = False
            await self._send(Command.DATA_ON)

    def _slots(self, config: StreamConfig, position: int) -> list[int | None]:
        pmu = config.pmus[position]
        mapped = self.mapping.pmu(pmu.idcode)
        if mapped is None or not mapped.channels:
            return infer_slots(pmu)
        return [
            _SLOT_INDEX[mapped.channels[c.name]] if c.name in mapped.channels else None for c in pmu.phasors
        ]

    def _device(self, idcode: int) -> str | None:
        mapped = self.mapping.pmu(idcode)
        return mapped.device if mapped else None

    async def _on_data(self, frame: Frame, publisher: EnvelopePublisher) -> None:
        if self.layout is None:
            if not self._config_requested:
                await self._request_config()
            raise FrameError("data frame before any configuration frame: requested the configuration")
        if len(frame.raw) != self.layout.frame_size:
            if not self._config_requested:
                await self._request_config()
            raise FrameError(
                f"data frame of {len(frame.raw)} bytes does not match the configuration "
                f"({self.layout.frame_size} bytes): the PDC was reconfigured, requested the new configuration"
            )
        if not self._pending:
            self._pending_since = time.monotonic()
        self._pending.append(frame.raw)
        if (
            len(self._pending) >= self.options.frames_per_envelope
        ):  # a chunk may hold many frames after a stall
            self._publish_pending(publisher)

    def _publish_pending(self, publisher: EnvelopePublisher) -> None:
        if not self._pending or self.layout is None:
            return
        frames, self._pending = self._pending, []
        columns = self.layout.decode(frames)
        self._note_clock(columns, publisher)
        readings = self._readings(columns, frames, publisher)
        source = self.mapping.source or f"pdc-{self.layout.config.idcode}"
        devices = {reading.device for reading in readings}
        key = next(iter(devices)) if len(devices) == 1 else source
        publisher.publish("pmu", readings, key, source)
        if (columns.status & STAT_CONFIG_CHANGE).any():
            self._config_change_flagged = True

    def _note_clock(self, columns: PmuColumns, publisher: EnvelopePublisher) -> None:
        """Count time jumps (backwards, or a gap of seconds); the readings still flow, ingest judges skew."""
        stamps = columns.ts_ns.tolist()
        previous = self._last_ts_ns
        for stamp in stamps:
            if previous is not None and not 0 < stamp - previous <= _MAX_FRAME_GAP_NS:
                publisher.health.clock_jumps += 1
            previous = stamp
        self._last_ts_ns = previous
        publisher.health.last_event_ns = max(stamps)

    def _readings(
        self, columns: PmuColumns, frames: list[bytes], publisher: EnvelopePublisher
    ) -> list[PmuReading]:
        out: list[PmuReading] = []
        for position, device in enumerate(self._devices):
            if device is None:
                self._dead_letter_unmapped(position, frames, publisher)
                continue
            out.extend(self._pmu_readings(columns, position, device, frames, publisher))
        return out

    def _pmu_readings(
        self,
        columns: PmuColumns,
        position: int,
        device: str,
        frames: list[bytes],
        publisher: EnvelopePublisher,
    ) -> list[PmuReading]:
        values = _columns_of(columns, position)
        readings = [PmuReading(device, *row) for row in zip(*values, strict=True)]
        missing = columns.missing[:, position]
        if not missing.any():
            return readings
        for row in missing.nonzero()[0].tolist():
            detail = f"PMU {device} sent a missing (NaN / 0x8000) value at ts {int(columns.ts_ns[row])}"
            letter = adapter_dead_letter(
                "out_of_range", detail, self.endpoint, frames[row], self._sequence, device
            )
            publisher.dead_letter(letter)
        return [reading for reading, bad in zip(readings, missing.tolist(), strict=True) if not bad]

    def _dead_letter_unmapped(self, position: int, frames: list[bytes], publisher: EnvelopePublisher) -> None:
        assert self.layout is not None
        pmu = self.layout.config.pmus[position]
        detail = (
            f"{len(frames)} readings of PMU IDCODE {pmu.idcode} ({pmu.station!r}) dropped: it is not in the "
            f'mapping file; add [c37118.pmus.{pmu.idcode}] device = "..."'
        )
        letter = adapter_dead_letter("unmapped", detail, self.endpoint, frames[0], self._sequence)
        publisher.dead_letter(letter, readings=len(frames))


def _columns_of(columns: PmuColumns, position: int) -> list[list[Any]]:
    """PmuReading positional fields after `device`, one list per field, for PMU `position`."""
    magnitude, angle = columns.magnitude[:, position, :], columns.angle_deg[:, position, :]
    fields = [
        columns.ts_ns.tolist(),
        columns.freq_hz[:, position].tolist(),
        columns.rocof_hz_s[:, position].tolist(),
    ]
    fields += [magnitude[:, slot].tolist() for slot in range(3)]
    fields += [angle[:, slot].tolist() for slot in range(3)]
    fields += [magnitude[:, slot].tolist() for slot in range(3, 6)]
    fields += [angle[:, slot].tolist() for slot in range(3, 6)]
    fields.append(columns.status[:, position].tolist())
    return fields
