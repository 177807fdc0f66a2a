"""Decode envelopes in one C call per message (msgspec), falling back per reading only for bad messages.

A good message costs one `msgspec` decode for all its readings. A message that fails is re-read to say
exactly why (not UTF-8, not JSON, non-finite numbers, schema) and, where the envelope itself is sound, to
keep its good readings and dead-letter only the bad ones.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np
import orjson

from gridmon.ingest.deadletters import dead_letter
from gridmon.ingest.messages import RawMessage
from gridmon.records import READING_TYPES, DeadLetter, Envelope
from gridmon.security.signature import SIGNATURE_HEADER, MessageVerifier

_NON_FINITE = re.compile(rb"(?<![\w\"])-?(NaN|Infinity)(?![\w\"])")


@dataclass
class DecodedMessages:
    """The readings of a batch of messages in message order, and per message how many it gave and its `sent_ns`."""

    readings: list[Any] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)  # per message: readings kept in `readings`
    sent_ns: list[int] = field(default_factory=list)  # per message
    dead_letters: list[DeadLetter] = field(default_factory=list)

    def message_index(self) -> np.ndarray:
        """For each reading, the position of its message in the batch."""
        return np.repeat(np.arange(len(self.counts), dtype=np.int64), self.counts)


class EnvelopeDecoder:
    """Decoder for one reading kind; build once, use for every batch."""

    def __init__(self, kind: str, max_message_bytes: int, hmac_key: bytes | None = None) -> None:
        self.reading_type = READING_TYPES[kind]
        self.max_message_bytes = max_message_bytes
        self.verifier = MessageVerifier(hmac_key) if hmac_key else None
        self._typed = msgspec.json.Decoder(Envelope[self.reading_type])  # type: ignore[name-defined]
        self._raw = msgspec.json.Decoder(Envelope[msgspec.Raw])
        self._reading = msgspec.json.Decoder(self.reading_type)

    def decode(self, messages: Sequence[RawMessage]) -> DecodedMessages:
        out = DecodedMessages(counts=[0] * len(messages), sent_ns=[0] * len(messages))
        readings, counts, sent_ns = out.readings, out.counts, out.sent_ns
        for index, message in enumerate(messages):
            value = message.value
            if value is None:
                out.dead_letters.append(
                    dead_letter(message, "schema", "empty message: an envelope is required")
                )
                continue
            if len(value) > self.max_message_bytes:
                detail = f"{len(value)} bytes > limit {self.max_message_bytes} (original truncated to 4 KiB)"
                out.dead_letters.append(dead_letter(message, "oversize", detail, original=value[:4096]))
                continue
            if self.verifier is not None:  # authenticity before parsing: unsigned bytes are not looked into
                refused = self.verifier.check(value, message.header(SIGNATURE_HEADER))
                if refused is not None:
                    out.dead_letters.append(dead_letter(message, "bad_signature", refused))
                    continue
            try:
                envelope = self._typed.decode(value)
            except msgspec.DecodeError:
                self._decode_slowly(message, index, out)
                continue
            sent_ns[index] = envelope.sent_ns
            readings += envelope.readings
            counts[index] = len(envelope.readings)
        return out

    def _decode_slowly(self, message: RawMessage, index: int, out: DecodedMessages) -> None:
        value = message.value or b""
        try:
            value.decode("utf-8")
        except UnicodeDecodeError as exc:
            out.dead_letters.append(dead_letter(message, "not_utf8", f"invalid UTF-8 at byte {exc.start}"))
            return
        try:
            orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            if _NON_FINITE.search(value):
                out.dead_letters.append(
                    dead_letter(message, "out_of_range", "non-finite number (NaN/Infinity) is not valid JSON")
                )
            elif "infinity when parsed" in str(exc):  # e.g. 1e400: valid JSON, but no float holds it
                out.dead_letters.append(dead_letter(message, "out_of_range", f"number beyond float64: {exc}"))
            else:
                out.dead_letters.append(dead_letter(message, "not_json", str(exc)))
            return
        try:
            envelope = self._raw.decode(value)
        except msgspec.ValidationError as exc:
            out.dead_letters.append(dead_letter(message, "schema", f"envelope: {exc}"))
            return
        out.sent_ns[index] = envelope.sent_ns
        for position, raw in enumerate(envelope.readings):
            try:
                reading = self._reading.decode(raw)
            except msgspec.ValidationError as exc:
                path = f"$.readings[{position}]"
                detail = str(exc).replace("`$", f"`{path}") if "`$" in str(exc) else f"{exc} - at `{path}`"
                out.dead_letters.append(
                    dead_letter(message, "schema", detail, device=_device_of(raw), original=bytes(raw))
                )
                continue
            out.readings.append(reading)
            out.counts[index] += 1


def _device_of(raw: msgspec.Raw) -> str | None:
    try:
        device = orjson.loads(bytes(raw)).get("device")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return device if isinstance(device, str) else None
