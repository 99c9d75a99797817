"""Staff changes to a subscriber: their details, the city's topics, their interest."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from outreach.campaigns import Config
from outreach.models import Subscriber, Subscription
from outreach.subscriptions.leads import note_interest
from outreach.subscriptions.signup import DETAIL_FIELDS, SignUp


def edit_subscriber(
    session: Session,
    config: Config,
    city: str,
    subscriber: Subscriber,
    sub: Subscription,
    *,
    details: dict[str, str | None],
    topics: list[str],
    visit: bool,
    cooperation: bool,
    now: datetime,
) -> list[str]:
    """Apply the form with the sign-up rules (:class:`SignUp`); the fields that changed.

    Raises :class:`~outreach.errors.SubscriptionError` for a value that does not
    validate, before anything changes.
    """
    clean = SignUp.clean(
        config, city, email=subscriber.email, topics=topics,
        **{name: details.get(name) for name in DETAIL_FIELDS},
    )  # fmt: skip
    changed = [n for n in DETAIL_FIELDS if getattr(subscriber, n) != getattr(clean, n)]
    for name in DETAIL_FIELDS:
        setattr(subscriber, name, getattr(clean, name))
    if list(sub.topics) != clean.topics:
        sub.topics = clean.topics
        changed.append("topics")
    if subscriber.interested_in_visit != visit:
        changed.append("interested_in_visit")
    if subscriber.wants_cooperation != cooperation:
        changed.append("wants_cooperation")
    note_interest(subscriber, visit=visit, cooperation=cooperation, now=now)
    session.flush()
    return changed
