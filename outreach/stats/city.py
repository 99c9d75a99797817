"""A city's figures over a year: subscribers, reach, content, leads, by month and segment.

Months are the city's calendar months (its timezone); a year still running
ends now. Definitions (docs/stats.md, "The figures"):

- a subscription is *new* in the month it was confirmed, *unsubscribed* or
  *bounced* in the month it left; *confirmed* counts those in at a month's end;
- a *company* is its business ID, else its name (case-folded), else the
  subscriber; it is *reached* by an issue that was delivered to it;
- an issue counts in the month its send started; its clicks with it;
- *events promoted* are the events listed in issues sent; *trainings* those of
  them whose section, categories or title say training, course or webinar;
- a *lead* is a confirmed subscription whose company asked for a visit.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text, true
from sqlalchemy.orm import Session

from outreach.campaigns import Config
from outreach.errors import StatsError, msg
from outreach.models import (
    BounceEvent,
    Campaign,
    City,
    ContentItem,
    Delivery,
    Issue,
    IssueItem,
    IssueStatus,
    LinkClick,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)

#: Issues whose send started: they count.
STARTED = (
    IssueStatus.SENDING, IssueStatus.PAUSED, IssueStatus.SENT,
    IssueStatus.FAILED, IssueStatus.CANCELLED,
)  # fmt: skip
SME = ("micro", "small", "medium")
TRAINING = re.compile(r"train|koulut|kurs|course|webina|valmennu|workshop|työpaja", re.I)


#: PostgreSQL's memory for a statement's hash tables while the figures are made: it
#: has no statistics for the expressions they group by, guesses a group per row,
#: and would otherwise sort on disk what fits in a small hash table.
WORK_MEM = "32MB"


def roomy(session: Session) -> None:
    """Give the figures' grouped queries :data:`WORK_MEM` (for this transaction)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))


@dataclass(frozen=True)
class Month:
    key: str  # YYYY-MM
    start: datetime  # UTC
    end: datetime  # UTC, exclusive


def months(year: int, tz: str, now: datetime) -> list[Month]:
    """The city's months of ``year`` up to now."""
    zone = ZoneInfo(tz)
    found = []
    for m in range(1, 13):
        start = datetime(year, m, 1, tzinfo=zone).astimezone(UTC)
        nxt = datetime(year + (m == 12), m % 12 + 1, 1, tzinfo=zone).astimezone(UTC)
        if start > now:
            break
        found.append(Month(f"{year}-{m:02d}", start, min(nxt, now)))
    if not found:
        raise StatsError(msg("{year} has not started yet"), year=year)
    return found


def city_id(session: Session, config: Config, city: str) -> int:
    if city not in config.cities:
        raise StatsError(
            msg("no city {city} (known: {known})"),
            city=repr(city),
            known=", ".join(sorted(config.cities)),
        )
    found = session.scalar(select(City.id).where(City.slug == city))
    if found is None:
        raise StatsError(
            msg("city {city} is not in the database yet; run `outreach db upgrade`"),
            city=repr(city),
        )
    return int(found)


@dataclass(frozen=True)
class IssueRef:
    id: int
    campaign: str
    period: str
    started: datetime
    counts: dict[str, int]


def started_issues(
    session: Session,
    city_ids: Sequence[int],
    start: datetime,
    end: datetime,
    *,
    counts: bool = True,
) -> list[IssueRef]:
    """The cities' issues whose send started in the period, oldest first; with
    their deliveries counted per status unless ``counts`` is false."""
    rows = session.execute(
        select(Issue.id, Campaign.slug, Issue.period, Issue.send_started_at)
        .join(Campaign, Campaign.id == Issue.campaign_id)
        .where(
            Campaign.city_id.in_(city_ids),
            Issue.status.in_(STARTED),
            Issue.send_started_at >= start,
            Issue.send_started_at < end,
        )
        .order_by(Issue.send_started_at)
    ).all()
    found = delivery_counts(session, [r[0] for r in rows]) if counts else {}
    return [IssueRef(r[0], r[1], r[2], r[3] or start, found.get(r[0], {})) for r in rows]


