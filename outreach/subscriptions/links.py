"""The purpose-bound links of a subscription (confirm, unsubscribe, preferences, export)."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.errors import InvalidTokenError
from outreach.models import Subscription
from outreach.settings import Settings
from outreach.tokens import make_token, verify_token

#: Links that must not work for long: a data export link is mailed to the
#: address itself and opens everything held about it.
MAX_AGE = {"export": timedelta(hours=1)}


def token_for(settings: Settings, sub: Subscription, purpose: str) -> str:
    return make_token(settings.secret(), purpose, sub.id, sub.token_salt)


def link(settings: Settings, sub: Subscription, purpose: str) -> str:
    return f"{settings.base_url_clean}/{purpose}/{token_for(settings, sub, purpose)}"


def load_token(session: Session, settings: Settings, token: str, purpose: str) -> Subscription:
    """The subscription a token names; the same InvalidTokenError for every failure."""
    max_age = MAX_AGE.get(purpose) or (
        timedelta(days=settings.confirm_token_days) if purpose == "confirm" else None
    )

    def salt_of(sid: int) -> str | None:
        return session.scalar(select(Subscription.token_salt).where(Subscription.id == sid))

    sid = verify_token(settings.secret(), token, purpose, salt_of, max_age=max_age)
    sub = session.get(Subscription, sid)
    if sub is None:
        raise InvalidTokenError("this link is invalid or has expired")
    # Accept only the canonical spelling: unpadded base64 lets the MAC's last
    # character vary in its unused bits, which must not make a second valid link.
    issued = datetime.fromtimestamp(int(token.split(".")[1], 16), UTC)
    canonical = make_token(settings.secret(), purpose, sid, sub.token_salt, now=issued)
    if not hmac.compare_digest(canonical.encode(), token.encode("utf-8", "surrogatepass")):
        raise InvalidTokenError("this link is invalid or has expired")
    return sub
