"""A city's subscribers as staff look them up: search, filters, keyset pages, one person.

:func:`search` answers one page of a city's subscriptions, newest first, with
the counts per status and the number that match. Pages are keyset pages on
the subscription id (``after`` / ``before`` the id at a page's edge, or the
``last`` page), so the last page of 100,000 rows costs what the first does
(the index ``ix_subscriptions_city_id_id``). :func:`person` is everything
the subscriber page shows, limited to the city: its subscription, that
subscription's consent history and deliveries, and the suppression entry.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, String, Text, cast, func, select, text
from sqlalchemy.orm import Session

from outreach.models import (
    Campaign,
    City,
    ConsentRecord,
    Delivery,
    Issue,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
    search_fold,
)
from outreach.settings import Settings
from outreach.subscriptions.export import EXPORT_FIELDS
from outreach.subscriptions.signup import SUBSCRIBER_FIELDS
from outreach.suppression import entry
from outreach.validation import has_control_chars

PAGE_SIZE = 50
#: The matching count is exact up to this many; past it the list says "more than".
COUNT_CAP = 10_000
#: Where a subscription's consent came from (``Subscription.channel``).
CHANNELS = ("web", "import", "api", "cli", "staff")
VISIT = {"yes": True, "no": False}


@dataclass(frozen=True)
class Filters:
    """What the list is narrowed to; every field empty means the whole city."""

    q: str = ""
    status: str = ""
    topic: str = ""
    language: str = ""
    size_class: str = ""
    industry: str = ""
    visit: str = ""  # "yes" | "no" | ""
    channel: str = ""

    @classmethod
    def parse(cls, values: dict[str, Any]) -> Filters:
        """Filters from a query string; unknown or malformed values are dropped."""
        clean: dict[str, str] = {}
        for f in fields(cls):
            value = values.get(f.name)
            text = value.strip()[:100] if isinstance(value, str) else ""
            clean[f.name] = "" if has_control_chars(text) else text
        if clean["status"] not in {s.value for s in SubscriptionStatus}:
            clean["status"] = ""
        if clean["visit"] not in VISIT:
            clean["visit"] = ""
        return cls(**clean)

    def query(self) -> dict[str, str]:
        """The filters that are set, for links to other pages of the same list."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}


@dataclass(frozen=True)
class Row:
    subscriber_id: int
    subscription_id: int
    email: str
    company_name: str | None
    business_id: str | None
    contact_name: str | None
    status: str
    topics: list[str]
    language: str
    channel: str
    created_at: datetime


@dataclass
class Page:
    rows: list[Row]
    matched: int
    counts: dict[str, int]
    has_next: bool
    has_prev: bool
    #: More than ``matched`` (= COUNT_CAP) match; the exact number was not counted.
    matched_more: bool = False

    @property
    def first_id(self) -> int | None:
        return self.rows[0].subscription_id if self.rows else None

    @property
    def last_id(self) -> int | None:
        return self.rows[-1].subscription_id if self.rows else None

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def search_terms(q: str) -> list[str]:
    """The terms of a search: its words, case and accents folded ("Järvenpää" → "jarvenpaa")."""
    return search_fold(q).split()


def _contains(terms: list[str]) -> list[ColumnElement[bool]]:
    """Every term somewhere in the search text (a LIKE wildcard in a term is text)."""
    return [Subscriber.search_text.contains(term, autoescape=True) for term in terms]


def _where(stmt: Select[Any], city_id: int, filters: Filters, dialect: str) -> Select[Any]:
    """``stmt`` (of subscriptions joined to their subscribers) narrowed to ``filters``.

    A search term matches anywhere in ``Subscriber.search_text``: every row's text
    is read (``LIKE '%term%'``), which both databases do in one pass over the
    subscribers, in tens of milliseconds at 100,000 (docs/staff.md, bench_console).
    SQLite makes the list of matching subscribers first and then looks their
    subscriptions up (``city_id + 0`` hides the city's index from its planner,
    which would otherwise walk all the city's subscriptions in id order to skip a
    sort); PostgreSQL's planner joins the two best from the plain conditions.
    """
    terms = search_terms(filters.q)
    if terms and dialect == "sqlite":
        stmt = stmt.where(Subscription.city_id + 0 == city_id)
        matching = select(Subscriber.id).where(*_contains(terms))
        stmt = stmt.where(Subscription.subscriber_id.in_(matching.scalar_subquery()))
    else:
        stmt = stmt.where(Subscription.city_id == city_id, *_contains(terms))
    if filters.status:
        stmt = stmt.where(Subscription.status == SubscriptionStatus(filters.status))
    if filters.topic:
        # topics is a JSON list of slugs: match the quoted slug in its text. On
        # PostgreSQL as strpos(), which the planner takes as weakly selective: a LIKE
        # on the cast has no statistics and is guessed to keep 10 rows of 100,000, so
        # the plan walked every subscription and looked each subscriber up (5x slower).
        quoted = f'"{filters.topic}"'
        if dialect == "postgresql":
            stmt = stmt.where(func.strpos(cast(Subscription.topics, Text), quoted) > 0)
        else:
            stmt = stmt.where(cast(Subscription.topics, String).contains(quoted, autoescape=True))
    if filters.language:
        stmt = stmt.where(Subscriber.language == filters.language)
    if filters.size_class:
        stmt = stmt.where(Subscriber.size_class == filters.size_class)
    if filters.industry:
        stmt = stmt.where(Subscriber.industry_code.startswith(filters.industry, autoescape=True))
    if filters.visit:
        stmt = stmt.where(Subscriber.interested_in_visit.is_(VISIT[filters.visit]))
    if filters.channel:
        stmt = stmt.where(Subscription.channel == filters.channel)
    return stmt