def delivery_counts(session: Session, ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Per issue, its deliveries per status; of an issue whose rows were purged,
    the counts its snapshot kept."""
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    if not ids:
        return counts
    for issue_id, status, n in session.execute(
        select(Delivery.issue_id, Delivery.status, func.count())
        .where(Delivery.issue_id.in_(ids))
        .group_by(Delivery.issue_id, Delivery.status)
    ):
        counts[issue_id][str(status)] = int(n)
    purged = sorted(set(ids) - set(counts))  # no rows: the counts kept in the snapshot
    if purged:
        for issue_id, snap in session.execute(
            select(Issue.id, Issue.snapshot).where(Issue.id.in_(purged))
        ):
            kept = (snap or {}).get("delivery_counts") or {}
            counts[issue_id] = {k: int(v) for k, v in kept.items() if k != "total"}
        for issue_id in purged:
            counts.setdefault(issue_id, {})
    return counts


def clicks_per_issue(session: Session, issue_ids: Sequence[int]) -> dict[int, int]:
    if not issue_ids:
        return {}
    query = (
        select(LinkClick.issue_id, func.count())
        .where(LinkClick.issue_id.in_(issue_ids), LinkClick.counted.is_(True))
        .group_by(LinkClick.issue_id)
    )
    return {int(i): int(n) for i, n in session.execute(query)}


def promoted(session: Session, issue_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """Per issue: (events listed, of them trainings)."""
    found: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    if not issue_ids:
        return {}
    rows = session.execute(
        select(IssueItem.issue_id, IssueItem.section, ContentItem.categories, ContentItem.title)
        .join(ContentItem, ContentItem.id == IssueItem.item_id)
        .where(
            IssueItem.issue_id.in_(issue_ids),
            IssueItem.lead.is_(True),
            ContentItem.kind == "event",
        )
    )
    for issue_id, section, categories, title in rows:
        counts = found[issue_id]
        counts[0] += 1
        words = " ".join([section or "", title or "", *map(str, categories or [])])
        counts[1] += bool(TRAINING.search(words))
    return {k: (v[0], v[1]) for k, v in found.items()}


@dataclass
class Person:
    """A subscription, as the figures need it (no address, no name)."""

    status: str
    confirmed: datetime | None
    left: datetime | None
    how: str  # unsubscribed | bounced | ""
    language: str
    size: str
    industry: str
    topics: list[str]
    lead: bool


def people(session: Session, city: int, *, bounced_only: bool = False) -> list[Person]:
    """The city's subscriptions one by one (``bounced_only``: those that bounced)."""
    bounced = dict(
        session.execute(
            select(Delivery.subscription_id, func.max(BounceEvent.created_at))
            .join(Delivery, Delivery.id == BounceEvent.delivery_id)
            .where(BounceEvent.city_id == city, BounceEvent.kind == "bounced")
            .group_by(Delivery.subscription_id)
        ).all()
    )
    rows = session.execute(
        select(
            Subscription.id, Subscription.status, Subscription.confirmed_at,
            Subscription.unsubscribed_at, Subscription.topics, Subscriber.language,
            Subscriber.size_class, Subscriber.industry_code, Subscriber.interested_in_visit,
        )
        .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
        .where(Subscription.city_id == city)
        .where(Subscription.status == SubscriptionStatus.BOUNCED if bounced_only else true())
    )  # fmt: skip
    found = []
    for sid, status, confirmed, unsub, topics, lang, size, industry, visit in rows:
        how, left = "", None
        if status == SubscriptionStatus.UNSUBSCRIBED:
            how, left = "unsubscribed", unsub
        elif status == SubscriptionStatus.BOUNCED:
            # when the report is gone (retention), it is counted as gone since it was confirmed
            how, left = "bounced", bounced.get(sid) or confirmed
        found.append(
            Person(str(status), confirmed, left, how, lang or "", size or "",
                   (industry or "")[:2], [str(t) for t in topics or []], bool(visit))
        )  # fmt: skip
    return found


def _in(moment: datetime | None, start: datetime, end: datetime) -> bool:
    return moment is not None and start <= moment < end


def _member(p: Person, at: datetime) -> bool:
    return p.confirmed is not None and p.confirmed < at and (p.left is None or p.left >= at)


def leads_contacted(session: Session, city: int, start: datetime, end: datetime) -> int:
    """Leads the city has contacted in the period: its subscriptions whose lead was
    marked contacted (``outreach.subscriptions.mark_contacted``) between ``start``
    and ``end``."""
    found = session.scalar(
        select(func.count(Subscription.id)).where(
            Subscription.city_id == city,
            Subscription.lead_contacted_at >= start,
            Subscription.lead_contacted_at < end,
        )
    )
    return int(found or 0)


SUB_KEYS = ("confirmed", "new", "unsubscribed", "bounced")
SUB_COLUMNS = [
    ("confirmed", "Confirmed"), ("new", "New"),
    ("unsubscribed", "Unsubscribed"), ("bounced", "Bounced"),
]  # fmt: skip
SEGMENT_LABEL = {
    "language": "Language", "size_class": "Size class",
    "industry": "Industry", "topic": "Topic",
}  # fmt: skip
