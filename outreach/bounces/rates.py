"""Bounce and complaint rates per issue and per city, and when they warn.

Mailbox providers judge a sender by them: Gmail and Yahoo want complaints
under 0.3 % (aim under 0.1 %), and a list that keeps bouncing looks bought.
An issue warns when its complaints pass 0.1 % of its sent deliveries or its
hard bounces pass 2 %.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outreach.bounces.events import EventKind
from outreach.models import BounceEvent, Campaign, City, Delivery, DeliveryStatus, Issue

COMPLAINT_LIMIT = 0.001
HARD_BOUNCE_LIMIT = 0.02


@dataclass(frozen=True)
class Rates:
    sent: int
    hard_bounces: int
    soft_bounces: int
    complaints: int

    @property
    def bounce_rate(self) -> float:
        return self.hard_bounces / self.sent if self.sent else 0.0

    @property
    def complaint_rate(self) -> float:
        return self.complaints / self.sent if self.sent else 0.0

    @property
    def too_many_complaints(self) -> bool:
        return self.complaint_rate > COMPLAINT_LIMIT

    @property
    def too_many_bounces(self) -> bool:
        return self.bounce_rate > HARD_BOUNCE_LIMIT


def _rates(session: Session, delivery_filter: object, event_filter: object) -> Rates:
    sent = session.scalar(
        select(func.count())
        .select_from(Delivery)
        .where(delivery_filter, Delivery.status == DeliveryStatus.SENT)  # type: ignore[arg-type]
    )
    counts = {"hard": 0, "soft": 0, "complaints": 0}
    rows = session.execute(
        select(
            BounceEvent.kind, BounceEvent.hard, func.count(func.distinct(BounceEvent.email_hash))
        )
        .where(event_filter)  # type: ignore[arg-type]
        .group_by(BounceEvent.kind, BounceEvent.hard)
    )
    for kind, hard, n in rows:
        if kind == EventKind.BOUNCED.value:
            counts["hard" if hard else "soft"] += int(n)
        elif kind == EventKind.COMPLAINED.value:
            counts["complaints"] += int(n)
    return Rates(int(sent or 0), counts["hard"], counts["soft"], counts["complaints"])


def issue_rates(session: Session, issue_id: int) -> Rates:
    """Sent deliveries of the issue and the distinct addresses that bounced or complained."""
    return _rates(session, Delivery.issue_id == issue_id, BounceEvent.issue_id == issue_id)


def city_rates(session: Session, city_id: int) -> Rates:
    """The same over every issue of the city's campaigns."""
    issues = (
        select(Issue.id)
        .join(Campaign, Campaign.id == Issue.campaign_id)
        .where(Campaign.city_id == city_id)
    )
    return _rates(session, Delivery.issue_id.in_(issues), BounceEvent.city_id == city_id)


def rate_warnings(
    session: Session, *, limit: int = 20, city: str | None = None
) -> list[tuple[int, Rates]]:
    """(issue id, rates) of the most recent issues with reports (of ``city``'s
    campaigns only, given its slug) whose rates pass a limit."""
    query = select(BounceEvent.issue_id).where(BounceEvent.issue_id.is_not(None))
    if city is not None:
        query = query.join(City, City.id == BounceEvent.city_id).where(City.slug == city)
    issue_ids = session.scalars(
        query.group_by(BounceEvent.issue_id).order_by(BounceEvent.issue_id.desc()).limit(limit)
    ).all()
    found = []
    for issue_id in issue_ids:
        assert issue_id is not None
        rates = issue_rates(session, issue_id)
        if rates.too_many_complaints or rates.too_many_bounces:
            found.append((issue_id, rates))
    return found
