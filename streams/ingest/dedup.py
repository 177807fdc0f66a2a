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
        """Mask of rows already seen at another position (partition × offset); remembers the rest."""
        current, previous = self._current, self._previous
        mask = np.zeros(len(keys), dtype=bool)
        for row, (key, position) in enumerate(zip(keys.tolist(), positions.tolist(), strict=True)):
            first = current.get(key)
            if first is None:
                first = previous.get(key)
            if first is None:
                current[key] = position
            elif first != position:
                mask[row] = True
        if len(current) >= self.capacity:
            self._previous, self._current = current, {}
        return mask

    def state(self) -> dict[str, Any]:
        return {"entries": len(self._current) + len(self._previous)}
