"""API keys for the JSON API: shown once, stored as a SHA-256 hash, optionally per city.

A key looks like ``ok_<prefix>_<secret>``; the prefix is stored in the clear so
staff can name a key to revoke it, the whole key only as its hash.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from outreach.errors import SubscriptionError, msg
from outreach.models import ApiKey

KEY_PREFIX = "ok_"


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_api_key(
    session: Session, name: str, cities: list[str] | None = None
) -> tuple[ApiKey, str]:
    """A new key; returns the row and the plain key (the only time it is visible).

    ``cities`` limits the key to those cities' subscriptions (a city's own CRM);
    without it the key acts for every city.
    """
    name = name.strip()
    if not name or len(name) > 100 or not name.isprintable():
        raise SubscriptionError(msg("an API key needs a printable name of 1-100 characters"))
    prefix = secrets.token_hex(4)
    key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiKey(name=name, prefix=prefix, key_hash=_hash(key), cities=sorted(set(cities or [])))
    session.add(row)
    session.flush()
    return row, key


def verify_api_key(session: Session, key: str) -> ApiKey | None:
    """The active key row for ``key``, or None (unknown, malformed or revoked)."""
    if not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    prefix, _, _rest = key[len(KEY_PREFIX) :].partition("_")
    row = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.key_hash, _hash(key)):
        return None
    return row


def revoke_api_key(session: Session, name_or_prefix: str) -> int:
    """Revoke keys by prefix or name; the number revoked (0 raises)."""
    rows = list(
        session.scalars(
            select(ApiKey).where(
                or_(ApiKey.prefix == name_or_prefix, ApiKey.name == name_or_prefix),
                ApiKey.revoked_at.is_(None),
            )
        )
    )
    if not rows:
        raise SubscriptionError(
            msg("no active API key with the name or prefix {name}"), name=repr(name_or_prefix)
        )
    now = datetime.now(UTC)
    for row in rows:
        row.revoked_at = now
    session.flush()
    return len(rows)


def list_api_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))
