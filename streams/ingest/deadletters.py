"""Building dead-letter records: the reason, where the message came from, the detail and the original bytes."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

import msgspec

from gridmon.ingest.messages import RawMessage
from gridmon.records import DeadLetter, DeadLetterReason

MAX_DETAIL_CHARS = 500


def dead_letter(
    message: RawMessage,
    reason: DeadLetterReason,
    detail: str,
    device: str | None = None,
    original: bytes | None = None,
) -> DeadLetter:
    return DeadLetter(
        reason=reason,
        detail=detail[:MAX_DETAIL_CHARS],
        source_topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        received_ns=time.time_ns(),
        device=device,
        original=message.value or b"" if original is None else original,
    )


_encode = msgspec.json.Encoder().encode


def reading_json(columns: Mapping[str, Any], row: int) -> bytes:
    """One decoded reading as JSON, for the dead letter of a reading rejected inside a good envelope.

    The letter carries the reading, not the envelope: a head-end message holds thousands of reads, and one
    copy of it per rejected read (a replayed file's duplicates) made dead letters hundreds of MB per batch.
    Topic, partition and offset still point at the whole message.
    """
    return _encode({name: _plain(values[row]) for name, values in columns.items()})


def _plain(value: Any) -> Any:
    value = value.item() if hasattr(value, "item") else value
    return None if isinstance(value, float) and not math.isfinite(value) else value