def _dialect(session: Session) -> str:
    """The database's dialect name; on PostgreSQL the transaction plans each query for
    its own values from here on (``plan_cache_mode``): the search pattern and the
    limit decide the plan, and a plan prepared for any values (after a few runs of
    the same statement on a pooled connection) walks all the city's subscriptions
    in id order instead, several times the work."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    return name


def city_id_of(session: Session, city: str) -> int | None:
    return session.scalar(select(City.id).where(City.slug == city))


def search(
    session: Session,
    city: str,
    filters: Filters = Filters(),
    *,
    after: int | None = None,
    before: int | None = None,
    last: bool = False,
    limit: int = PAGE_SIZE,
) -> Page:
    """One page of the city's subscriptions, newest first.

    ``after``: the page after the row with that subscription id; ``before``: the
    page before it; ``last``: the oldest page. Otherwise the first page.
    """
    city_id = city_id_of(session, city)
    if city_id is None:
        return Page([], 0, {}, has_next=False, has_prev=False)
    dialect = _dialect(session)
    per_status = counts(session, city_id)
    narrowed = {name for name, value in filters.query().items() if name != "status"}
    if narrowed:
        # Narrowed: the ids of every match (up to the cap), newest first, in one pass,
        # which is the count and holds the page too; only past the cap is the page a
        # query of its own (then it stops at the page, the matches being many).
        ids = list(session.scalars(
            _match_ids(city_id, filters, dialect).order_by(Subscription.id.desc())
            .limit(COUNT_CAP + 1)
        ))  # fmt: skip
        if len(ids) <= COUNT_CAP:
            chosen, has_prev, has_next = _slice(ids, after, before, last, limit)
            shown = _base().where(Subscription.id.in_(chosen))
            rows = _rows(session, shown.order_by(Subscription.id.desc()))
            return Page(rows, len(ids), per_status, has_next, has_prev)
    rows, has_prev, has_next = _page(session, city_id, filters, dialect, (after, before, last),
                                     limit)  # fmt: skip
    if not narrowed:  # the whole city or one status: the counts per status say it exactly
        matched = per_status[filters.status] if filters.status else sum(per_status.values())
        return Page(rows, matched, per_status, has_next, has_prev)
    return Page(rows, COUNT_CAP, per_status, has_next, has_prev, matched_more=True)


def _base() -> Select[Any]:
    """The list's columns, a subscription and its subscriber a row."""
    return select(
        Subscription.subscriber_id, Subscription.id, Subscriber.email, Subscriber.company_name,
        Subscriber.business_id, Subscriber.contact_name, Subscription.status,
        Subscription.topics, Subscriber.language, Subscription.channel, Subscription.created_at,
    ).join(Subscriber, Subscriber.id == Subscription.subscriber_id)  # fmt: skip


def _rows(session: Session, stmt: Select[Any]) -> list[Row]:
    return [
        Row(r[0], r[1], r[2], r[3], r[4], r[5], r[6].value, list(r[7]), r[8], r[9], r[10])
        for r in session.execute(stmt)
    ]


def _match_ids(city_id: int, filters: Filters, dialect: str) -> Select[Any]:
    """The ids of the city's subscriptions that match ``filters``."""
    stmt = select(Subscription.id)
    if any(getattr(filters, name) for name in ("q", "language", "size_class", "industry", "visit")):
        stmt = stmt.join(Subscriber, Subscriber.id == Subscription.subscriber_id)
    return _where(stmt, city_id, filters, dialect)


def _slice(
    ids: list[int], after: int | None, before: int | None, last: bool, limit: int
) -> tuple[list[int], bool, bool]:
    """The page of ``ids`` (newest first) that ``after`` / ``before`` / ``last`` name:
    (its ids, a newer page exists, an older page exists)."""
    if last or before is not None:
        newer = ids if last else [i for i in ids if i > before]  # type: ignore[operator]
        return newer[-limit:], len(newer) > limit, not last
    older = ids if after is None else [i for i in ids if i < after]
    return older[:limit], after is not None, len(older) > limit


