"""Counters, lag and state of one running adapter, written as JSON to `<data_dir>/adapters/<name>.json`.

`gridmon adapt status` reads those files; a supervisor can alert on `state` and `lag_s`.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Literal

import msgspec

State = Literal["starting", "connecting", "connected", "backoff", "stopped"]


class AdapterHealth(msgspec.Struct, kw_only=True):
    """What an operator needs to know about one adapter process; counts are since it started."""

    adapter: str
    endpoint: str
    state: State = "starting"
    connected_since_ns: int | None = None
    reconnects: int = 0
    frames: int = 0
    readings_published: int = 0
    envelopes_published: int = 0
    envelopes_delivered: int = 0
    delivery_failures: int = 0
    dead_letters: dict[str, int] = {}
    clock_jumps: int = 0
    unresponsive: list[str] = []  # polled devices that did not answer the last poll (Modbus units)
    last_event_ns: int | None = None
    last_error: str = ""
    updated_ns: int = 0

    @property
    def lag_s(self) -> float | None:
        """Seconds between now and the newest event time published (includes the device's own delay)."""
        if self.last_event_ns is None:
            return None
        return (time.time_ns() - self.last_event_ns) / 1e9

    def count_dead_letter(self, reason: str, readings: int = 1) -> None:
        self.dead_letters[reason] = self.dead_letters.get(reason, 0) + readings

    def to_json(self) -> bytes:
        record = msgspec.structs.asdict(self) | {"lag_s": self.lag_s}
        return msgspec.json.encode(record)


def health_path(data_dir: Path, name: str) -> Path:
    return data_dir / "adapters" / f"{name}.json"


def write_health(health: AdapterHealth, path: Path) -> None:
    """Replace the file atomically so that a reader never sees half a record."""
    health.updated_ns = time.time_ns()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    partial.write_bytes(health.to_json())
    os.replace(partial, path)


def read_health(directory: Path) -> list[dict[str, object]]:
    return [msgspec.json.decode(path.read_bytes()) for path in sorted(directory.glob("*.json"))]
