"""The audit log: who did what, when, from where, to which issue or subscriber.

One table, ``audit_events``, shared with ``subscribers export``. Rows are only
ever added: the database refuses UPDATE and DELETE (a trigger on PostgreSQL and
SQLite) and so does the ORM (:mod:`outreach.models`). Console actions carry the
client address; command-line ones the operating-system user as the actor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from outreach.models import AuditEvent

#: The most events one query returns (the console pages, ``outreach audit``).
MAX_ROWS = 500


def record(
    session: Session,
    action: str,
    actor: str,
    *,
    city: str | None = None,
    ip: str | None = None,
    issue_id: int | None = None,
    subscriber_id: int | None = None,
    detail: Mapping[str, Any] | None = None,
    purpose: str | None = None,
    now: datetime | None = None,
) -> AuditEvent:
    """Add one event to the log (flushed with the caller's transaction)."""
    event = AuditEvent(
        action=action[:40],
        actor=(" ".join(actor.split()) or "unknown")[:100],
        city=city,
        purpose=purpose,
        ip=(ip or None) and ip[:45],
        issue_id=issue_id,
        subscriber_id=subscriber_id,
        detail=dict(detail or {}),
        created_at=now or datetime.now(UTC),
    )
    session.add(event)
    session.flush()
    return event


@dataclass(frozen=True)
class Query:
    """Which events to list: ``cities`` None means every city (and events of none)."""

    cities: tuple[str, ...] | None = None
    since: datetime | None = None
    actor: str | None = None
    limit: int = MAX_ROWS


def events(session: Session, query: Query) -> list[AuditEvent]:
    """The newest events first, at most ``query.limit``."""
    stmt = select(AuditEvent)
    if query.cities is not None:
        stmt = stmt.where(AuditEvent.city.in_(query.cities))
    if query.since is not None:
        stmt = stmt.where(AuditEvent.created_at >= query.since)
    if query.actor:
        stmt = stmt.where(
            or_(
                AuditEvent.actor == query.actor.strip().lower()[:100],
                AuditEvent.actor == query.actor.strip()[:100],
            )
        )
    stmt = stmt.order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
    return list(session.scalars(stmt.limit(min(query.limit, MAX_ROWS))))


def describe(event: AuditEvent) -> str:
    """The event's subject and details on one line (``issue 4``, ``rows=12``)."""
    parts = []
    if event.issue_id is not None:
        parts.append(f"issue {event.issue_id}")
    if event.subscriber_id is not None:
        parts.append(f"subscriber {event.subscriber_id}")
    if event.purpose:
        parts.append(f"purpose={event.purpose}")
    if event.detail:
        parts.append(details(event))
    return ", ".join(parts)


def details(event: AuditEvent) -> str:
    """The event's details alone (``format=csv, rows=12``): what the console shows
    after the subject it words itself."""
    return ", ".join(f"{k}={v}" for k, v in sorted(event.detail.items()) if v not in (None, ""))
