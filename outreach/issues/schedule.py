"""When an approved issue goes out: at once, at a scheduled moment, or not until asked.

The periodic send (the daemon's send job, ``outreach run-due``) sends every
approved issue it finds; :func:`send_due_filter` makes it pass over an issue
scheduled for later, and one whose schedule was cancelled (``kept_back``),
until it is scheduled again or sent with ``outreach issue send`` / the console.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_
from sqlalchemy.orm import Session

from outreach.errors import msg
from outreach.issues.editing import EditError
from outreach.issues.history import record_event
from outreach.models import Issue, IssueStatus

#: How far ahead a send may be scheduled.
MAX_AHEAD = timedelta(days=366)

__all__ = ["cancel_schedule", "schedule_send", "send_due_filter", "waits_to_send"]


def schedule_send(
    session: Session, issue: Issue, when: datetime, *, by: str, now: datetime
) -> None:
    """Send the approved issue at ``when`` (timezone-aware, in the future)."""
    if issue.status != IssueStatus.APPROVED:
        raise EditError(
            "not_approved",
            msg("issue {id} is {status}; only an approved issue can be scheduled"),
            id=issue.id,
            status=issue.status.value,
        )
    if when.tzinfo is None:
        raise ValueError("when must be timezone-aware")
    if when <= now:
        raise EditError("past", msg("the time to send is in the past; give a later one"))
    if when > now + MAX_AHEAD:
        raise EditError("too_far", msg("schedule the send at most a year ahead"))
    issue.scheduled_at = when
    issue.scheduled_by = by[:100]
    issue.kept_back = False
    session.flush()
    record_event(session, issue, "scheduled", by=by, detail=when.isoformat(), now=now)


def cancel_schedule(session: Session, issue: Issue, *, by: str, now: datetime) -> None:
    """Cancel the scheduled send: the issue stays approved and waits to be sent or scheduled."""
    if issue.status != IssueStatus.APPROVED or issue.scheduled_at is None:
        raise EditError("not_scheduled", msg("issue {id} has no scheduled send"), id=issue.id)
    issue.scheduled_at = None
    issue.scheduled_by = None
    issue.kept_back = True
    session.flush()
    record_event(session, issue, "unscheduled", by=by, now=now)


def waits_to_send(issue: Issue, now: datetime) -> bool:
    """Whether an approved issue must not be sent by the scheduler at ``now``: its
    schedule was cancelled (it waits for a person), or it is scheduled for later.

    The campaign's own run obeys this as the periodic send does (:func:`send_due_filter`):
    a fire time of the campaign's schedule never sends such an issue.
    """
    if issue.status != IssueStatus.APPROVED:
        return False
    return issue.kept_back or (issue.scheduled_at is not None and issue.scheduled_at > now)


def send_due_filter(now: datetime) -> ColumnElement[bool]:
    """Issues the periodic send may work on at ``now`` (see :func:`waits_to_send`)."""
    approved = and_(
        Issue.status == IssueStatus.APPROVED,
        Issue.kept_back.is_(False),
        or_(Issue.scheduled_at.is_(None), Issue.scheduled_at <= now),
    )
    return or_(approved, Issue.status == IssueStatus.SENDING)
