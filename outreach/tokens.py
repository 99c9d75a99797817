"""Signed, purpose-bound tokens for emailed links.

A token names a purpose (``confirm``, ``unsubscribe``, ``preferences``,
``export``), a
subscription id and its issue time, and carries a 128-bit HMAC-SHA256 over
those and the subscription's random ``token_salt``. Rotating the salt (or
deleting the subscription) revokes every token it was given. Every failure —
tampered, expired, foreign purpose, unknown subscription — raises the same
:class:`InvalidTokenError`, so a token reveals nothing about why it failed.
"""

from __future__ import annotations

import base64
import hmac
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from outreach.errors import InvalidTokenError

PURPOSES = frozenset({"confirm", "unsubscribe", "preferences", "export"})
MAC_BYTES = 16  # 128 bits


def new_salt() -> str:
    return secrets.token_hex(16)


def new_salts(count: int) -> list[str]:
    """``count`` salts like :func:`new_salt`'s, from one read of the system's randomness."""
    pool = secrets.token_hex(16 * count)
    return [pool[i : i + 32] for i in range(0, 32 * count, 32)]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, purpose: str, subscription_id: int, issued: int, salt: str) -> bytes:
    msg = f"{purpose}\x1f{subscription_id}\x1f{issued}\x1f{salt}".encode()
    return hmac.digest(secret, msg, "sha256")[:MAC_BYTES]


def make_token(
    secret: bytes, purpose: str, subscription_id: int, salt: str, *, now: datetime | None = None
) -> str:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}")
    issued = int((now or datetime.now(UTC)).timestamp())
    mac = _mac(secret, purpose, subscription_id, issued, salt)
    return f"{purpose[0]}{subscription_id:x}.{issued:x}.{_b64(mac)}"


def verify_token(
    secret: bytes,
    token: str,
    purpose: str,
    salt_of: Callable[[int], str | None],
    *,
    max_age: timedelta | None = None,
    now: datetime | None = None,
) -> int:
    """The subscription id the token was made for; raises InvalidTokenError."""
    invalid = InvalidTokenError("this link is invalid or has expired")
    try:
        head, issued_hex, mac_text = token.split(".")
        if len(token) > 200 or head[:1] != purpose[0] or purpose not in PURPOSES:
            raise invalid
        subscription_id = int(head[1:], 16)
        issued = int(issued_hex, 16)
        mac = _unb64(mac_text)
        # one spelling per token: no leading zeros, no spare bits in the base64
        if head != f"{purpose[0]}{subscription_id:x}" or issued_hex != f"{issued:x}":
            raise invalid
        if len(mac) != MAC_BYTES or _b64(mac) != mac_text:
            raise invalid
    except (ValueError, IndexError):
        raise invalid from None
    salt = salt_of(subscription_id)
    if salt is None:
        raise invalid
    if not hmac.compare_digest(mac, _mac(secret, purpose, subscription_id, issued, salt)):
        raise invalid
    if max_age is not None:
        age = (now or datetime.now(UTC)).timestamp() - issued
        if age > max_age.total_seconds() or age < -300:
            raise invalid
    return subscription_id