def _page(
    session: Session, city_id: int, filters: Filters, dialect: str,
    at: tuple[int | None, int | None, bool], limit: int,
) -> tuple[list[Row], bool, bool]:  # fmt: skip
    """One page by its own keyset query: (rows, a newer page exists, an older one).
    ``at``: (after, before, last) as :func:`search` takes them."""
    after, before, last = at
    stmt = _where(_base(), city_id, filters, dialect)
    backwards = last or before is not None
    if after is not None:
        stmt = stmt.where(Subscription.id < after)
    if before is not None:
        stmt = stmt.where(Subscription.id > before)
    order = Subscription.id.asc() if backwards else Subscription.id.desc()
    rows = _rows(session, stmt.order_by(order).limit(limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    if backwards:  # an older page exists when more were found; a newer one unless last
        rows.reverse()
        return rows, more, not last
    return rows, after is not None, more


def count(session: Session, city_id: int, filters: Filters, cap: int) -> int:
    """How many of the city's subscriptions match ``filters``, counted up to ``cap`` + 1."""
    found = _match_ids(city_id, filters, _dialect(session)).limit(cap + 1).subquery()
    return int(session.scalar(select(func.count()).select_from(found)) or 0)


def counts(session: Session, city_id: int) -> dict[str, int]:
    """The city's subscriptions per status."""
    stmt = (
        select(Subscription.status, func.count())
        .where(Subscription.city_id == city_id)
        .group_by(Subscription.status)
    )
    found = {status.value: int(n) for status, n in session.execute(stmt)}
    return {s.value: found.get(s.value, 0) for s in SubscriptionStatus}


def rows_of(session: Session, city: str, filters: Filters) -> Iterator[dict[str, Any]]:
    """Every matching subscription as export columns (streamed), newest first."""
    city_id = city_id_of(session, city)
    if city_id is None:
        return
    joined: Select[Any] = select(Subscription, Subscriber).join(  # type: ignore[assignment]
        Subscriber, Subscriber.id == Subscription.subscriber_id
    )
    stmt = _where(joined, city_id, filters, _dialect(session)).order_by(Subscription.id.desc())
    sub: Subscription
    person: Subscriber
    for sub, person in session.execute(stmt.execution_options(yield_per=1000)):
        data: dict[str, Any] = {name: getattr(person, name) for name in SUBSCRIBER_FIELDS}
        data.update(
            email=person.email, topics=" ".join(sub.topics), status=sub.status.value,
            channel=sub.channel, created_at=sub.created_at.isoformat(),
            confirmed_at=sub.confirmed_at.isoformat() if sub.confirmed_at else None,
        )  # fmt: skip
        yield {name: data[name] for name in EXPORT_FIELDS}


@dataclass(frozen=True)
class DeliveryLine:
    issue_id: int
    campaign: str
    period: str
    status: str
    sent_at: datetime | None
    error: str | None


@dataclass
class Person:
    """What the subscriber page shows: the person, as far as the city is concerned."""

    subscriber: Subscriber
    subscription: Subscription
    consent: list[ConsentRecord] = field(default_factory=list)
    deliveries: list[DeliveryLine] = field(default_factory=list)
    suppression: Suppression | None = None
    #: The other cities the person subscribes to (their slugs only).
    other_cities: list[str] = field(default_factory=list)


def city_subscription(
    session: Session, city: str, subscriber_id: int
) -> tuple[Subscriber, Subscription] | None:
    """The subscriber and their subscription in ``city``; None when they have none there."""
    found = session.execute(
        select(Subscriber, Subscription)
        .join(Subscription, Subscription.subscriber_id == Subscriber.id)
        .join(City, City.id == Subscription.city_id)
        .where(Subscriber.id == subscriber_id, City.slug == city)
    ).first()
    return (found[0], found[1]) if found is not None else None


def person(session: Session, settings: Settings, city: str, subscriber_id: int) -> Person | None:
    """Everything the city's subscriber page shows; None when not the city's subscriber."""
    found = city_subscription(session, city, subscriber_id)
    if found is None:
        return None
    subscriber, sub = found
    consent = list(
        session.scalars(
            select(ConsentRecord)
            .where(ConsentRecord.subscription_id == sub.id)
            .order_by(ConsentRecord.created_at, ConsentRecord.id)
        )
    )
    deliveries = [
        DeliveryLine(d.issue_id, slug, period, d.status.value, d.sent_at, d.last_error)
        for d, period, slug in session.execute(
            select(Delivery, Issue.period, Campaign.slug)
            .join(Issue, Issue.id == Delivery.issue_id)
            .join(Campaign, Campaign.id == Issue.campaign_id)
            .where(Delivery.subscription_id == sub.id)
            .order_by(Delivery.id.desc())
            .limit(200)
        )
    ]
    others = sorted(s.city.slug for s in subscriber.subscriptions if s.id != sub.id)
    return Person(subscriber, sub, consent, deliveries, entry(session, settings, subscriber.email),
                  others)  # fmt: skip
