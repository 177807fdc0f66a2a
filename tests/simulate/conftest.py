"""Fixtures for the simulator tests: a small generated grid model and a fixed run start (for exact bytes)."""

from __future__ import annotations

from typing import Any

import pytest

START_NS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z


@pytest.fixture(scope="session")
def grid_model() -> Any:
    generate = pytest.importorskip(
        "gridmon.grid.generate", reason="the grid model package is not installed"
    ).generate
    return generate("small", seed=7)


@pytest.fixture(scope="session")
def run_start_ns() -> int:
    """Fixed for determinism; recent enough that the ingest accepts the event times (max age 30 days) only
    when the tests pass `now_ns` explicitly."""
    return START_NS


@pytest.fixture(scope="session")
def decode_batches() -> Any:
    """A function: every reading of a run's batches, per kind, decoded with the wire format's record types."""
    return _decode_batches


def _decode_batches(batches: Any) -> dict[str, list[Any]]:
    import msgspec

    from gridmon.records import READING_TYPES, Envelope

    decoders = {kind: msgspec.json.Decoder(Envelope[cls]) for kind, cls in READING_TYPES.items()}  # type: ignore[valid-type]
    readings: dict[str, list[Any]] = {kind: [] for kind in READING_TYPES}
    for batch in batches:
        for topic, _key, value in batch.messages:
            kind = topic.rpartition(".")[2]
            readings[kind].extend(decoders[kind].decode(value).readings)
    return readings
