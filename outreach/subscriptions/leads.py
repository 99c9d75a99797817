"""Leads: companies of a city that welcome a visit or want climate cooperation.

A lead is a confirmed subscription of the city whose subscriber said yes to a
visit or to cooperation; the dates they said so are kept on the subscriber
(:func:`note_interest` sets them wherever the answer is given), and the city
marks a lead contacted on its own subscription (:func:`mark_contacted`).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime
from typing import IO

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from outreach.models import City, Subscriber, Subscription, SubscriptionStatus
from outreach.subscriptions.export import safe_cell

#: The columns of the leads CSV, for the people who make the visits.
LEAD_FIELDS = (
    "company_name", "business_id", "contact_name", "email", "language", "size_class",
    "industry_code", "visit", "cooperation", "since", "contacted_at", "contacted_by",
)  # fmt: skip


@dataclass(frozen=True)
class Lead:
    subscriber_id: int
    subscription_id: int
    email: str
    company_name: str | None
    business_id: str | None
    contact_name: str | None
    language: str
    size_class: str | None
    industry_code: str | None
    visit: bool
    cooperation: bool
    visit_since: datetime | None
    cooperation_since: datetime | None
    contacted_at: datetime | None
    contacted_by: str | None

    @property
    def since(self) -> datetime | None:
        """The earliest date the company said yes to either."""
        dates = [d for d in (self.visit_since, self.cooperation_since) if d is not None]
        return min(dates) if dates else None


def note_interest(
    subscriber: Subscriber, *, visit: bool | None = None, cooperation: bool | None = None,
    now: datetime,
) -> None:  # fmt: skip
    """Set the interest flags; a yes that is new gets today's date, a no clears it."""
    if visit is not None:
        if visit and not subscriber.interested_in_visit:
            subscriber.visit_interest_at = now
        elif not visit:
            subscriber.visit_interest_at = None
        subscriber.interested_in_visit = visit
    if cooperation is not None:
        if cooperation and not subscriber.wants_cooperation:
            subscriber.cooperation_interest_at = now
        elif not cooperation:
            subscriber.cooperation_interest_at = None
        subscriber.wants_cooperation = cooperation


def leads(session: Session, city: str, *, open_only: bool = False) -> list[Lead]:
    """The city's leads, newest interest first; ``open_only``: not contacted yet."""
    stmt = (
        select(Subscriber, Subscription)
        .join(Subscription, Subscription.subscriber_id == Subscriber.id)
        .join(City, City.id == Subscription.city_id)
        .where(
            City.slug == city,
            Subscription.status == SubscriptionStatus.CONFIRMED,
            or_(Subscriber.interested_in_visit.is_(True), Subscriber.wants_cooperation.is_(True)),
        )
        .order_by(Subscription.id.desc())
    )
    if open_only:
        stmt = stmt.where(Subscription.lead_contacted_at.is_(None))
    found = [
        Lead(
            p.id,
            s.id,
            p.email,
            p.company_name,
            p.business_id,
            p.contact_name,
            p.language,
            p.size_class,
            p.industry_code,
            p.interested_in_visit,
            p.wants_cooperation,
            p.visit_interest_at,
            p.cooperation_interest_at,
            s.lead_contacted_at,
            s.lead_contacted_by,
        )
        for p, s in session.execute(stmt)
    ]
    return sorted(found, key=lambda lead: lead.since is None)  # dated first, stable


def mark_contacted(
    session: Session, city: str, subscriber_id: int, by: str, now: datetime
) -> Subscription | None:
    """Mark the city's lead contacted by ``by``; None when it is not the city's lead."""
    sub = session.scalar(
        select(Subscription)
        .join(City, City.id == Subscription.city_id)
        .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
        .where(
            City.slug == city,
            Subscription.subscriber_id == subscriber_id,
            or_(Subscriber.interested_in_visit.is_(True), Subscriber.wants_cooperation.is_(True)),
        )
    )
    if sub is None:
        return None
    sub.lead_contacted_at = now
    sub.lead_contacted_by = " ".join(by.split())[:100]
    session.flush()
    return sub


def write_leads_csv(found: list[Lead], out: IO[str]) -> int:
    """The leads as CSV (formula-safe cells, ISO dates); the number of rows."""
    writer = csv.writer(out)
    writer.writerow(LEAD_FIELDS)
    for lead in found:
        since = lead.since
        writer.writerow([safe_cell(v) for v in (
            lead.company_name, lead.business_id, lead.contact_name, lead.email, lead.language,
            lead.size_class, lead.industry_code, "yes" if lead.visit else "no",
            "yes" if lead.cooperation else "no", since.date().isoformat() if since else "",
            lead.contacted_at.date().isoformat() if lead.contacted_at else "",
            lead.contacted_by or "",
        )])  # fmt: skip
    return len(found)
