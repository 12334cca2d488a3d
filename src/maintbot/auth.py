"""Who is calling: an API key is known by its fingerprint, which owns conversations and is rate limited.

The key itself is never stored or logged; the fingerprint (a hash) cannot be turned back into it.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence

from pydantic import SecretStr

_FINGERPRINT_PREFIX = b"maintbot-api-key\x00"


def key_fingerprint(key: str) -> str:
    """A stable, non-reversible name for an API key (32 hex characters)."""
    return hashlib.sha256(_FINGERPRINT_PREFIX + key.encode()).hexdigest()[:32]


def matching_key(offered: str | None, keys: Sequence[SecretStr]) -> str | None:
    """The configured key equal to `offered`, or None.

    Every key is compared, each in constant time, so timing tells nothing about which part matched.
    """
    candidate = (offered or "").encode()
    found: str | None = None
    for key in keys:
        value = key.get_secret_value()
        if secrets.compare_digest(candidate, value.encode()):
            found = value
    return found
