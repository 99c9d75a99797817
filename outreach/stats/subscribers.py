"""A city's subscriptions counted by month and by segment, grouped in the database.

Subscriptions that left by bouncing are few and need their bounce's time, so
they are read one by one (:func:`outreach.stats.city.people`); all others are
counted by grouped queries, whose rows number the months (or the segments'
values), never the subscriptions.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections import Counter, defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import String, and_, case, cast, func, or_, select
from sqlalchemy.orm import Session

from outreach.models import Subscriber, Subscription, SubscriptionStatus
from outreach.stats.city import (
    SEGMENT_LABEL,
    SUB_COLUMNS,
    SUB_KEYS,
    Month,
    Person,
    _in,
    _member,
    people,
)
from outreach.stats.tables import Table

UNSUB = SubscriptionStatus.UNSUBSCRIBED
#: When a subscription that did not bounce left: its unsubscription, else never.
LEFT = case((Subscription.status == UNSUB, Subscription.unsubscribed_at), else_=None)


def _bucket(column: Any, span: list[Month]) -> Any:
    """-1 before the span, the month's number within it, len(span) after it (or NULL)."""
    whens = [(column < span[0].start, -1), *((column < m.end, n) for n, m in enumerate(span))]
    return case(*whens, else_=len(span))


def _city(query: Any, city: int) -> Any:
    return query.join(Subscriber, Subscriber.id == Subscription.subscriber_id).where(
        Subscription.city_id == city, Subscription.status != SubscriptionStatus.BOUNCED
    )


def subscriber_months(
    session: Session, city: int, span: list[Month], bounced: list[Person]
) -> dict[str, list[int]]:
    """Per month of ``span``: confirmed at its end, new, unsubscribed, bounced, leads."""
    count = len(span)
    starts = [m.start for m in span]

    def index(moment: datetime | None) -> int:
        if moment is None or moment >= span[-1].end:
            return count
        return bisect_right(starts, moment) - 1

    joined, left = _bucket(Subscription.confirmed_at, span), _bucket(LEFT, span)
    query = _city(
        select(joined, left, Subscriber.interested_in_visit, func.count())
        .select_from(Subscription)
        .where(Subscription.confirmed_at.is_not(None)),
        city,
    ).group_by(joined, left, Subscriber.interested_in_visit)
    groups: list[tuple[int, int, str, bool, int]] = [
        (int(j), int(lf), "unsubscribed", bool(lead), int(n))
        for j, lf, lead, n in session.connection().execute(query)
    ]
    groups += [(index(p.confirmed), index(p.left), "bounced", p.lead, 1) for p in bounced]
    out = {key: [0] * count for key in ("new", "unsubscribed", "bounced", "leads")}
    change = [0] * (count + 1)
    for j, lf, how, lead, n in groups:
        if j >= count:
            continue
        if j >= 0:
            out["new"][j] += n
            out["leads"][j] += n * lead
        if 0 <= lf < count:
            out[how][lf] += n
        first = max(j, 0)
        if first < lf:  # a member at the end of months first .. lf - 1
            change[first] += n
            change[min(lf, count)] -= n
    running, confirmed = 0, []
    for n in range(count):
        running += change[n]
        confirmed.append(running)
    out["confirmed"] = confirmed
    return out


def segment_tables(
    session: Session, city: int, start: datetime, end: datetime, bounced: list[Person]
) -> list[Table]:
    """Subscribers by language, size class, industry and topic over the period."""
    confirmed = Subscription.confirmed_at
    flags = [
        func.sum(case((and_(confirmed < end, or_(LEFT.is_(None), end <= LEFT)), 1), else_=0)),
        func.sum(case((and_(confirmed >= start, confirmed < end), 1), else_=0)),
        func.sum(case((and_(start <= LEFT, end > LEFT), 1), else_=0)),
    ]
    dims: dict[str, tuple[str, Any, Any]] = {
        "language": ("Subscribers by language", Subscriber.language, lambda p: [p.language]),
        "size_class": ("Subscribers by size class", Subscriber.size_class, lambda p: [p.size]),
        "industry": (
            "Subscribers by industry (TOL 2008 division)",
            func.substr(Subscriber.industry_code, 1, 2),
            lambda p: [p.industry],
        ),
        "topic": ("Subscribers by topic", cast(Subscription.topics, String), lambda p: p.topics),
    }
    columns = [column for _, column, _ in dims.values()]
    query = _city(select(*columns, *flags).select_from(Subscription), city).group_by(*columns)
    counts: dict[str, dict[str, Counter[str]]] = {key: defaultdict(Counter) for key in dims}
    for *values_, member, new, unsub in session.connection().execute(query):
        flags_ = {"confirmed": int(member or 0), "new": int(new or 0),
                  "unsubscribed": int(unsub or 0)}  # fmt: skip
        for key, value in zip(dims, values_, strict=True):
            names = _topics(value) if key == "topic" else [value or ""]
            for name in names or [""]:
                counts[key][name].update(flags_)
    for p in bounced:
        flags_ = {"confirmed": int(_member(p, end)), "new": int(_in(p.confirmed, start, end)),
                  "bounced": int(_in(p.left, start, end))}  # fmt: skip
        for key, (_, _, values) in dims.items():
            for name in values(p) or [""]:
                counts[key][name].update(flags_)
    tables = []
    for key, (title, _, _) in dims.items():
        rows: list[dict[str, Any]] = [
            {"segment": value or "?", **{k: c[k] for k in SUB_KEYS}}
            for value, c in sorted(counts[key].items(), key=lambda kv: (-kv[1]["confirmed"], kv[0]))
        ]
        tables.append(
            Table(
                key,
                title,
                [("segment", SEGMENT_LABEL[key]), *SUB_COLUMNS],
                rows,
                chart=["confirmed"],
            )
        )
    return tables


def _topics(text: str | None) -> list[str]:
    try:
        found = json.loads(text or "[]")
    except ValueError:
        return []
    return [str(t) for t in found] if isinstance(found, list) else []


def bounced_people(session: Session, city: int) -> list[Person]:
    return people(session, city, bounced_only=True)
