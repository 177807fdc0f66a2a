"""The ingest step for one kind: messages in, accepted columns and dead letters out, every reading accounted for."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gridmon.ingest.columns import to_columns
from gridmon.ingest.deadletters import dead_letter, reading_json
from gridmon.ingest.decode import EnvelopeDecoder
from gridmon.ingest.dedup import DuplicateFilter, reading_keys
from gridmon.ingest.messages import RawMessage
from gridmon.ingest.validate import (
    DeviceRegistry,
    Rejection,
    range_rejections,
    time_rejections,
    unknown_device_rejections,
)
from gridmon.records import READING_TYPES, DeadLetter
from gridmon.settings import Settings

EVENT_COLUMN = {"meter": "event", "scada": "event"}


@dataclass
class IngestBatch:
    """What one batch of messages became. `columns` hold accepted rows only, plus where each row came from."""

    kind: str
    messages: int
    columns: dict[str, Any]
    device_idx: np.ndarray
    dead_letters: list[DeadLetter] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return len(self.device_idx)

    def dead_letter_counts(self) -> Counter[str]:
        return Counter(letter.reason for letter in self.dead_letters)


class IngestProcessor:
    """Decode, normalise and validate batches of one reading kind. Build once per worker and kind."""

    def __init__(self, kind: str, settings: Settings, registry: DeviceRegistry) -> None:
        self.kind = kind
        self.settings = settings
        self.registry = registry
        hmac_key = settings.hmac_key.get_secret_value().encode() if settings.hmac_key else None
        self.decoder = EnvelopeDecoder(kind, settings.max_message_bytes, hmac_key)
        self.reading_type = READING_TYPES[kind]
        self.duplicates = DuplicateFilter()
        self._event_codes: dict[str, int] = {}

    def process(self, messages: Sequence[RawMessage], now_ns: int | None = None) -> IngestBatch:
        decoded = self.decoder.decode(messages)
        columns = to_columns(self.reading_type, decoded.readings)
        origin = decoded.message_index()
        _normalise(self.kind, columns)
        device_idx = self._device_indexes(columns["device"])
        rejections = self._rejections(columns, device_idx, origin, now_ns or time.time_ns(), messages)
        dead = list(decoded.dead_letters)
        keep = np.ones(len(device_idx), dtype=bool)
        for rejection in rejections:
            fresh = rejection.rows[keep[rejection.rows]]  # a row is dead-lettered once, for its first reason
            details = dict(zip(rejection.rows.tolist(), rejection.details, strict=True))
            for row in fresh.tolist():
                message = messages[int(origin[row])]
                # the event time makes each reading's detail distinct: dead_letters collapses rows with the
                # same message, reason, device and detail, which would merge the readings of one envelope
                detail = f"{details[row]} (reading ts {int(columns['ts'][row])})"
                original = reading_json(columns, row)
                dead.append(dead_letter(message, rejection.reason, detail, columns["device"][row], original))
            keep[fresh] = False
        accepted = _select(columns, keep)
        _add_provenance(accepted, messages, origin[keep], decoded.sent_ns)
        return IngestBatch(self.kind, len(messages), accepted, device_idx[keep], dead)

    def _device_indexes(self, devices: list[str]) -> np.ndarray:
        """Each distinct device is looked up once when a batch repeats devices (a PDC's frames, a catching-up
        gateway); the pass that finds them also computes each id's hash, which the direct lookup reuses."""
        distinct = list(dict.fromkeys(devices))
        if 2 * len(distinct) > len(devices):
            return self.registry.index_of(devices)
        indexes = self.registry.index_of(distinct)
        lookup = dict(zip(distinct, indexes.tolist(), strict=True))
        return np.fromiter(map(lookup.__getitem__, devices), indexes.dtype, len(devices))

    def _event_codes_of(self, events: list[str]) -> np.ndarray:
        """Small ints for event names (stable per processor), for the duplicate keys."""
        codes = self._event_codes
        for event in dict.fromkeys(events):
            codes.setdefault(event, len(codes))
        return np.fromiter(map(codes.__getitem__, events), np.int64, len(events))

    def _rejections(
        self,
        columns: dict[str, Any],
        device_idx: np.ndarray,
        origin: np.ndarray,
        now_ns: int,
        messages: Sequence[RawMessage],
    ) -> list[Rejection]:
        rejections = range_rejections(self.kind, columns)
        rejections += time_rejections(
            columns["ts"], now_ns, self.settings.max_future_skew_s, self.settings.max_event_age_s
        )
        rejections += unknown_device_rejections(device_idx, columns["device"])
        rejections += self._duplicate_rejections(columns, device_idx, origin, messages)
        return rejections

    def _duplicate_rejections(
        self,
        columns: dict[str, Any],
        device_idx: np.ndarray,
        origin: np.ndarray,
        messages: Sequence[RawMessage],
    ) -> list[Rejection]:
        if not len(device_idx):
            return []
        event_column = EVENT_COLUMN.get(self.kind)
        codes = self._event_codes_of(columns[event_column]) if event_column else None
        keys = reading_keys(device_idx, columns["ts"], codes)
        message_positions = np.array([(m.partition << 44) | m.offset for m in messages], dtype=np.int64)
        mask = self.duplicates.duplicates(keys, message_positions[origin])
        rows = np.flatnonzero(mask)
        if not rows.size:
            return []
        details = [f"same device, event time and event already received ({columns['ts'][r]})" for r in rows]
        return [Rejection(rows, "duplicate", details)]


def _normalise(kind: str, columns: dict[str, Any]) -> None:
    """Angles to (-180, 180] degrees; times are already int64 UTC ns."""
    if kind != "pmu":
        return
    names = [f"{phase}_angle" for phase in ("va", "vb", "vc", "ia", "ib", "ic")]
    angles = np.stack([columns[name] for name in names], axis=1)
    if not ((angles <= -180.0) | (angles > 180.0)).any():  # most PMUs send (-180, 180]: values stay as sent
        return
    for name in names:
        angles = columns[name]  # a fresh array of this batch: wrapped in place
        outside = (angles <= -180.0) | (angles > 180.0)
        angles[outside] = 180.0 - np.mod(180.0 - angles[outside], 360.0)


def _select(columns: dict[str, Any], keep: np.ndarray) -> dict[str, Any]:
    if keep.all():
        return dict(columns)
    selected: dict[str, Any] = {}
    for name, values in columns.items():
        if isinstance(values, np.ndarray):
            selected[name] = values[keep]
        else:  # strings: through an object array, so selecting costs no Python call per row
            strings = np.empty(len(values), dtype=object)
            strings[:] = values
            selected[name] = strings[keep].tolist()
    return selected


def _add_provenance(
    columns: dict[str, Any], messages: Sequence[RawMessage], origin: np.ndarray, sent_ns: list[int]
) -> None:
    partitions = np.array([m.partition for m in messages], dtype=np.int32)
    offsets = np.array([m.offset for m in messages], dtype=np.int64)
    sent = np.asarray(sent_ns, dtype=np.int64)
    columns["sent_ns"] = sent[origin] if len(origin) else np.empty(0, dtype=np.int64)
    columns["_partition"] = partitions[origin] if len(origin) else np.empty(0, dtype=np.int32)
    columns["_offset"] = offsets[origin] if len(origin) else np.empty(0, dtype=np.int64)
    topic = messages[0].topic if messages else ""
    columns["_topic"] = [topic] * len(origin)
