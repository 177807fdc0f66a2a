"""C37.118.2 adapter throughput: 200 PMUs at 60 frames/s must be decoded and mapped on one core.

Baseline: reading the same bytes from a loopback socket. Measured: the adapter's own path (split, CRC,
columnar decode, map to PmuReadings, envelope encode); Kafka is replaced by a counter so only our code is timed.
Run: `.venv/bin/python load_tests/bench_c37118.py [--pmus 200] [--seconds 10]`.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import threading
import time
from typing import Any

from gridmon.adapters.c37118.client import C37118Adapter, C37118Options
from gridmon.adapters.c37118.config import encode_cfg2
from gridmon.adapters.c37118.data import encode_data
from gridmon.adapters.c37118.frames import FrameSplitter
from gridmon.adapters.c37118.simulator import phasors_at, simulated_config
from gridmon.adapters.health import AdapterHealth
from gridmon.adapters.mapping import C37118Mapping, PmuMapping
from gridmon.adapters.publisher import EnvelopePublisher
from gridmon.settings import load_settings


class CountingProducer:
    """Stands in for Kafka so that the figure is the adapter's cost alone; it keeps the bytes' size."""

    def __init__(self) -> None:
        self.messages = 0
        self.bytes = 0

    def produce(self, topic: str, value: bytes, key: bytes, on_delivery: Any = None) -> None:
        self.messages += 1
        self.bytes += len(value)

    def poll(self, timeout: float) -> int:
        return 0

    def flush(self, timeout: float) -> int:
        return 0


def make_stream(pmus: int, rate: int, seconds: int) -> tuple[Any, bytes, list[bytes]]:
    config = simulated_config(pmus, rate=rate)
    start = int(time.time()) * 10**9
    period = 10**9 // rate
    frames = []
    for n in range(rate * seconds):
        ts = start + n * period
        phasors = [phasors_at(ts, i) for i in range(pmus)]
        soc, fraction = ts // 10**9, (ts % 10**9) * config.time_base // 10**9
        frames.append(encode_data(config, soc, fraction, [0] * pmus, phasors, [60.0] * pmus, [0.0] * pmus))
    return config, encode_cfg2(config), frames


def socket_baseline(payload: bytes) -> float:
    """Seconds to receive `payload` over loopback TCP in 64 KiB reads (the floor any adapter pays)."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def send() -> None:
        connection, _ = server.accept()
        connection.sendall(payload)
        connection.close()

    sender = threading.Thread(target=send)
    sender.start()
    client = socket.create_connection(("127.0.0.1", port))
    started = time.perf_counter()
    while client.recv(1 << 16):
        pass
    elapsed = time.perf_counter() - started
    sender.join()
    client.close()
    server.close()
    return elapsed


async def adapter_path(
    config: Any, cfg2: bytes, frames: list[bytes], frames_per_envelope: int
) -> tuple[float, AdapterHealth, CountingProducer]:
    mapping = C37118Mapping(
        source="bench", pmus={str(p.idcode): PmuMapping(f"pmu-{p.idcode}") for p in config.pmus}
    )
    adapter = C37118Adapter(C37118Options("127.0.0.1", 0, frames_per_envelope=frames_per_envelope), mapping)
    health = AdapterHealth(adapter="bench", endpoint=adapter.endpoint)
    producer = CountingProducer()
    publisher = EnvelopePublisher(load_settings(), producer, health)
    splitter = FrameSplitter()
    for raw in splitter.feed(cfg2):
        await adapter._on_frame(raw, publisher)  # the configuration, as the PDC would send it
    stream = b"".join(frames)
    started = time.perf_counter()
    for offset in range(0, len(stream), 1 << 16):
        for raw in splitter.feed(stream[offset : offset + (1 << 16)]):
            await adapter._on_frame(raw, publisher)
        if len(adapter._pending) >= frames_per_envelope:
            adapter._publish_pending(publisher)
    adapter._publish_pending(publisher)
    return time.perf_counter() - started, health, producer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pmus", type=int, default=200)
    parser.add_argument("--rate", type=int, default=60)
    parser.add_argument("--seconds", type=int, default=10, help="seconds of stream to replay")
    parser.add_argument("--frames-per-envelope", type=int, default=6)
    args = parser.parse_args()

    config, cfg2, frames = make_stream(args.pmus, args.rate, args.seconds)
    payload = b"".join(frames)
    baseline_s = socket_baseline(payload)
    adapter_s, health, producer = asyncio.run(adapter_path(config, cfg2, frames, args.frames_per_envelope))
    needed = args.pmus * args.rate
    readings_per_s = health.readings_published / adapter_s
    print(f"stream: {args.pmus} PMUs × {args.rate} frames/s, {len(frames)} frames of {len(frames[0])} bytes")
    print(
        f"socket read baseline: {len(frames) / baseline_s:12,.0f} frames/s  ({len(payload) / baseline_s / 1e6:,.0f} MB/s)"
    )
    print(
        f"adapter decode+map:   {len(frames) / adapter_s:12,.0f} frames/s  {readings_per_s:12,.0f} readings/s"
    )
    print(
        f"adapter / baseline time: {adapter_s / baseline_s:,.1f}×;  headroom over real time: {readings_per_s / needed:,.1f}×"
    )
    print(
        f"envelopes: {producer.messages}, {producer.bytes / max(1, producer.messages) / 1e3:,.0f} kB each; "
        f"dead letters: {health.dead_letters or 'none'}"
    )
    print(
        f"one core keeps up with {args.pmus} PMUs at {args.rate}/s: {'YES' if readings_per_s >= needed else 'NO'}"
    )


if __name__ == "__main__":
    main()
