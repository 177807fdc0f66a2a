"""Field duplicates: the same reading (device, event time, event) arriving again at another offset.

A redelivery of the *same* Kafka offset is not a field duplicate (the sink's offset high-water handles it);
the memory is bounded by keeping two generations of keys and dropping the older one when the newer is full.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_MIX = np.uint64(0x9E3779B97F4A7C15)
_FIBONACCI = np.uint64(0x9E3779B97F4A7C15)  # 2^64 / golden ratio
_SCALAR_TAIL = 16  # rows left when probing goes on one key at a time


def reading_keys(device_idx: np.ndarray, ts: np.ndarray, event_codes: np.ndarray | None) -> np.ndarray:
    keys = device_idx.astype(np.uint64) * _MIX ^ ts.view(np.uint64)
    if event_codes is not None:
        keys ^= event_codes.astype(np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F)
    return keys


class DuplicateFilter:
    """Remembers up to ~2 × `capacity` recent reading keys with the message position that first carried them."""

    def __init__(self, capacity: int = 1_000_000) -> None:
        self.capacity = capacity
        self._current = KeyTable(capacity)
        self._previous = KeyTable(capacity)

    def duplicates(self, keys: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Mask of rows already seen at another position (partition × offset); remembers the rest.

        A key's first position is the remembered one, else that of its first row in the batch; all numpy.
        """
        distinct, first_row, row_key = _distinct(keys.astype(np.uint64))
        first_position = positions[first_row].astype(np.int64)
        in_current, current_position = self._current.lookup(distinct)
        first_position[in_current] = current_position[in_current]
        new = ~in_current
        if self._previous.count:
            rows = np.flatnonzero(new)
            in_previous, previous_position = self._previous.lookup(distinct[rows])
            first_position[rows[in_previous]] = previous_position[in_previous]
        if self._current.count + int(new.sum()) > self.capacity:  # the current generation is full
            self._previous, self._current = self._current, KeyTable(self.capacity)
            new[:] = True
        self._current.insert(distinct[new], first_position[new])
        return np.asarray(first_position[row_key] != positions)

    def state(self) -> dict[str, Any]:
        return {"entries": self._current.count + self._previous.count}


def _distinct(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct keys, the first row of each and each row's distinct key; a plain sort when none repeats."""
    ordered = np.sort(keys)
    if not (ordered[1:] == ordered[:-1]).any():
        rows = np.arange(len(keys))
        return keys, rows, rows
    distinct, first_row, row_key = np.unique(keys, return_index=True, return_inverse=True)
    return distinct, first_row, row_key.reshape(-1)


class KeyTable:
    """Open addressing with linear probing over numpy arrays: reading key → first position, a batch at a time."""

    def __init__(self, max_entries: int, slots: int = 1024) -> None:
        self.max_entries = max_entries  # growth stops at the size this many keys need
        self._allocate(slots)

    def _allocate(self, slots: int) -> None:
        self.keys = np.zeros(slots, dtype=np.uint64)
        self.positions = np.zeros(slots, dtype=np.int64)
        self.used = np.zeros(slots, dtype=bool)
        self.count = 0

    def _home(self, keys: np.ndarray) -> np.ndarray:
        """Fibonacci hashing: the top bits of key × 2^64/φ spread even keys that differ only in high bits."""
        shift = np.uint64(64 - (len(self.keys).bit_length() - 1))
        return ((keys * _FIBONACCI) >> shift).astype(np.int64)

    def lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Which keys are present, and their positions (0 where absent)."""
        found = np.zeros(len(keys), dtype=bool)
        positions = np.zeros(len(keys), dtype=np.int64)
        if not self.count:
            return found, positions
        rows, slots, last = np.arange(len(keys)), self._home(keys), len(self.keys) - 1
        wanted = keys
        while len(rows) > _SCALAR_TAIL:
            used = self.used[slots]
            match = used & (self.keys[slots] == wanted)
            found[rows[match]] = True
            positions[rows[match]] = self.positions[slots[match]]
            probe_on = used & ~match
            rows, slots, wanted = rows[probe_on], (slots[probe_on] + 1) & last, wanted[probe_on]
        for row, slot, key in zip(rows.tolist(), slots.tolist(), wanted.tolist(), strict=True):
            slot = self._probe(slot, key)
            if self.used[slot]:
                found[row], positions[row] = True, self.positions[slot]
        return found, positions

    def insert(self, keys: np.ndarray, positions: np.ndarray) -> None:
        """Adds distinct keys that are not in the table yet."""
        if 2 * (self.count + len(keys)) > len(self.keys):
            self._grow(self.count + len(keys))
        rows, slots, last = np.arange(len(keys)), self._home(keys), len(self.keys) - 1
        while len(rows) > _SCALAR_TAIL:
            free = ~self.used[slots]
            # distinct keys racing for one free slot: one write lands, the slot then holds the winner's key
            self.keys[slots[free]] = keys[rows[free]]
            won = free & (self.keys[slots] == keys[rows])
            self.used[slots[won]] = True
            self.positions[slots[won]] = positions[rows[won]]
            rows, slots = rows[~won], (slots[~won] + 1) & last
        for row, slot in zip(rows.tolist(), slots.tolist(), strict=True):
            free_slot = self._probe(slot, int(keys[row]))
            self.keys[free_slot], self.positions[free_slot], self.used[free_slot] = (
                keys[row],
                positions[row],
                True,
            )
        self.count += len(keys)

    def _probe(self, slot: int, key: int) -> int:
        """The slot holding `key`, or the free slot where the probe from `slot` ends (the last rows of a batch:
        a numpy round per probe step would cost more than these few scalar steps)."""
        last = len(self.keys) - 1
        while self.used[slot] and int(self.keys[slot]) != key:
            slot = (slot + 1) & last
        return slot

    def _grow(self, entries: int) -> None:
        keys, positions = self.keys[self.used], self.positions[self.used]
        # 4× leaves room for the next batches; load stays ≤ ½, so 1M keys need at most 2^21 slots (36 MB)
        wanted = min(4 * entries, max(2 * entries, 2 * self.max_entries))
        slots = 1 << max(10, (wanted - 1).bit_length())
        self._allocate(slots)
        self.insert(keys, positions)
