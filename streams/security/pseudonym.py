"""Keyed pseudonyms for meter ids (`GRIDMON_PSEUDONYM_KEY`): stable, so analytics can still join and count
per meter, but not reversible without the key (a plain hash of a meter number could be brute-forced).

>>> pseudonymise(b"key", ["meter-1", "meter-1", "meter-2"])[0] == pseudonymise(b"key", ["meter-1"])[0]
True
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

PREFIX = "p-"
DIGEST_CHARS = 20  # 80 bits: no collision in any realistic meter fleet


def pseudonymise(key: bytes, ids: Sequence[str]) -> list[str]:
    """One pseudonym per id (repeated ids are hashed once)."""
    cache: dict[str, str] = {}
    out = []
    for device in ids:
        pseudonym = cache.get(device)
        if pseudonym is None:
            digest = hmac.new(key, device.encode(), hashlib.sha256).hexdigest()[:DIGEST_CHARS]
            pseudonym = cache[device] = PREFIX + digest
        out.append(pseudonym)
    return out
