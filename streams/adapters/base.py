"""The one adapter interface (connect → pump → close) and the loop that runs any adapter with backoff.

An adapter decodes its protocol and maps points to devices; the runner owns reconnection, health and the
final flush, so every protocol reconnects, reports and shuts down the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from gridmon.adapters.health import write_health
from gridmon.adapters.publisher import EnvelopePublisher
from gridmon.errors import AdapterError

# Failures that mean "the device or network is away": reconnect. Anything else is a bug and propagates.
RECOVERABLE = (OSError, TimeoutError, ConnectionError, AdapterError, EOFError)


class FieldAdapter(ABC):
    """A field protocol client. `pump` publishes through `publisher` until the connection is lost.

    `pump` must publish (or dead-letter) everything it has decoded before it returns or raises, so that a
    reconnect never loses accepted data.
    """

    protocol: ClassVar[str]

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    @abstractmethod
    async def connect(self) -> None: ...

    @abstractmethod
    async def pump(self, publisher: EnvelopePublisher) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...


@dataclass
class Backoff:
    """Exponential backoff with jitter, so that many adapters do not reconnect in lockstep."""

    initial_s: float = 0.2
    max_s: float = 30.0
    factor: float = 2.0
    _next_s: float = 0.0

    def next_delay(self) -> float:
        self._next_s = min(self.max_s, self._next_s * self.factor if self._next_s else self.initial_s)
        return self._next_s * random.uniform(0.8, 1.2)

    def reset(self) -> None:
        self._next_s = 0.0


async def run_adapter(
    adapter: FieldAdapter,
    publisher: EnvelopePublisher,
    stop: asyncio.Event,
    health_file: Path | None = None,
    backoff: Backoff | None = None,
) -> None:
    """Connect, pump, and on any recoverable failure reconnect with backoff, until `stop` is set."""
    backoff = backoff or Backoff()
    health = publisher.health
    reporter = asyncio.create_task(_report(publisher, health_file))
    try:
        while not stop.is_set():
            if await _session(adapter, publisher, stop):
                backoff.reset()
            if stop.is_set():
                break
            health.state, health.reconnects = "backoff", health.reconnects + 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff.next_delay())
    finally:
        reporter.cancel()
        health.state = "stopped"
        unconfirmed = await asyncio.to_thread(publisher.flush, 10.0)
        if unconfirmed:
            health.last_error = f"{unconfirmed} messages not confirmed by Kafka at shutdown"
        if health_file is not None:
            write_health(health, health_file)


async def _session(adapter: FieldAdapter, publisher: EnvelopePublisher, stop: asyncio.Event) -> bool:
    """One connection's life; returns whether it got connected (to reset the backoff)."""
    health = publisher.health
    health.state = "connecting"
    connected = False
    try:
        await adapter.connect()
        connected = True
        health.state, health.connected_since_ns = "connected", time.time_ns()
        pump = asyncio.create_task(adapter.pump(publisher))
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({pump, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if pump not in done:
            await _cancel(pump)
        elif pump.exception() is None:
            health.last_error = f"{adapter.endpoint} ended the session"
        else:
            raise pump.exception()  # type: ignore[misc]
    except RECOVERABLE as exc:
        health.last_error = f"{adapter.protocol} {adapter.endpoint}: {type(exc).__name__}: {exc}"
    finally:
        health.connected_since_ns = None
        with contextlib.suppress(*RECOVERABLE):
            await adapter.close()
    return connected


async def _cancel(task: asyncio.Task[None]) -> None:
    """Cancel until it ends: on Python 3.11, asyncio.wait_for can swallow a cancel that races its result."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=0.5)
    if not task.cancelled() and task.exception() is not None:
        raise task.exception()  # type: ignore[misc]


async def _report(publisher: EnvelopePublisher, health_file: Path | None, every_s: float = 1.0) -> None:
    """Serve delivery callbacks and refresh the health file while the adapter runs."""
    while True:
        publisher.poll()
        if health_file is not None:
            write_health(publisher.health, health_file)
        await asyncio.sleep(every_s)
