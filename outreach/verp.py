"""Signed VERP return paths: ``bounces+<delivery id>-<mac>@domain``.

The envelope sender of each issue message names its delivery row and carries
an 80-bit HMAC-SHA256 over it, keyed by a key derived from the secret key for
this purpose only (so a VERP MAC is never a valid link token, or the other way
round). The local part is lower-case base-32 and hex, safe for servers that
fold case, and stays far below the 64 characters RFC 5321 allows. A bounce to
an unsigned or forged address names no delivery: it changes nothing.
"""

from __future__ import annotations

import base64
import hmac
import re
from functools import lru_cache

from outreach.tokens import keyed_hash

_MAC_BYTES = 10  # 80 bits: 16 base-32 characters
_PURPOSE = b"outreach/verp-return-path/v1"
_LOCAL = re.compile(r"^(?P<base>[^+@]{1,40})\+(?P<id>[0-9a-f]{1,12})-(?P<mac>[a-z2-7]{16})$")


@lru_cache(maxsize=8)
def _key(secret: bytes) -> bytes:
    return hmac.digest(secret, _PURPOSE, "sha256")


def _mac(secret: bytes, delivery_id: int) -> str:
    digest = keyed_hash(_key(secret)).digest(f"d{delivery_id:x}".encode())
    return base64.b32encode(digest[:_MAC_BYTES]).decode().lower()


def return_path(secret: bytes, bounce_address: str, delivery_id: int) -> str:
    """``bounces@ex.org`` + 42 → ``bounces+2a-<mac>@ex.org``."""
    local, _, domain = bounce_address.partition("@")
    return f"{local}+{delivery_id:x}-{_mac(secret, delivery_id)}@{domain}"


def delivery_of(secret: bytes, address: str) -> int | None:
    """The delivery id a signed return path names; None if unsigned or forged."""
    local = address.strip().strip("<>").rpartition("@")[0].lower()
    match = _LOCAL.match(local)
    if match is None:
        return None
    delivery_id = int(match["id"], 16)
    if f"{delivery_id:x}" != match["id"]:  # one spelling per id: no leading zeros
        return None
    if not hmac.compare_digest(match["mac"], _mac(secret, delivery_id)):
        return None
    return delivery_id
