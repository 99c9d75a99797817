"""Subscribe, confirm, unsubscribe and change preferences.

Every change of consent appends a :class:`ConsentRecord` (given, confirmed,
withdrawn) and never edits one. ``subscribe`` answers the same way whether or
not the address is known, and sends at most one confirmation mail per
address and city per 24 hours (an atomic claim on
``Subscription.confirmation_sent_at``, so concurrent sign-ups cannot both send),
and per mailbox no more than :mod:`outreach.subscriptions.limits` allows.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from outreach.campaigns import Config
from outreach.errors import InvalidTokenError, OutreachError
from outreach.l10n import LANGUAGES
from outreach.models import (
    City,
    Delivery,
    DeliveryStatus,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from outreach.settings import Settings
from outreach.subscriptions.consent import CONSENT_VERSION, consent_text, record
from outreach.subscriptions.limits import claim_mailbox, release_mailbox
from outreach.subscriptions.links import link, load_token
from outreach.subscriptions.mail import ConfirmationMail, Mailer, confirmation_subject
from outreach.subscriptions.signup import SignUp, city_name, city_row
from outreach.suppression import SuppressionReason, is_suppressed, lift_erasure
from outreach.tokens import new_salt
from outreach.validation import normalise_email

log = logging.getLogger(__name__)
RESEND_AFTER = timedelta(hours=24)


def _fill(subscriber: Subscriber, signup: SignUp, *, overwrite: bool) -> None:
    for name in ("company_name", "business_id", "contact_name", "size_class", "industry_code"):
        value = getattr(signup, name)
        if value is not None and (overwrite or getattr(subscriber, name) is None):
            setattr(subscriber, name, value)
    if overwrite:
        subscriber.language = signup.language


def get_or_create_subscriber(session: Session, signup: SignUp) -> tuple[Subscriber, bool]:
    existing = session.scalar(select(Subscriber).where(Subscriber.email == signup.email))
    if existing is not None:
        return existing, False
    subscriber = Subscriber(email=signup.email, language=signup.language)
    _fill(subscriber, signup, overwrite=True)
    try:
        with session.begin_nested():
            session.add(subscriber)
            session.flush()
    except IntegrityError:  # created by a concurrent request
        found = session.scalar(select(Subscriber).where(Subscriber.email == signup.email))
        if found is None:
            raise
        return found, False
    return subscriber, True


@dataclass
class Outcome:
    """What a subscribe call did; the web answer never depends on it."""

    subscription: Subscription | None
    mailed: bool = False
    changed: bool = False
    notes: list[str] = field(default_factory=list)


def suppressed_in(
    session: Session, settings: Settings, config: Config, city_slug: str, email: str
) -> SuppressionReason | None:
    """Why city ``city_slug`` may not mail ``email`` (an entry that applies
    everywhere, or a complaint about that city's mail), or None if it may."""
    city = city_row(session, config, city_slug)
    return is_suppressed(session, settings, email, city_id=city.id)


def subscribe(
    session: Session,
    settings: Settings,
    config: Config,
    city_slug: str,
    signup: SignUp,
    mailer: Mailer | None,
    *,
    channel: str = "web",
    detail: str | None = None,
    consent_lang: str | None = None,
    now: datetime | None = None,
) -> Outcome:
    """A pending subscription plus a confirmation mail (rate-limited per address and city).

    A suppressed address is left alone (except that a person who was erased may
    sign up again on the web: double opt-in proves the mailbox is theirs).
    A confirmed subscription keeps its state; topics are only changed through
    the preferences page, so a stranger cannot alter them by knowing the address.
    The consent record keeps the wording in ``consent_lang``, the language the
    form showed it in (the page's, which may differ from the newsletter's);
    without one (the API, staff), in the sign-up's language.
    """
    now = now or datetime.now(UTC)
    city = city_row(session, config, city_slug)
    reason = is_suppressed(session, settings, signup.email, city_id=city.id)
    if reason is not None and not (reason == SuppressionReason.ERASURE and channel == "web"):
        return Outcome(None, notes=[f"suppressed ({reason})"])
    subscriber, _ = get_or_create_subscriber(session, signup)
    if not any(s.status == SubscriptionStatus.CONFIRMED for s in subscriber.subscriptions):
        # Details of a confirmed subscriber change only through the preferences link.
        _fill(subscriber, signup, overwrite=False)
    sub = session.scalar(
        select(Subscription).where(
            Subscription.subscriber_id == subscriber.id, Subscription.city_id == city.id
        )
    )
    changed = False
    if sub is None:
        sub = Subscription(
            subscriber_id=subscriber.id,
            city_id=city.id,
            topics=list(signup.topics),
            status=SubscriptionStatus.PENDING,
            channel=channel[:20],
            token_salt=new_salt(),
            created_at=now,
        )
        try:
            with session.begin_nested():
                session.add(sub)
                session.flush()
            session.expire(subscriber, ["subscriptions"])
            changed = True
        except IntegrityError:
            found = session.scalar(
                select(Subscription).where(
                    Subscription.subscriber_id == subscriber.id, Subscription.city_id == city.id
                )
            )
            if found is None:
                raise
            sub = found
    elif sub.status == SubscriptionStatus.UNSUBSCRIBED:
        sub.status = SubscriptionStatus.PENDING
        sub.topics = list(signup.topics)
        sub.token_salt = new_salt()  # old links of the earlier subscription stop working
        sub.channel = channel[:20]
        sub.unsubscribed_at = None
        sub.confirmed_at = None  # the earlier confirmation stays in the consent log only
        sub.confirmation_sent_at = None
        changed = True
    elif sub.status == SubscriptionStatus.PENDING:
        sub.topics = list(signup.topics)
    if sub.status != SubscriptionStatus.PENDING:
        session.flush()
        return Outcome(sub, notes=[f"already {sub.status.value}"])
    shown = consent_lang if consent_lang in LANGUAGES else signup.language
    mailed = claim_confirmation(session, sub, now)
    if changed or mailed:
        record(
            session,
            sub,
            "given",
            channel,
            version=CONSENT_VERSION,
            text=consent_text(city_name(config, city_slug, shown), shown),
            detail=detail,
            now=now,
        )
    session.flush()
    if mailed and mailer is not None:
        mailed = mail_confirmation(session, settings, config, sub, mailer, signup.language, now=now)
    return Outcome(sub, mailed=mailed and mailer is not None, changed=changed)


def claim_confirmation(session: Session, sub: Subscription, now: datetime) -> bool:
    """Atomically take the right to send a confirmation mail now (once per 24 h)."""
    session.flush()
    result = session.execute(
        update(Subscription)
        .where(Subscription.id == sub.id)
        .where(
            or_(
                Subscription.confirmation_sent_at.is_(None),
                Subscription.confirmation_sent_at < now - RESEND_AFTER,
            )
        )
        .values(confirmation_sent_at=now)
        .execution_options(synchronize_session=False)
    )
    claimed = bool(getattr(result, "rowcount", 0) == 1)
    if claimed:
        sub.confirmation_sent_at = now
    return claimed


def mail_confirmation(
    session: Session,
    settings: Settings,
    config: Config,
    sub: Subscription,
    mailer: Mailer,
    lang: str,
    *,
    email: str | None = None,
    city_slug: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Send the confirmation mail of ``sub``; False (and the claim released) when the
    mailbox has had its share (:func:`claim_mailbox`) or the mail fails.

    ``email`` and ``city_slug`` spare the lazy loads when the caller knows them.
    """
    to = email or sub.subscriber.email
    if not claim_mailbox(session, settings, to, now or datetime.now(UTC)):
        sub.confirmation_sent_at = None  # a later sign-up may send, once the mailbox may
        log.info("confirmation mail for subscription %s held back: mailbox limit", sub.id)
        return False
    slug = city_slug or sub.city.slug
    city = config.cities[slug]
    lang = lang if lang in city.name else city.languages[0]
    name = city_name(config, slug, lang)
    topics = [config.topics.get(t, {}).get(lang, t) for t in sub.topics]
    mail = ConfirmationMail(
        to=to,
        city_slug=slug,
        city_name=name,
        lang=lang,
        confirm_url=link(settings, sub, "confirm"),
        subject=confirmation_subject(name, lang),
        topics=topics,
    )
    try:
        mailer(mail)
    except OutreachError as exc:
        # Let a later sign-up try again instead of waiting 24 hours.
        sub.confirmation_sent_at = None
        release_mailbox(session, settings, to)
        log.warning("confirmation mail for subscription %s not sent: %s", sub.id, exc)
        return False
    return True


def release_confirmation(session: Session, settings: Settings, email: str, city_slug: str) -> None:
    """A confirmation mail to ``email`` for ``city_slug`` was not sent after all: let the
    next sign-up try again at once (the per-city claim and the mailbox's)."""
    session.execute(
        update(Subscription)
        .where(
            Subscription.subscriber_id.in_(select(Subscriber.id).where(Subscriber.email == email)),
            Subscription.city_id.in_(select(City.id).where(City.slug == city_slug)),
        )
        .values(confirmation_sent_at=None)
        .execution_options(synchronize_session=False)
    )
    release_mailbox(session, settings, email)


def confirm(
    session: Session, settings: Settings, token: str, *, now: datetime | None = None
) -> Subscription:
    """Confirm a pending subscription; confirming again is a no-op.

    An unsubscribed (or bounced) subscription is not brought back by an old
    confirmation link: that answers like any invalid token.
    """
    now = now or datetime.now(UTC)
    sub = load_token(session, settings, token, "confirm")
    if sub.status == SubscriptionStatus.CONFIRMED:
        return sub
    if sub.status != SubscriptionStatus.PENDING:
        raise InvalidTokenError("this link is invalid or has expired")
    sub.status = SubscriptionStatus.CONFIRMED
    sub.confirmed_at = now
    digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
    record(session, sub, "confirmed", "email", version=CONSENT_VERSION, now=now, token_hash=digest)
    lift_erasure(session, settings, sub.subscriber.email)
    session.flush()
    return sub


def withdraw(
    session: Session,
    subs: Iterable[Subscription],
    channel: str,
    *,
    detail: str | None = None,
    now: datetime | None = None,
) -> list[Subscription]:
    """Unsubscribe each active subscription and skip its deliveries not yet handed over."""
    now = now or datetime.now(UTC)
    changed = []
    for sub in subs:
        if sub.status in (SubscriptionStatus.PENDING, SubscriptionStatus.CONFIRMED):
            sub.status = SubscriptionStatus.UNSUBSCRIBED
            sub.unsubscribed_at = now
            record(session, sub, "withdrawn", channel, detail=detail, now=now)
            changed.append(sub)
    if changed:
        session.execute(
            update(Delivery)
            .where(Delivery.subscription_id.in_([s.id for s in changed]))
            .where(Delivery.status == DeliveryStatus.PENDING)
            .values(status=DeliveryStatus.SKIPPED, last_error="unsubscribed")
            .execution_options(synchronize_session=False)
        )
    session.flush()
    return changed


def unsubscribe(
    session: Session,
    settings: Settings,
    token: str,
    *,
    scope: str = "city",
    channel: str = "web",
    now: datetime | None = None,
) -> Subscription:
    """Leave the token's city (``scope="city"``) or every city (``"all"``); idempotent."""
    sub = load_token(session, settings, token, "unsubscribe")
    targets = sub.subscriber.subscriptions if scope == "all" else [sub]
    withdraw(session, targets, channel, now=now)
    return sub


def unsubscribe_email(
    session: Session, email: str, city_slug: str | None, *, channel: str = "cli"
) -> int:
    """Staff: unsubscribe an address from one city or all; the number changed."""
    subscriber = session.scalar(
        select(Subscriber).where(Subscriber.email == normalise_email(email))
    )
    if subscriber is None:
        return 0
    subs = [s for s in subscriber.subscriptions if city_slug is None or s.city.slug == city_slug]
    return len(withdraw(session, subs, channel))
