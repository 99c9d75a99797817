"""Dedupe keys: the same item twice in one answer, and its copies in other sources.

Within one answer an item is known by its ``external_id`` (kept to the
column's 500 characters by hashing a longer one), and a repeat of it is
dropped. Across sources an item's copies share a :func:`fingerprint` (its
normalised title and day); the issues stage uses it so that one campaign does
not carry the same item twice (``outreach.issues.claims``).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TypeVar

from outreach.sources.base import RawItem, content_hash

__all__ = ["fingerprint", "unique_by_id"]

T = TypeVar("T")
_PUNCT = re.compile(r"[^\w\s]+")
_ID_CHARS = 500


def fingerprint(title: str, when: datetime | None) -> str:
    """sha256 of the normalised title and the item's date, for cross-source dedupe."""
    norm = unicodedata.normalize("NFKC", title).casefold()
    norm = " ".join(_PUNCT.sub(" ", norm).split())
    day = when.astimezone(UTC).date().isoformat() if when else ""
    return hashlib.sha256(f"{norm}|{day}".encode()).hexdigest()


def unique_by_id(items: Iterable[RawItem], convert: Callable[[RawItem], T]) -> dict[str, T]:
    """The first of each ``external_id`` (a long one hashed to fit), converted."""
    unique: dict[str, T] = {}
    for raw in items:
        key = raw.external_id
        if len(key) > _ID_CHARS:
            key = content_hash(key)
        if key not in unique:
            unique[key] = convert(raw)
    return unique
