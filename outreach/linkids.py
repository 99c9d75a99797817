"""Signed ids of counted links: ``/l/<id>`` in an issue's e-mail.

An id names an issue, a language, an item (0: no item, e.g. a link in an
announcement's body) and the link's number within that language version,
and carries a 96-bit HMAC-SHA256 under a key bound to this purpose (derived
from the secret key, so it never verifies as any other token). It never names
a recipient: everyone who got the same language version gets the same id.

    <issue hex>-<lang>-<item hex>-<n hex>-<mac, url-safe base64>

Every failure raises the same :class:`InvalidTokenError`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

from outreach.errors import InvalidTokenError

MAC_BYTES = 12
_PURPOSE = b"outreach link id v1"
_ID = re.compile(
    r"([1-9a-f][0-9a-f]{0,15})-([a-z]{2,3})-(0|[1-9a-f][0-9a-f]{0,15})-"
    r"(0|[1-9a-f][0-9a-f]{0,7})-([A-Za-z0-9_-]{16})"
)


@dataclass(frozen=True)
class LinkRef:
    issue_id: int
    lang: str
    item_id: int  # 0: no item
    n: int


def _key(secret: bytes) -> bytes:
    return hmac.new(secret, _PURPOSE, hashlib.sha256).digest()


def _mac(key: bytes, body: str) -> str:
    digest = hmac.new(key, body.encode(), hashlib.sha256).digest()[:MAC_BYTES]
    return base64.urlsafe_b64encode(digest).decode()


class LinkSigner:
    """Makes and reads link ids with one derived key (kept, so a click costs one HMAC)."""

    def __init__(self, secret: bytes) -> None:
        self._key = _key(secret)

    def make(self, ref: LinkRef) -> str:
        body = f"{ref.issue_id:x}-{ref.lang}-{ref.item_id:x}-{ref.n:x}"
        return f"{body}-{_mac(self._key, body)}"

    def read(self, text: str) -> LinkRef:
        match = _ID.fullmatch(text) if len(text) < 120 else None
        if match is None:
            raise InvalidTokenError("no such link")
        body = text[: match.start(5) - 1]
        if not hmac.compare_digest(_mac(self._key, body), match[5]):
            raise InvalidTokenError("no such link")
        return LinkRef(int(match[1], 16), match[2], int(match[3], 16), int(match[4], 16))
