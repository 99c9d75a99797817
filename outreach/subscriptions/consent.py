"""Consent: the wording a person agrees to, its version, and the append-only log."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from outreach.l10n import gettext_for
from outreach.models import ConsentRecord, Subscription

#: Bump when the consent wording changes; every ConsentRecord stores the version.
CONSENT_VERSION = "2026-11-v1"
CONSENT_TEXT = (
    "I agree that {city} may send me its climate news for companies by email. "
    "I can unsubscribe at any time with the link in every message."
)


def consent_text(city_name: str, lang: str) -> str:
    return gettext_for(lang, "web", CONSENT_TEXT).format(city=city_name)


def record(
    session: Session,
    sub: Subscription,
    action: str,
    channel: str,
    *,
    version: str | None = None,
    text: str | None = None,
    detail: str | None = None,
    now: datetime | None = None,
    token_hash: str | None = None,
) -> None:
    session.add(
        ConsentRecord(
            subscription_id=sub.id,
            action=action,
            channel=channel[:20],
            consent_version=version,
            consent_text=text,
            detail=detail,
            token_hash=token_hash,
            created_at=now or datetime.now(UTC),
        )
    )
