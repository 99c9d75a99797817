"""Preferences, staff additions, GDPR access and erasure, and the pending purge."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, func, or_, select, update
from sqlalchemy.orm import Session

from outreach.campaigns import Config
from outreach.errors import AlreadySubscribed, SubscriptionError, msg
from outreach.l10n import LANGUAGES
from outreach.models import (
    City,
    ConsentRecord,
    Delivery,
    Story,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from outreach.settings import Settings
from outreach.subscriptions.consent import CONSENT_VERSION, consent_text, record
from outreach.subscriptions.core import subscribe, withdraw
from outreach.subscriptions.leads import note_interest
from outreach.subscriptions.links import load_token
from outreach.subscriptions.mail import Mailer
from outreach.subscriptions.signup import SUBSCRIBER_FIELDS, SignUp, city_name, city_row
from outreach.suppression import entries, erase, is_suppressed
from outreach.tokens import new_salt
from outreach.validation import normalise_email

#: The statuses a staff addition leaves as they are: the address already subscribes.
UNCHANGED_BY_ADDING = (SubscriptionStatus.CONFIRMED, SubscriptionStatus.BOUNCED)


class NoTopicChosen(SubscriptionError):
    """The preferences form kept cities but ticked none of their topics."""


@dataclass
class Preferences:
    """What the preferences page shows and accepts."""

    cities: list[str]
    topics: list[str]
    language: str
    company_name: str | None = None
    business_id: str | None = None
    contact_name: str | None = None
    size_class: str | None = None
    industry_code: str | None = None
    interested_in_visit: bool = False
    available_cities: list[str] = field(default_factory=list)
    #: The languages the subscriber's cities send in: the only ones offered.
    languages: list[str] = field(default_factory=list)


def offered_languages(config: Config, city_slugs: list[str]) -> list[str]:
    """The languages the given cities send in, in the usual order (fi, sv, en)."""
    sent = {
        lang
        for slug in city_slugs
        if slug in config.cities
        for lang in config.cities[slug].languages
    }
    return [lang for lang in LANGUAGES if lang in sent]


def current_preferences(config: Config, sub: Subscription) -> Preferences:
    subscriber = sub.subscriber
    active = [
        s
        for s in subscriber.subscriptions
        if s.status in (SubscriptionStatus.PENDING, SubscriptionStatus.CONFIRMED)
    ]
    topics = sorted({t for s in active for t in s.topics} or set(sub.topics))
    languages = offered_languages(config, [sub.city.slug, *(s.city.slug for s in active)])
    language = subscriber.language if subscriber.language in languages else languages[0]
    return Preferences(
        cities=sorted(s.city.slug for s in active),
        topics=topics,
        language=language,
        company_name=subscriber.company_name,
        business_id=subscriber.business_id,
        contact_name=subscriber.contact_name,
        size_class=subscriber.size_class,
        industry_code=subscriber.industry_code,
        interested_in_visit=subscriber.interested_in_visit,
        available_cities=sorted(config.cities),
        languages=languages,
    )


def update_preferences(
    session: Session,
    settings: Settings,
    config: Config,
    token: str,
    *,
    cities: list[str],
    topics: list[str],
    language: str,
    company_name: str | None,
    business_id: str | None,
    contact_name: str | None,
    size_class: str | None,
    industry_code: str | None,
    interested_in_visit: bool,
    now: datetime | None = None,
) -> Subscription:
    """Apply the preferences form; the token proves the mailbox, so added cities are
    confirmed at once (consent given and confirmed are both recorded).

    Raises :class:`NoTopicChosen` (and changes nothing) when cities are kept but
    no topic of theirs is: a subscription always has a topic, and leaving is
    unticking every city (or the unsubscribe link).
    """
    now = now or datetime.now(UTC)
    sub = load_token(session, settings, token, "preferences")
    token_digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
    subscriber = sub.subscriber
    for slug in cities:
        if slug not in config.cities:
            raise SubscriptionError(msg("unknown city {city}"), city=repr(slug[:40]))
    home = sub.city.slug
    offered = offered_languages(config, [home, *cities])
    if language not in offered:
        raise SubscriptionError(
            msg("language {lang}: the chosen cities send in {offered} only"),
            lang=repr(language[:10]),
            offered=", ".join(offered),
        )
    clean = SignUp.clean(
        config,
        home,
        email=subscriber.email,
        topics=[t for t in topics if t in config.cities[home].topics] or sub.topics,
        language=language,
        company_name=company_name,
        business_id=business_id,
        contact_name=contact_name,
        size_class=size_class,
        industry_code=industry_code,
    )
    if cities and not any(t in config.cities[slug].topics for slug in cities for t in topics):
        raise NoTopicChosen("choose at least one topic, or unsubscribe")
    subscriber.language = clean.language
    subscriber.company_name = clean.company_name
    subscriber.business_id = clean.business_id
    subscriber.contact_name = clean.contact_name
    subscriber.size_class = clean.size_class
    subscriber.industry_code = clean.industry_code
    note_interest(subscriber, visit=interested_in_visit, now=now)
    by_city = {s.city.slug: s for s in subscriber.subscriptions}
    leaving = [s for slug, s in by_city.items() if slug not in cities]
    withdraw(session, leaving, "web", detail="preferences page", now=now)
    for slug in cities:
        city_topics = [t for t in topics if t in config.cities[slug].topics]
        existing = by_city.get(slug)
        if existing is not None and existing.status == SubscriptionStatus.CONFIRMED:
            existing.topics = city_topics or existing.topics
            continue
        if existing is not None and existing.status == SubscriptionStatus.BOUNCED:
            continue
        city_id = existing.city_id if existing is not None else city_row(session, config, slug).id
        if is_suppressed(session, settings, subscriber.email, city_id=city_id):
            continue
        if existing is None:
            existing = Subscription(
                subscriber_id=subscriber.id,
                city_id=city_id,
                channel="web",
                token_salt=new_salt(),
                created_at=now,
            )
            session.add(existing)
            session.flush()
            session.expire(subscriber, ["subscriptions"])
        existing.topics = city_topics or list(config.cities[slug].topics[:1])
        existing.status = SubscriptionStatus.CONFIRMED
        existing.confirmed_at = now
        existing.unsubscribed_at = None
        name = city_name(config, slug, clean.language)
        text = consent_text(name, clean.language)
        record(session, existing, "given", "web", version=CONSENT_VERSION, text=text,
               detail="preferences page", now=now)  # fmt: skip
        record(session, existing, "confirmed", "web", version=CONSENT_VERSION,
               detail="preferences page link", now=now, token_hash=token_digest)  # fmt: skip
    session.flush()
    return sub


def add_subscriber(
    session: Session,
    settings: Settings,
    config: Config,
    city_slug: str,
    signup: SignUp,
    mailer: Mailer | None,
    *,
    confirmed: bool = False,
    consent_note: str | None = None,
    channel: str = "cli",
    detail: str | None = None,
    now: datetime | None = None,
    refuse_existing: bool = False,
) -> Subscription | None:
    """Staff or API addition. Pending with a confirmation mail by default;
    ``confirmed=True`` needs a consent note stating the legal basis.

    An address the city already has confirmed (or bounced) is left as it is; with
    ``refuse_existing`` (staff adding one person) that raises :class:`AlreadySubscribed`,
    so they are told instead of thanked. The API answers such an addition as before."""
    now = now or datetime.now(UTC)
    if confirmed and not (consent_note and consent_note.strip()):
        raise SubscriptionError(
            msg("a confirmed addition needs a consent note stating the legal basis")
        )
    city = city_row(session, config, city_slug)
    if is_suppressed(session, settings, signup.email, city_id=city.id):
        return None
    if refuse_existing:
        found = session.execute(
            select(Subscription.subscriber_id, Subscription.status)
            .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
            .where(Subscriber.email == signup.email, Subscription.city_id == city.id)
        ).first()
        if found is not None and found.status in UNCHANGED_BY_ADDING:
            status, person = found.status.value, found.subscriber_id
            raise AlreadySubscribed(signup.email, city_slug, status, person)
    outcome = subscribe(
        session,
        settings,
        config,
        city_slug,
        signup,
        None if confirmed else mailer,
        channel=channel,
        detail=detail,
        now=now,
    )
    sub = outcome.subscription
    if sub is None or not confirmed or sub.status != SubscriptionStatus.PENDING:
        return sub
    sub.status = SubscriptionStatus.CONFIRMED
    sub.confirmed_at = now
    sub.confirmation_sent_at = None
    note = " ".join((consent_note or "").split())
    record(session, sub, "confirmed", channel, version=CONSENT_VERSION, now=now,
           detail=f"{detail}: {note}" if detail else note)  # fmt: skip
    session.flush()
    return sub


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def show(session: Session, settings: Settings, email: str) -> dict[str, Any] | None:
    """Everything held about an address (GDPR access), as JSON-ready data."""
    address = normalise_email(email)
    subscriber = session.scalar(select(Subscriber).where(Subscriber.email == address))
    listed = entries(session, settings, address)
    if subscriber is None and not listed:
        return None
    data: dict[str, Any] = {"email": address}
    for row in listed:
        about = {"reason": row.reason, "detail": row.detail, "created_at": _iso(row.created_at)}
        if row.city_id is None:
            data["suppression"] = about
        else:
            slug = session.scalar(select(City.slug).where(City.id == row.city_id))
            data.setdefault("suppression_by_city", {})[slug] = about
    if subscriber is None:
        return data
    data["subscriber"] = {name: getattr(subscriber, name) for name in SUBSCRIBER_FIELDS}
    data["subscriber"]["created_at"] = _iso(subscriber.created_at)
    data["subscriber"]["updated_at"] = _iso(subscriber.updated_at)
    data["subscriptions"] = []
    for sub in subscriber.subscriptions:
        consents = session.scalars(
            select(ConsentRecord)
            .where(ConsentRecord.subscription_id == sub.id)
            .order_by(ConsentRecord.id)
        )
        data["subscriptions"].append(
            {
                "city": sub.city.slug,
                "status": sub.status.value,
                "topics": list(sub.topics),
                "channel": sub.channel,
                "created_at": _iso(sub.created_at),
                "confirmed_at": _iso(sub.confirmed_at),
                "unsubscribed_at": _iso(sub.unsubscribed_at),
                "confirmation_sent_at": _iso(sub.confirmation_sent_at),
                "consent": [
                    {
                        "action": c.action,
                        "channel": c.channel,
                        "consent_version": c.consent_version,
                        "consent_text": c.consent_text,
                        "detail": c.detail,
                        "token_sha256": c.token_hash,
                        "at": _iso(c.created_at),
                    }
                    for c in consents
                ],
            }
        )
    deliveries = session.scalars(select(Delivery).where(Delivery.subscriber_id == subscriber.id))
    data["deliveries"] = [
        {"issue_id": d.issue_id, "status": d.status.value, "sent_at": _iso(d.sent_at)}
        for d in deliveries
    ]
    return data


def show_json(session: Session, settings: Settings, email: str) -> str:
    data = show(session, settings, email)
    if data is None:
        raise SubscriptionError(msg("nothing is held about {email}"), email=normalise_email(email))
    return json.dumps(data, ensure_ascii=False, indent=2)


def forget(session: Session, settings: Settings, email: str, *, detail: str | None = None) -> bool:
    """Erase the subscriber and every row about them; keep only a suppression hash.

    Returns True if a subscriber was deleted. Always leaves the address suppressed
    with reason ``erased``, so no import or API call re-adds it by accident. The
    hash is keyed (:func:`outreach.suppression.suppression_key`): the database
    alone does not tell which address it stands for.
    """
    address = normalise_email(email)
    subscriber = session.scalar(select(Subscriber).where(Subscriber.email == address))
    found = subscriber is not None
    if subscriber is not None:
        sub_ids = [s.id for s in subscriber.subscriptions]
        if sub_ids:
            session.execute(delete(ConsentRecord).where(ConsentRecord.subscription_id.in_(sub_ids)))
        session.execute(delete(Delivery).where(Delivery.subscriber_id == subscriber.id))
        session.delete(subscriber)
        session.flush()
    erase(session, settings, address, detail)
    session.execute(
        update(Story)
        .where(func.lower(Story.contact_email) == address)
        .values(contact_email=None)
        .execution_options(synchronize_session=False)
    )
    session.flush()
    return found


def purge_pending(session: Session, settings: Settings, *, now: datetime | None = None) -> int:
    """Delete sign-ups never confirmed within ``settings.pending_purge_days``.

    A subscriber left with no subscription at all is deleted too. Returns the
    number of subscriptions removed.
    """
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(days=settings.pending_purge_days)
    stale = list(
        session.scalars(
            select(Subscription).where(
                Subscription.status == SubscriptionStatus.PENDING,
                # A once-confirmed subscription signed up again keeps its consent log.
                ~exists().where(
                    ConsentRecord.subscription_id == Subscription.id,
                    ConsentRecord.action == "confirmed",
                ),
                Subscription.created_at < cutoff,
                or_(
                    Subscription.confirmation_sent_at.is_(None),
                    Subscription.confirmation_sent_at < cutoff,
                ),
            )
        )
    )
    for sub in stale:
        subscriber = sub.subscriber
        session.execute(delete(ConsentRecord).where(ConsentRecord.subscription_id == sub.id))
        subscriber.subscriptions.remove(sub)
        session.flush()
        if not subscriber.subscriptions:
            session.delete(subscriber)
    session.flush()
    return len(stale)
