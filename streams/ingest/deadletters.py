"""Building dead-letter records: the reason, where the message came from, the detail and the original bytes."""

from __future__ import annotations

import time

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
