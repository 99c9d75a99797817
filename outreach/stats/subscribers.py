"""A city's subscriptions counted by month and by segment, grouped in the database.

Subscriptions that left by bouncing are few and need their bounce's time, so
they are read one by one (:func:`outreach.stats.city.people`); all others are
counted by grouped queries, whose rows number the months (or the segments'
values), never the subscriptions.
"""

from __future__ import annotations

import itertools
import json
from bisect import bisect_right
from collections import Counter, defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import String, and_, case, cast, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

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
from outreach.stats.tables import Table, language_names

UNSUB = SubscriptionStatus.UNSUBSCRIBED
#: When a subscription that did not bounce left: its unsubscription, else never.
LEFT = case((Subscription.status == UNSUB, Subscription.unsubscribed_at), else_=None)


def _bucket(column: Any, span: list[Month]) -> Any:
    """-1 before the span, the month's number within it, len(span) after it (or NULL).

    A binary search of the months' bounds in nested CASEs: four comparisons a row
    for a year instead of up to thirteen (every row of the city is bucketed)."""
    bounds = [span[0].start, *(m.end for m in span)]  # bucket n - 1 below bounds[n]

    def search(low: int, high: int) -> Any:  # the first bound above, among low .. high - 1
        if high - low == 1:
            return case((column < bounds[low], low - 1), else_=low)
        middle = (low + high) // 2
        return case((column < bounds[middle], search(low, middle)), else_=search(middle, high))

    return search(0, len(bounds))


def _city(query: Any, city: int) -> Any:
    return query.where(
        Subscription.city_id == city, Subscription.status != SubscriptionStatus.BOUNCED
    )


def _joined_counts(session: Session, city: int, span: list[Month]) -> list[tuple[int, int]]:
    """(bucket of the month joined, subscriptions) of the city's subscriptions that have
    not left: one count of a range of ``ix_subscriptions_joined`` per bucket, which
    reads the index alone and compares nothing per row (a CASE per row costs SQLite
    many times more)."""
    bounds = [span[0].start, *(m.end for m in span)]
    joined = Subscription.confirmed_at
    ranges: list[ColumnElement[bool]] = [joined.is_not(None) & (joined < bounds[0])]
    ranges += [(joined >= low) & (joined < high) for low, high in itertools.pairwise(bounds)]
    ranges.append(joined >= bounds[-1])
    staying = Subscription.status.not_in([SubscriptionStatus.BOUNCED, UNSUB])
    counts = [
        select(func.count())
        .select_from(Subscription)
        .where(Subscription.city_id == city, where, staying)
        .scalar_subquery()
        for where in ranges
    ]
    found = session.connection().execute(select(*counts)).one()
    return [(n - 1, int(found[n] or 0)) for n in range(len(ranges))]


def subscriber_months(
    session: Session, city: int, span: list[Month], bounced: list[Person]
) -> dict[str, list[int]]:
    """Per month of ``span``: confirmed at its end, new, unsubscribed, bounced, leads.

    The city's subscriptions that stay are counted by the month they joined
    (:func:`_joined_counts`); those that left by unsubscribing by the months they
    joined and left; the leads among them by the month they joined (from the few
    subscribers who welcome a visit); those that bounced one by one (``bounced``).
    """
    count = len(span)
    starts = [m.start for m in span]

    def index(moment: datetime | None) -> int:
        if moment is None or moment >= span[-1].end:
            return count
        return bisect_right(starts, moment) - 1

    joined, left = _bucket(Subscription.confirmed_at, span), _bucket(LEFT, span)
    # (a NULL joined is the bucket after the span: skipped below, as are later ones)
    unsubscribed = (
        select(joined, left, func.count())
        .where(Subscription.city_id == city, Subscription.status == UNSUB)
        .group_by(joined, left)
    )
    groups: list[tuple[int, int, str, int]] = [
        (j, count, "unsubscribed", n) for j, n in _joined_counts(session, city, span)
    ]
    groups += [
        (int(j), int(lf), "unsubscribed", int(n))
        for j, lf, n in session.connection().execute(unsubscribed)
    ]
    groups += [(index(p.confirmed), index(p.left), "bounced", 1) for p in bounced]
    # driven by the few who welcome a visit (ix_subscribers_visit matches the bare column;
    # a NULL joined is the bucket after the span, as above)
    visiting = select(Subscriber.id).where(Subscriber.interested_in_visit)
    leads = _city(
        select(joined, func.count())
        .select_from(Subscription)
        .where(Subscription.subscriber_id.in_(visiting)),
        city,
    ).group_by(joined)
    out = {key: [0] * count for key in ("new", "unsubscribed", "bounced", "leads")}
    for j, n in session.connection().execute(leads):
        if 0 <= j < count:
            out["leads"][j] += int(n)
    for p in bounced:
        j = index(p.confirmed)
        if p.lead and 0 <= j < count:
            out["leads"][j] += 1
    change = [0] * (count + 1)
    for j, lf, how, n in groups:
        if j >= count:
            continue
        if j >= 0:
            out["new"][j] += n
        if 0 <= lf < count:
            out[how][lf] += n
        first = max(j, 0)
        if first < lf:  # a member at the end of months first .. lf - 1
            change[first] += n
            change[min(lf, count)] -= n
    running, confirmed_at_end = 0, []
    for n in range(count):
        running += change[n]
        confirmed_at_end.append(running)
    out["confirmed"] = confirmed_at_end
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
    query = _city(
        select(*columns, *flags)
        .select_from(Subscription)
        .join(Subscriber, Subscriber.id == Subscription.subscriber_id),
        city,
    ).group_by(*columns)
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
                names={"segment": language_names(counts[key])} if key == "language" else {},
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
