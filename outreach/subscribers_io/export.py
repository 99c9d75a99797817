"""CSV and JSON export of a city's subscribers; CSV cells cannot run as formulas."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import IO, Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from outreach.db import session_scope
from outreach.errors import SubscriptionError
from outreach.models import City, Subscriber, Subscription, SubscriptionStatus

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> str:
    """A CSV cell a spreadsheet shows as text, never runs as a formula."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_START):
        return "'" + text
    return text


EXPORT_FIELDS = (
    "email", "company_name", "business_id", "contact_name", "language", "topics",
    "size_class", "industry_code", "interested_in_visit", "status", "channel",
    "created_at", "confirmed_at",
)  # fmt: skip


def export_rows(
    session: Session, city_slug: str, *, interested: bool = False, status: str | None = None
) -> Iterator[dict[str, Any]]:
    """One dict per subscription of the city (streamed from the database)."""
    stmt = (
        select(Subscription, Subscriber)
        .join(Subscriber, Subscription.subscriber_id == Subscriber.id)
        .join(City, Subscription.city_id == City.id)
        .where(City.slug == city_slug)
        .order_by(Subscriber.email)
    )
    if interested:
        stmt = stmt.where(Subscriber.interested_in_visit.is_(True))
        stmt = stmt.where(Subscription.status == SubscriptionStatus.CONFIRMED)
    if status is not None:
        stmt = stmt.where(Subscription.status == SubscriptionStatus(status))
    for sub, person in session.execute(stmt.execution_options(yield_per=1000)):
        yield {
            "email": person.email,
            "company_name": person.company_name,
            "business_id": person.business_id,
            "contact_name": person.contact_name,
            "language": person.language,
            "topics": " ".join(sub.topics),
            "size_class": person.size_class,
            "industry_code": person.industry_code,
            "interested_in_visit": person.interested_in_visit,
            "status": sub.status.value,
            "channel": sub.channel,
            "created_at": sub.created_at.isoformat(),
            "confirmed_at": sub.confirmed_at.isoformat() if sub.confirmed_at else None,
        }


def export(
    engine: Engine,
    city_slug: str,
    out: IO[str],
    *,
    fmt: str = "csv",
    interested: bool = False,
    status: str | None = None,
) -> int:
    """Write the city's subscribers as CSV (formula-safe) or JSON; the row count."""
    if fmt not in ("csv", "json"):
        raise SubscriptionError(f"unknown export format {fmt!r} (expected csv or json)")
    count = 0
    with session_scope(engine) as session:
        rows = export_rows(session, city_slug, interested=interested, status=status)
        if fmt == "csv":
            writer = csv.writer(out)
            writer.writerow(EXPORT_FIELDS)
            for data in rows:
                writer.writerow([safe_cell(data[name]) for name in EXPORT_FIELDS])
                count += 1
        else:
            out.write("[")
            for data in rows:
                out.write(("," if count else "") + "\n  " + json.dumps(data, ensure_ascii=False))
                count += 1
            out.write("\n]\n")
    return count
