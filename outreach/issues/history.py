"""An issue's history: an append-only list of what happened to it and who did it.

Events are written by the stage that does the thing (building, approving,
discarding) and by whoever starts a send: ``outreach issue send`` records a
``manual`` send, the scheduler a ``scheduled`` one, so ``outreach status`` can
tell the two apart. Rows are only ever added; nothing updates or deletes them
(they go with their issue).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.models import Issue, IssueEvent

#: ``IssueEvent.detail`` of a ``send`` event.
MANUAL = "manual"
SCHEDULED = "scheduled"


def record_event(
    session: Session,
    issue: Issue,
    action: str,
    *,
    by: str,
    detail: str | None = None,
    now: datetime | None = None,
) -> IssueEvent:
    """Append one event to ``issue``'s history."""
    event = IssueEvent(
        issue_id=issue.id,
        action=action[:20],
        actor=(by.strip() or "?")[:100],
        detail=detail,
        created_at=now or datetime.now(UTC),
    )
    session.add(event)
    session.flush()
    return event


def record_send_start(session: Session, issue: Issue, *, by: str, manual: bool) -> IssueEvent:
    """Note who started an issue's send: by hand (``issue send``) or the scheduler."""
    return record_event(session, issue, "send", by=by, detail=MANUAL if manual else SCHEDULED)


def history(session: Session, issue_id: int) -> list[IssueEvent]:
    """The issue's events, oldest first."""
    return list(
        session.scalars(
            select(IssueEvent).where(IssueEvent.issue_id == issue_id).order_by(IssueEvent.id)
        )
    )


def send_origins(session: Session, issue_ids: list[int]) -> dict[int, str]:
    """``manual`` or ``scheduled`` per issue whose send start was recorded."""
    if not issue_ids:
        return {}
    rows = session.execute(
        select(IssueEvent.issue_id, IssueEvent.detail)
        .where(IssueEvent.issue_id.in_(issue_ids), IssueEvent.action == "send")
        .order_by(IssueEvent.id)
    )
    origins: dict[int, str] = {}
    for issue_id, detail in rows:
        origins.setdefault(issue_id, str(detail or ""))  # the first start counts
    return origins
