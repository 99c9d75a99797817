"""An image sent with the story form, kept while the form comes back with an error.

A browser cannot fill a file input again, so when the posted form has a valid
image (already re-encoded by :func:`~outreach.publish.images.clean_image`) and
another field is wrong, the image is kept in ``story_uploads`` for
:data:`KEEP_FOR` and the form carries a random token for it in a hidden field.

- The row holds keyed hashes (the site's secret, this purpose's own prefix) of
  the token and of the browser's form cookie, never the token itself.
- A token is good only with the cookie it was kept under and before it expires:
  a token copied elsewhere reads and attaches nothing.
- One browser keeps one image: keeping another replaces it; the sent story
  takes it (the row is deleted), and so does *remove*.
- Expired rows are deleted by :mod:`outreach.retention`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from outreach.models import StoryUpload
from outreach.publish.images import CleanImage

KEEP_FOR = timedelta(hours=1)
PURPOSE = "story-upload"
#: The longest token taken from a form (``secrets.token_urlsafe(24)`` is 32 characters).
MAX_TOKEN = 64
MAX_NAME = 100
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")


@dataclass(frozen=True)
class KeptImage:
    """A kept image: the token the form carries, the name it was sent with, the image."""

    token: str
    name: str
    image: CleanImage
    expires_at: datetime

    @property
    def size(self) -> int:
        return len(self.image.data)


def _hash(secret: bytes, what: str, value: str) -> str:
    message = f"{PURPOSE}\x1f{what}\x1f{value}".encode("utf-8", "surrogatepass")
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def file_name(name: str | None) -> str:
    """The upload's name as the sender's computer gave it, for showing only: its last
    path part, without control characters, at most :data:`MAX_NAME` characters."""
    base = re.split(r"[/\\]", name or "")[-1]
    shown = "".join(c for c in base if unicodedata.category(c)[0] != "C").strip()
    return shown[:MAX_NAME] or "image"


def keep_image(
    session: Session, secret: bytes, holder: str, image: CleanImage, name: str, now: datetime
) -> KeptImage:
    """Keep ``image`` for the browser whose form cookie is ``holder``, replacing any
    image kept for it before; the new token goes into the form."""
    holder_hash = _hash(secret, "holder", holder)
    session.execute(delete(StoryUpload).where(StoryUpload.holder_hash == holder_hash))
    token = secrets.token_urlsafe(24)
    shown = file_name(name)
    expires = now + KEEP_FOR
    session.add(
        StoryUpload(
            token_hash=_hash(secret, "token", token),
            holder_hash=holder_hash,
            file_name=shown,
            content_type=image.content_type,
            data=image.data,
            width=image.width,
            height=image.height,
            created_at=now,
            expires_at=expires,
        )
    )
    session.flush()
    return KeptImage(token, shown, image, expires)


def _row(session: Session, secret: bytes, holder: str, token: str | None) -> StoryUpload | None:
    if not token or not holder or len(token) > MAX_TOKEN or not _TOKEN.fullmatch(token):
        return None
    return session.scalar(
        select(StoryUpload).where(
            StoryUpload.token_hash == _hash(secret, "token", token),
            StoryUpload.holder_hash == _hash(secret, "holder", holder),
        )
    )


def kept_image(
    session: Session, secret: bytes, holder: str, token: str | None, now: datetime
) -> KeptImage | None:
    """The image kept under ``token`` for this browser, unless expired; else None."""
    row = _row(session, secret, holder, token)
    if row is None or row.expires_at <= now:
        return None
    image = CleanImage(row.content_type, row.data, row.width, row.height)
    return KeptImage(str(token), row.file_name, image, row.expires_at)


def discard_image(session: Session, secret: bytes, holder: str, token: str | None) -> None:
    """Delete the image kept under ``token`` for this browser (taken by a story, removed)."""
    row = _row(session, secret, holder, token)
    if row is not None:
        session.delete(row)
        session.flush()
