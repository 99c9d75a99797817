"""Filling the outbox (one Delivery row per recipient of an issue) and its controls.

:func:`enqueue_issue` fixes the audience with one ``INSERT … SELECT … ON
CONFLICT DO NOTHING`` (unique per issue and subscriber), so running it again
adds only subscribers that were not there yet and never duplicates a row.
Pausing stops a send's workers before their next hand-over once the send
has seen it (only the messages in flight finish; the rows not handed over go
back to ``pending``), resuming lets them claim again, cancelling also marks
every row not yet handed over as cancelled.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Table, func, insert, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from outreach.campaigns import Config
from outreach.delivery.audience import audience_query
from outreach.errors import IssueError, msg
from outreach.issues import fixed_audience, send_as
from outreach.models import (
    Campaign,
    Delivery,
    DeliveryStatus,
    Issue,
    IssueStatus,
    Subscription,
    UTCDateTime,
    utcnow,
)
from outreach.settings import Settings
from outreach.suppression import prepare_connection, suppression_key

log = logging.getLogger(__name__)

DELIVERIES = cast(Table, Delivery.__table__)


def _dialect_insert(session: Session, table: Table) -> Any:
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    return insert(table)  # pragma: no cover - other engines are refused by outreach.db


def enqueue_issue(
    session: Session,
    settings: Settings,
    config: Config,
    issue: Issue,
    *,
    upto: int | None = None,
) -> int:
    """Write one pending Delivery per recipient; returns how many rows were added.

    The issue must be approved (or already sending); it becomes ``sending``.
    Idempotent: a second call adds nothing unless new subscribers joined and
    the issue is still sending. The caller commits.

    ``upto`` (a subscription id, from :func:`slice_end`): only the recipients
    whose subscription id is at most ``upto``, the first slice of the outbox;
    the issue's ``outbox_complete`` is then False until :func:`fill_slice` has
    added the rest.
    """
    if issue.status not in (IssueStatus.APPROVED, IssueStatus.SENDING):
        raise IssueError(
            msg("issue {id} is {status}; only an approved issue can be sent"),
            id=issue.id,
            status=issue.status.value,
        )
    now = utcnow()
    added = _insert(session, settings, config, issue, after=0, upto=upto)
    session.execute(
        update(Issue)
        .where(Issue.id == issue.id)
        .values(
            status=IssueStatus.SENDING,
            send_started_at=func.coalesce(Issue.send_started_at, now),
            outbox_complete=upto is None,
        )
    )
    session.refresh(issue)
    return added


#: The first slice of an outbox on PostgreSQL: this many subscriptions a worker (two
#: chunks), written before the first message; the fill's slices start at twice the
#: first slice and double (delivery.fill), well ahead of what the workers send.
FIRST_SLICE_PER_WORKER = 20


def start_outbox(
    session: Session,
    settings: Settings,
    config: Config,
    issue: Issue,
    *,
    workers: int,
    count: bool = True,
) -> int:
    """Start an approved issue's send; returns how many recipients it has.

    On PostgreSQL only the first slice of the outbox is written here: the
    recipients among the city's first ``FIRST_SLICE_PER_WORKER × workers``
    subscriptions. ``send_issue`` writes the rest while that slice is sent
    (:mod:`outreach.delivery.fill`). On SQLite (one writer), and for an issue
    already sending, this is :func:`enqueue_issue`. The caller commits.

    Without ``count`` it returns the rows written, without counting the rest of
    the audience (a query of its own, on the way to the first message).
    """
    postgres = session.get_bind().dialect.name == "postgresql"
    if not postgres or issue.status != IssueStatus.APPROVED:
        return enqueue_issue(session, settings, config, issue)
    upto = slice_end(session, issue, 0, FIRST_SLICE_PER_WORKER * max(1, workers))
    added = enqueue_issue(session, settings, config, issue, upto=upto)
    if upto is None or not count:
        return added
    audience = _audience(session, settings, config, issue)
    rest = session.scalar(
        select(func.count()).select_from(audience).where(audience.c.subscription_id > upto)
    )
    return added + int(rest or 0)


def slice_end(session: Session, issue: Issue, after: int, size: int) -> int | None:
    """The id of the city's ``size``-th subscription after ``after`` (in id order), or
    None if fewer remain: the last subscription id of the next slice of the outbox.

    The slices split the city's subscriptions, not the audience: their ends
    come from an index, and each slice holds at most ``size`` recipients."""
    city_id = session.scalar(select(Campaign.city_id).where(Campaign.id == issue.campaign_id))
    return session.scalar(
        select(Subscription.id)
        .where(Subscription.city_id == city_id, Subscription.id > after)
        .order_by(Subscription.id)
        .offset(size - 1)
        .limit(1)
    )


def filled_through(session: Session, issue: Issue) -> int:
    """The subscription id up to which the outbox is written: slices commit whole and
    in id order, so every slice ends at or after its highest row (0: none yet)."""
    last = session.scalar(
        select(func.max(Delivery.subscription_id)).where(Delivery.issue_id == issue.id)
    )
    return int(last or 0)


def fill_slice(
    session: Session, settings: Settings, config: Config, issue: Issue, after: int, size: int
) -> tuple[int, int | None] | None:
    """Add the next slice of an outbox that is not complete: the recipients whose
    subscription id is after ``after``, up to :func:`slice_end`'s (the last slice:
    every one after ``after``, and the outbox is complete). Returns (rows added,
    the slice's end or None after the last slice), or None when there is nothing
    to fill: the issue was cancelled meanwhile, or its outbox is complete (another
    process filled it). The caller commits; each slice is its own transaction.

    The issue's row is written first, so a concurrent cancel waits for the slice
    (or the slice sees the cancel) and no row is added to a cancelled issue.
    """
    end = slice_end(session, issue, after, size)
    locked = cast(
        CursorResult[Any],
        session.execute(
            update(Issue)
            .where(
                Issue.id == issue.id,
                Issue.status.in_((IssueStatus.SENDING, IssueStatus.PAUSED)),
                Issue.outbox_complete.is_(False),
            )
            .values(outbox_complete=end is None)
            .execution_options(synchronize_session=False)
        ),
    )
    if not locked.rowcount:
        return None
    return _insert(session, settings, config, issue, after=after, upto=end), end


def _audience(session: Session, settings: Settings, config: Config, issue: Issue) -> Any:
    """The issue's audience as a subquery: the one it was built (and approved) for."""
    campaign_row = session.get(Campaign, issue.campaign_id)
    if campaign_row is None:
        raise IssueError(f"issue {issue.id} has no campaign")
    campaign = config.campaign(campaign_row.slug)
    prepare_connection(session)
    # the audience the issue was built (and approved) for, not the campaign's now
    chosen, languages = fixed_audience(issue.snapshot or {}, campaign)
    return audience_query(
        campaign_row.city_id,
        chosen,
        languages,
        key=suppression_key(settings),
        send_as=send_as(issue.snapshot or {}),  # a skipped language's readers are left out
    ).subquery()


def _insert(
    session: Session,
    settings: Settings,
    config: Config,
    issue: Issue,
    *,
    after: int,
    upto: int | None,
) -> int:
    """``INSERT … SELECT`` the issue's audience with subscription ids in (after, upto]."""
    audience = _audience(session, settings, config, issue)
    now = utcnow()
    window = [audience.c.subscription_id > after] if after else []
    if upto is not None:
        window.append(audience.c.subscription_id <= upto)
    rows = select(
        literal(issue.id),
        audience.c.subscriber_id,
        audience.c.subscription_id,
        audience.c.email,
        audience.c.language,
        literal(DeliveryStatus.PENDING.value),
        literal(0),
        literal(now, UTCDateTime()),
    ).where(literal(True), *window)
    columns = [
        "issue_id",
        "subscriber_id",
        "subscription_id",
        "email",
        "language",
        "status",
        "attempts",
        "created_at",
    ]
    stmt = (
        _dialect_insert(session, DELIVERIES)
        .from_select(columns, rows)
        .on_conflict_do_nothing(index_elements=["issue_id", "subscriber_id"])
    )
    if session.get_bind().dialect.name == "postgresql":
        # psycopg reports no rowcount for INSERT … SELECT … ON CONFLICT; count RETURNING.
        inserted = stmt.returning(DELIVERIES.c.id).cte("inserted")
        added = session.scalar(select(func.count()).select_from(inserted))
    else:
        added = cast(CursorResult[Any], session.execute(stmt)).rowcount
    return int(added or 0)


def issue_counts(session: Session, issue_id: int) -> dict[str, int]:
    """Deliveries per status (every status present, zero if none) and ``total``.

    Once retention has deleted an old issue's rows, the counts it kept in the
    issue's snapshot (``delivery_counts``) stand in for them.
    """
    return issues_counts(session, [issue_id])[issue_id]


def issues_counts(session: Session, issue_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """:func:`issue_counts` of each of ``issue_ids``, in two queries whatever their number."""
    found = {issue_id: {s.value: 0 for s in DeliveryStatus} for issue_id in issue_ids}
    if not found:
        return found
    for issue_id, status, n in session.execute(
        select(Delivery.issue_id, Delivery.status, func.count())
        .where(Delivery.issue_id.in_(list(found)))
        .group_by(Delivery.issue_id, Delivery.status)
    ):
        found[issue_id][DeliveryStatus(status).value] = int(n)
    for counts in found.values():
        counts["total"] = sum(counts.values())
    purged = [issue_id for issue_id, counts in found.items() if counts["total"] == 0]
    if purged:
        for issue_id, snapshot in session.execute(
            select(Issue.id, Issue.snapshot).where(Issue.id.in_(purged))
        ):
            kept = (snapshot or {}).get("delivery_counts")
            if isinstance(kept, dict):
                counts = found[issue_id]
                counts.update({k: int(v) for k, v in kept.items() if k in counts})
                counts["total"] = sum(v for k, v in counts.items() if k != "total")
    return found


def failures(session: Session, issue_id: int) -> list[tuple[str, str | None]]:
    """(email, last error) of every failed delivery of the issue, in outbox order."""
    rows = session.execute(
        select(Delivery.email, Delivery.last_error)
        .where(Delivery.issue_id == issue_id, Delivery.status == DeliveryStatus.FAILED)
        .order_by(Delivery.id)
    )
    return [(email, error) for email, error in rows]


def _issue(session: Session, issue_id: int) -> Issue:
    issue = session.get(Issue, issue_id)
    if issue is None:
        raise IssueError(msg("no issue {id}"), id=issue_id)
    return issue


def pause_issue(session: Session, issue_id: int) -> None:
    """Stop the send: its workers hand nothing more over once they have seen it
    (docs/delivery.md, Workers); the messages in flight finish."""
    issue = _issue(session, issue_id)
    if issue.status != IssueStatus.SENDING:
        raise IssueError(
            msg("issue {id} is {status}; only a sending issue pauses"),
            id=issue_id,
            status=issue.status.value,
        )
    issue.status = IssueStatus.PAUSED
    session.flush()


def resume_issue(session: Session, issue_id: int) -> None:
    """Let workers claim rows of a paused issue again (run ``issue send`` to continue)."""
    issue = _issue(session, issue_id)
    if issue.status != IssueStatus.PAUSED:
        raise IssueError(
            msg("issue {id} is {status}; only a paused issue resumes"),
            id=issue_id,
            status=issue.status.value,
        )
    issue.status = IssueStatus.SENDING
    session.flush()


def cancel_issue(session: Session, issue_id: int, *, lease_seconds: float = 600) -> int:
    """Cancel the send: every row not yet handed over becomes cancelled; returns how many."""
    issue = _issue(session, issue_id)
    if issue.status not in (IssueStatus.SENDING, IssueStatus.PAUSED, IssueStatus.APPROVED):
        raise IssueError(
            msg("issue {id} is {status}; it cannot be cancelled"),
            id=issue_id,
            status=issue.status.value,
        )
    issue.status = IssueStatus.CANCELLED
    issue.status_message = "send cancelled"
    # Rows a live worker holds end as it records them; rows whose claim outlived
    # the lease belong to a sender that died and that nothing will come back for.
    stale = utcnow() - timedelta(seconds=lease_seconds)
    result = cast(
        CursorResult[Any],
        session.execute(
            update(Delivery)
            .where(
                Delivery.issue_id == issue_id,
                (Delivery.status == DeliveryStatus.PENDING)
                | ((Delivery.status == DeliveryStatus.SENDING) & (Delivery.claimed_at < stale)),
            )
            .values(status=DeliveryStatus.CANCELLED, claimed_by=None)
            .execution_options(synchronize_session=False)
        ),
    )
    session.flush()
    return int(result.rowcount or 0)
