"""CSV and JSON export of a city's subscribers, for a stated purpose, on the record.

Every export names its purpose (:data:`PURPOSES`) and who made it; an
:class:`~outreach.models.AuditEvent` (action ``subscribers.export``) keeps the
purpose, the person, the time, the filters and the number of rows (counted
before the first row is written: audit events are append-only). Only a
purpose that needs them (a GDPR request) gets people who left or whose address
is suppressed. CSV cells cannot run as formulas.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO, Any

from sqlalchemy import Engine, Select, func, select
from sqlalchemy.orm import Session

from outreach.db import session_scope
from outreach.errors import SubscriptionError, msg
from outreach.models import (
    AuditEvent,
    City,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from outreach.settings import Settings
from outreach.subscriptions.signup import SUBSCRIBER_FIELDS
from outreach.suppression import not_suppressed, suppression_key

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> str:
    """A CSV cell a spreadsheet shows as text, never runs as a formula."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_START):
        return "'" + text
    return text


#: The columns of an export: the address, :data:`SUBSCRIBER_FIELDS` (with the
#: topics among them), then the subscription's own.
EXPORT_FIELDS = (
    "email", "company_name", "business_id", "contact_name", "language", "topics",
    "size_class", "industry_code", "interested_in_visit", "status", "channel",
    "created_at", "confirmed_at",
)  # fmt: skip
assert set(SUBSCRIBER_FIELDS) <= set(EXPORT_FIELDS)


#: Why staff may export, and whether the purpose needs people who left or are suppressed.
PURPOSES: dict[str, bool] = {
    "crm": False,  # keep the city's own CRM up to date
    "visits": False,  # companies that welcome a visit (implies --interested)
    "mailing": False,  # a mailing made outside this service
    "gdpr-request": True,  # a data subject's or the authority's request: everything held
}
ACTIVE = (SubscriptionStatus.PENDING, SubscriptionStatus.CONFIRMED)


def check_purpose(purpose: str, status: str | None) -> None:
    """Raise SubscriptionError unless ``purpose`` is known and allows ``status``."""
    if purpose not in PURPOSES:
        known = ", ".join(PURPOSES)
        raise SubscriptionError(
            msg("unknown export purpose {purpose} (known: {known})"),
            purpose=repr(purpose[:40]),
            known=known,
        )
    if status is not None and not PURPOSES[purpose] and SubscriptionStatus(status) not in ACTIVE:
        raise SubscriptionError(
            msg(
                "the purpose {purpose} leaves out {status} subscriptions; "
                "only gdpr-request exports them"
            ),
            purpose=purpose,
            status=status,
        )


def _export_query(
    city_slug: str,
    *,
    interested: bool = False,
    status: str | None = None,
    everyone: bool = True,
    key: bytes | None = None,
) -> Select[Subscription, Subscriber]:
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
    if not everyone:
        stmt = stmt.where(Subscription.status.in_(ACTIVE))
        if key is not None:
            stmt = stmt.where(not_suppressed(Subscriber.email, key, Subscription.city_id))
    return stmt


def export_count(session: Session, city_slug: str, **filters: Any) -> int:
    """How many rows :func:`export_rows` gives for the same filters."""
    query = _export_query(city_slug, **filters).subquery()
    return int(session.scalar(select(func.count()).select_from(query)) or 0)


def export_rows(
    session: Session,
    city_slug: str,
    *,
    interested: bool = False,
    status: str | None = None,
    everyone: bool = True,
    key: bytes | None = None,
) -> Iterator[dict[str, Any]]:
    """One dict per subscription of the city (streamed from the database).

    ``everyone=False`` leaves out subscriptions that ended or bounced and, with the
    suppression list's ``key``, addresses on the suppression list.
    """
    stmt = _export_query(
        city_slug, interested=interested, status=status, everyone=everyone, key=key
    )
    for sub, person in session.execute(stmt.execution_options(yield_per=1000)):
        data: dict[str, Any] = {name: getattr(person, name) for name in SUBSCRIBER_FIELDS}
        data.update(
            email=person.email,
            topics=" ".join(sub.topics),
            status=sub.status.value,
            channel=sub.channel,
            created_at=sub.created_at.isoformat(),
            confirmed_at=sub.confirmed_at.isoformat() if sub.confirmed_at else None,
        )
        yield {name: data[name] for name in EXPORT_FIELDS}


def export(
    engine: Engine,
    settings: Settings,
    city_slug: str,
    out: IO[str],
    *,
    purpose: str,
    by: str,
    fmt: str = "csv",
    interested: bool = False,
    status: str | None = None,
    now: datetime | None = None,
) -> int:
    """Write the city's subscribers as CSV (formula-safe) or JSON; the row count.

    The export is recorded (purpose, ``by``, time, filters and the number of rows
    it holds) before the first row is written.
    """
    if fmt not in ("csv", "json"):
        raise SubscriptionError(
            msg("unknown export format {format} (expected csv or json)"), format=repr(fmt)
        )
    check_purpose(purpose, status)
    by = " ".join(by.split())[:100]
    if not by:
        raise SubscriptionError(msg("an export needs the name of who makes it"))
    interested = interested or purpose == "visits"
    filters = {"format": fmt, "interested": interested, "status": status}
    query: dict[str, Any] = {
        "interested": interested, "status": status,
        "everyone": PURPOSES[purpose], "key": suppression_key(settings),
    }  # fmt: skip
    with session_scope(engine) as session:
        expected = export_count(session, city_slug, **query)
        session.add(AuditEvent(
            action="subscribers.export", actor=by, city=city_slug, purpose=purpose,
            detail={**filters, "rows": expected}, created_at=now or datetime.now(UTC),
        ))  # fmt: skip
    count = 0
    with session_scope(engine) as session:
        rows = export_rows(session, city_slug, **query)
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
