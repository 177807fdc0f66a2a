"""Input authenticity: a field gateway signs each message value with HMAC-SHA256 (`GRIDMON_HMAC_KEY`), sent
as the hex digest in the `x-gridmon-sig` header; ingest verifies it before decoding (one C call per message).

>>> key = b"k"
>>> MessageVerifier(key).check(b"{}", sign(key, b"{}").encode())
>>> MessageVerifier(key).check(b"{}", b"00")
'signature does not match the message (wrong key, or the message was altered)'
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "x-gridmon-sig"
DIGEST_HEX_CHARS = 64


def sign(key: bytes, value: bytes) -> str:
    """The hex HMAC-SHA256 of a message value: what a gateway puts in the `x-gridmon-sig` header."""
    return hmac.new(key, value, hashlib.sha256).hexdigest()


def signed_headers(key: bytes | None, value: bytes) -> list[tuple[str, bytes]]:
    """Headers for a producer: the signature when a key is configured, nothing otherwise."""
    return [] if key is None else [(SIGNATURE_HEADER, sign(key, value).encode())]


class MessageVerifier:
    """Checks signatures with one key; `check` returns None when the signature is good, else why not."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def check(self, value: bytes, signature: bytes | None) -> str | None:
        if signature is None:
            return f"no {SIGNATURE_HEADER} header: messages must be signed (GRIDMON_HMAC_KEY is set)"
        if len(signature) != DIGEST_HEX_CHARS:
            return f"{SIGNATURE_HEADER} must be {DIGEST_HEX_CHARS} hex characters, got {len(signature)}"
        expected = sign(self._key, value).encode()
        if not hmac.compare_digest(expected, signature.lower()):
            return "signature does not match the message (wrong key, or the message was altered)"
        return None
