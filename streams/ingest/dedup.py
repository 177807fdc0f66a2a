"""Field duplicates: the same reading (device, event time, event) arriving again at another offset.

A redelivery of the *same* Kafka offset is not a field duplicate (the sink's offset high-water handles it);
the memory is bounded by keeping two generations of keys and dropping the older one when the newer is full.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_MIX = np.uint64(0x9E3779B97F4A7C15)


def reading_keys(device_idx: np.ndarray, ts: np.ndarray, event_codes: np.ndarray | None) -> np.ndarray:
    keys = device_idx.astype(np.uint64) * _MIX ^ ts.view(np.uint64)
    if event_codes is not None:
        keys ^= event_codes.astype(np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F)
    return keys


class DuplicateFilter:
    """Remembers up to ~2 × `capacity` recent reading keys with the message position that first carried them."""

    def __init__(self, capacity: int = 1_000_000) -> None:
        self.capacity = capacity
        self._current: dict[int, int] = {}
        self._previous: dict[int, int] = {}

    def duplicates(self, keys: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Mask of rows already seen at another position (partition × offset); remembers the rest.

        The common case (no key seen before, none repeated in the batch) runs as C-level set operations;
        only the few rows whose key is known are looked at one by one.
        """
        key_list = keys.tolist()
        position_list = positions.tolist()
        mask = np.zeros(len(key_list), dtype=bool)
        batch_keys = set(key_list)
        known = (self._current.keys() & batch_keys) | (self._previous.keys() & batch_keys)
        first_seen = {key: self._first_position(key) for key in known}
        if known or len(batch_keys) < len(key_list):
            first_seen |= self._mark_repeats(key_list, position_list, known, mask)
        self._current.update(zip(key_list, position_list, strict=True))
        self._current.update(first_seen)  # a key keeps the position that first carried it
        if len(self._current) >= self.capacity:
            self._previous, self._current = self._current, {}
        return mask

    def _first_position(self, key: int) -> int:
        first = self._current.get(key)
        return self._previous[key] if first is None else first

    def _mark_repeats(
        self, key_list: list[int], position_list: list[int], known: set[int], mask: np.ndarray
    ) -> dict[int, int]:
        """Marks rows whose key came first at another position; returns the first position of new keys."""
        first_in_batch: dict[int, int] = {}
        for row, (key, position) in enumerate(zip(key_list, position_list, strict=True)):
            first = self._first_position(key) if key in known else first_in_batch.setdefault(key, position)
            if first != position:
                mask[row] = True
        return first_in_batch

    def state(self) -> dict[str, Any]:
        return {"entries": len(self._current) + len(self._previous)}
