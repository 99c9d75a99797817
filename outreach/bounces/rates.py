"""Bounce and complaint rates per issue and per city, and when they warn.

Mailbox providers judge a sender by them: Gmail and Yahoo want complaints
under 0.3 % (aim under 0.1 %), and a list that keeps bouncing looks bought.
An issue warns when its complaints pass 0.1 % of its sent deliveries or its
hard bounces pass 2 %.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


def reported_issues(session: Session, *, limit: int = 20, city: str | None = None) -> list[int]:
    """The most recent issues with reports (of ``city``'s campaigns only, given its slug)."""
    query = select(BounceEvent.issue_id).where(BounceEvent.issue_id.is_not(None))
    if city is not None:
        query = query.join(City, City.id == BounceEvent.city_id).where(City.slug == city)
    found = session.scalars(
        query.group_by(BounceEvent.issue_id).order_by(BounceEvent.issue_id.desc()).limit(limit)
    )
    return [int(issue_id) for issue_id in found if issue_id is not None]


def issues_rates(
    session: Session, issue_ids: Sequence[int], *, sent: Mapping[int, int] | None = None
) -> dict[int, Rates]:
    """:func:`issue_rates` of each of ``issue_ids`` in two grouped queries, or one when
    the caller knows each issue's sent deliveries (``sent``)."""
    known = dict(sent or {})
    known.update(sent_counts(session, [i for i in issue_ids if i not in known]))
    counts = {issue_id: {"hard": 0, "soft": 0, "complaints": 0} for issue_id in issue_ids}
    if counts:
        for reported, kind, hard, n in session.execute(
            select(
                BounceEvent.issue_id,
                BounceEvent.kind,
                BounceEvent.hard,
                func.count(func.distinct(BounceEvent.email_hash)),
            )
            .where(BounceEvent.issue_id.in_(list(counts)))
            .group_by(BounceEvent.issue_id, BounceEvent.kind, BounceEvent.hard)
        ):
            mine = counts[int(reported or 0)]
            if kind == EventKind.BOUNCED.value:
                mine["hard" if hard else "soft"] += int(n)
            elif kind == EventKind.COMPLAINED.value:
                mine["complaints"] += int(n)
    return {
        issue_id: Rates(known[issue_id], c["hard"], c["soft"], c["complaints"])
        for issue_id, c in counts.items()
    }


def sent_counts(session: Session, issue_ids: Sequence[int]) -> dict[int, int]:
    """The sent deliveries of each of ``issue_ids``, in one grouped query."""
    found = dict.fromkeys(issue_ids, 0)
    if found:
        for issue_id, n in session.execute(
            select(Delivery.issue_id, func.count().label("n"))
            .where(Delivery.issue_id.in_(list(found)), Delivery.status == DeliveryStatus.SENT)
            .group_by(Delivery.issue_id)
        ):
            found[int(issue_id)] = int(n or 0)
    return found


def warnings_of(rates: Mapping[int, Rates]) -> list[tuple[int, Rates]]:
    """Those of ``rates`` that pass a limit, newest issue first."""
    return [
        (issue_id, r)
        for issue_id, r in sorted(rates.items(), reverse=True)
        if r.too_many_complaints or r.too_many_bounces
    ]


def rate_warnings(
    session: Session, *, limit: int = 20, city: str | None = None
) -> list[tuple[int, Rates]]:
    """(issue id, rates) of the most recent issues with reports (of ``city``'s
    campaigns only, given its slug) whose rates pass a limit."""
    issue_ids = reported_issues(session, limit=limit, city=city)
    return warnings_of(issues_rates(session, issue_ids))
