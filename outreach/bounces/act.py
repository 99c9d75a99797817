"""Acting on bounce and complaint events, each exactly once.

- Hard bounce: the address goes on the suppression list (reason ``bounce``)
  and every active subscription of it is marked ``bounced``.
- Soft bounce: counted per address; ``bounce_soft_threshold`` of them within
  ``bounce_soft_days`` (defaults 5 in 7 days, Mailman's bounce score
  threshold and staleness) suppress it as a hard bounce does.
- Complaint (ARF ``abuse``) or unsubscribe (ARF ``opt-out``, provider
  events): the subscription of the city that sent the message is withdrawn at
  once (channel ``complaint`` / ``unsubscribe``); other cities are untouched.
  A complaint also suppresses the address for that city only (reason
  ``complaint``): no import, API call or sign-up there re-adds it, while
  another city's newsletter the person subscribed to still reaches them.
- Deferred and delivered: only counted.

An event names its delivery by a signed VERP return path
(:mod:`outreach.verp`) or, failing that, by the original Message-ID
(``<issue-N.sub-M@domain>``) together with the delivery's recipient address,
which must match. A forged or unsigned VERP address, or a Message-ID whose
recipient does not match, names nothing and changes nothing. Every event is
stored under the hash of (report, recipient, kind): the same report processed
twice is acted on once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from outreach.bounces.events import EventKind, MailEvent
from outreach.bounces.parse import is_auto_reply, message_from_bytes, parse
from outreach.models import (
    BounceEvent,
    Campaign,
    Delivery,
    Issue,
    Subscription,
    SubscriptionStatus,
)
from outreach.settings import Settings
from outreach.subscriptions import withdraw
from outreach.suppression import SuppressionReason, suppression_hash
from outreach.suppression import add as suppress
from outreach.verp import delivery_of

_OUR_MESSAGE_ID = re.compile(r"^<?issue-(\d{1,12})\.sub-(\d{1,12})@[^>]+>?$")


@dataclass
class Outcome:
    """What processing did, by count; ``lines`` says it for a person."""

    events: int = 0
    duplicates: int = 0
    unmatched: int = 0
    suppressed: int = 0
    unsubscribed: int = 0
    counted: int = 0
    #: Messages that are neither a report nor an auto-reply: a person should read them.
    unrecognised: int = 0
    notes: list[str] = field(default_factory=list)

    def add(self, other: Outcome) -> None:
        self.events += other.events
        self.duplicates += other.duplicates
        self.unmatched += other.unmatched
        self.suppressed += other.suppressed
        self.unsubscribed += other.unsubscribed
        self.counted += other.counted
        self.unrecognised += other.unrecognised


def process_message(
    session: Session,
    settings: Settings,
    data: bytes,
    *,
    return_path: str | None = None,
    source: str = "smtp",
    now: datetime | None = None,
) -> Outcome:
    """Parse one incoming message and act on its events; the caller commits."""
    events = parse(data, return_path=return_path)
    outcome = process_events(session, settings, events, source=source, now=now)
    if not events and not is_auto_reply(message_from_bytes(data)):
        outcome.unrecognised += 1
    return outcome


def process_events(
    session: Session,
    settings: Settings,
    events: Iterable[MailEvent],
    *,
    source: str,
    trusted_message_id: bool = False,
    now: datetime | None = None,
) -> Outcome:
    """Act on each event once. ``trusted_message_id``: the source is authenticated
    (a signed provider webhook), so its Message-ID alone names the delivery."""
    now = now or datetime.now(UTC)
    outcome = Outcome()
    for event in events:
        outcome.add(_one(session, settings, event, source, trusted_message_id, now))
    return outcome


def _delivery(
    session: Session, settings: Settings, event: MailEvent, trusted: bool
) -> Delivery | None:
    if event.return_path and "+" in event.return_path.partition("@")[0]:
        delivery_id = delivery_of(settings.secret(), event.return_path)
        # A VERP-looking address that does not verify is forged: it names nothing.
        return session.get(Delivery, delivery_id) if delivery_id is not None else None
    match = _OUR_MESSAGE_ID.match(event.message_id or "")
    if match is None:
        return None
    delivery = session.scalar(
        select(Delivery).where(
            Delivery.issue_id == int(match[1]), Delivery.subscriber_id == int(match[2])
        )
    )
    if delivery is None:
        return None
    if not trusted and (event.recipient or "").lower() != delivery.email.lower():
        return None
    return delivery


def _one(
    session: Session,
    settings: Settings,
    event: MailEvent,
    source: str,
    trusted: bool,
    now: datetime,
) -> Outcome:
    outcome = Outcome()
    delivery = _delivery(session, settings, event, trusted)
    if delivery is None:
        outcome.unmatched += 1
        return outcome
    digest = suppression_hash(settings, delivery.email)
    city_id = session.scalar(
        select(Campaign.city_id)
        .join(Issue, Issue.campaign_id == Campaign.id)
        .where(Issue.id == delivery.issue_id)
    )
    row = BounceEvent(
        report_hash=event.key(),
        kind=event.kind.value,
        hard=event.hard,
        email_hash=digest,
        delivery_id=delivery.id,
        issue_id=delivery.issue_id,
        city_id=city_id,
        source=source[:20],
        status_code=(event.status or "")[:20] or None,
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        outcome.duplicates += 1
        return outcome
    outcome.events += 1
    if event.kind is EventKind.BOUNCED and event.hard:
        _suppress(session, settings, delivery, f"hard bounce {event.status or ''}".strip())
        outcome.suppressed += 1
    elif event.kind is EventKind.BOUNCED:
        since = now - timedelta(days=settings.bounce_soft_days)
        soft = session.scalar(
            select(func.count()).where(
                BounceEvent.email_hash == digest,
                BounceEvent.kind == EventKind.BOUNCED.value,
                BounceEvent.hard.is_(False),
                BounceEvent.created_at >= since,
            )
        )
        if int(soft or 0) >= settings.bounce_soft_threshold:
            detail = f"{soft} soft bounces in {settings.bounce_soft_days} days"
            _suppress(session, settings, delivery, detail)
            outcome.suppressed += 1
        else:
            outcome.counted += 1
    elif event.kind in (EventKind.COMPLAINED, EventKind.UNSUBSCRIBED):
        sub = session.get(Subscription, delivery.subscription_id)
        channel = "complaint" if event.kind is EventKind.COMPLAINED else "unsubscribe"
        if sub is not None and withdraw(session, [sub], channel, detail=event.diagnostic, now=now):
            outcome.unsubscribed += 1
        if event.kind is EventKind.COMPLAINED and city_id is not None:
            # this city never mails the address again, nor re-adds it by import or API
            detail = f"complaint about issue {delivery.issue_id}"
            suppress(
                session, settings, delivery.email, SuppressionReason.COMPLAINT, detail,
                city_id=city_id,
            )  # fmt: skip
    else:
        outcome.counted += 1
    return outcome


def _suppress(session: Session, settings: Settings, delivery: Delivery, detail: str) -> None:
    """Suppress a dead address and mark its active subscriptions bounced."""
    suppress(session, settings, delivery.email, SuppressionReason.HARD_BOUNCE, detail)
    subs = session.scalars(
        select(Subscription).where(
            Subscription.subscriber_id == delivery.subscriber_id,
            Subscription.status.in_([SubscriptionStatus.CONFIRMED, SubscriptionStatus.PENDING]),
        )
    )
    for sub in subs:
        sub.status = SubscriptionStatus.BOUNCED
    session.flush()
