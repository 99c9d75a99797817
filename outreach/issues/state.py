"""The issue state machine: statuses and the moves between them, approval, discarding,
finding issues.

An issue moves ``draft → approved → sending → sent`` (or ``failed``); a send
can be ``paused`` and resumed, and an approved, sending or paused issue can be
``cancelled``. A draft can be ``discarded``: its items go back to the pool. An
approved issue becomes ``held`` when one of its items is cancelled at the
source before the send (:mod:`outreach.issues.hold`); staff then rebuild it
(back to a draft) or approve it again (the item marked cancelled).
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, contains_eager

from outreach.errors import IssueError, msg
from outreach.issues.claims import release_issue_items
from outreach.issues.history import record_event
from outreach.issues.hold import mark_cancelled
from outreach.models import Campaign, Issue, IssueStatus

log = logging.getLogger(__name__)

__all__ = [
    "TRANSITIONS",
    "approve_issue",
    "aware_now",
    "discard_issue",
    "get_issue",
    "list_issues",
    "set_status",
]

S = IssueStatus
TRANSITIONS: dict[IssueStatus, frozenset[IssueStatus]] = {
    S.DRAFT: frozenset({S.APPROVED, S.DISCARDED}),
    S.APPROVED: frozenset({S.SENDING, S.HELD, S.CANCELLED}),
    S.HELD: frozenset({S.APPROVED, S.DRAFT, S.CANCELLED}),
    S.SENDING: frozenset({S.SENT, S.FAILED, S.PAUSED, S.CANCELLED}),
    S.PAUSED: frozenset({S.SENDING, S.CANCELLED}),
    S.SENT: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
    S.DISCARDED: frozenset(),  # building its period again makes a fresh draft
}


def aware_now(now: datetime | None) -> datetime:
    """``now``, or the current time; a naive ``now`` is a ValueError."""
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now


NO_ISSUE = msg("no issue {id}; run `outreach issue list` to see the ids")


def set_status(
    session: Session, issue: Issue, new_status: IssueStatus, message: str | None = None
) -> Issue:
    """Move ``issue`` to ``new_status`` if the state machine allows it."""
    new_status = IssueStatus(new_status)
    if new_status not in TRANSITIONS[issue.status]:
        allowed = ", ".join(sorted(TRANSITIONS[issue.status])) or "none (it is final)"
        raise IssueError(
            msg("issue {id} is {status}; it cannot become {new} (allowed next: {allowed})"),
            id=issue.id,
            status=issue.status,
            new=new_status,
            allowed=allowed,
        )
    now = datetime.now(UTC)
    issue.status = new_status
    if new_status == S.SENDING and issue.send_started_at is None:
        issue.send_started_at = now
    if new_status == S.SENT:
        issue.sent_at = now
    if message is not None:
        issue.status_message = message
    session.flush()
    return issue


def approve_issue(
    session: Session, issue_id: int, *, by: str, now: datetime | None = None
) -> Issue:
    """Approve a draft; records who and when. An approved issue is immutable.

    Approving a held issue again sends it as it is, its cancelled items marked
    cancelled in the message.
    """
    issue = session.get(Issue, issue_id)
    if issue is None:
        raise IssueError(NO_ISSUE, id=issue_id)
    if not by.strip():
        raise IssueError(msg("approving needs the approver's name"))
    held = issue.status == S.HELD
    set_status(session, issue, S.APPROVED)
    if held:
        mark_cancelled(session, issue)
        issue.status_message = None
    issue.approved_by = by.strip()[:100]
    issue.approved_at = aware_now(now)
    session.flush()
    record_event(session, issue, "approved", by=by, now=issue.approved_at)
    return issue


def discard_issue(
    session: Session, issue_id: int, *, by: str, now: datetime | None = None
) -> tuple[Issue, int]:
    """Throw a draft away: its items go back to the pool; returns it and how many."""
    issue = session.get(Issue, issue_id)
    if issue is None:
        raise IssueError(NO_ISSUE, id=issue_id)
    if issue.status != S.DRAFT:
        hint = (
            " (`outreach issue cancel` stops a send)"
            if issue.status in (S.APPROVED, S.SENDING, S.PAUSED)
            else ""
        )
        raise IssueError(
            f"issue {issue.id} is {issue.status.value}; only a draft can be discarded{hint}"
        )
    released = release_issue_items(session, issue.id)
    set_status(session, issue, S.DISCARDED)
    record_event(
        session,
        issue,
        "discarded",
        by=by,
        detail=f"{released} item released" if released == 1 else f"{released} items released",
        now=now,
    )
    log.info("issue %s discarded by %s; %d items released", issue.id, by, released)
    return issue, released


def get_issue(session: Session, ref: str) -> Issue:
    """An issue by numeric id or by ``<campaign-slug>/<period>``."""
    ref = ref.strip()
    issue: Issue | None = None
    if ref.isdigit():
        issue = session.get(Issue, int(ref))
    elif "/" in ref:
        slug, _, period = ref.partition("/")
        issue = session.scalar(
            select(Issue).join(Campaign).where(Campaign.slug == slug, Issue.period == period)
        )
    if issue is None:
        raise IssueError(
            msg(
                "no issue {ref}: give its id or <campaign>/<period> "
                "(e.g. vantaa-monthly/2026-12); `outreach issue list` shows them"
            ),
            ref=repr(ref),
        )
    return issue


def list_issues(
    session: Session,
    campaign: str | None = None,
    *,
    campaigns: Collection[str] | None = None,
    limit: int | None = None,
) -> list[Issue]:
    """Issues, newest first, each with its campaign; optionally of one campaign or of
    ``campaigns`` (slugs), and only the ``limit`` newest."""
    query = (
        select(Issue).join(Campaign).options(contains_eager(Issue.campaign))
        .order_by(Issue.id.desc())
    )  # fmt: skip
    if campaign is not None:
        query = query.where(Campaign.slug == campaign)
    if campaigns is not None:
        query = query.where(Campaign.slug.in_(sorted(campaigns)))
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))
