"""Retention: delete old delivery rows and content items nobody will use again.

Run by the scheduler's periodic purge (next to the purge of unconfirmed
sign-ups), or by anyone holding a session. Rules, by setting:

* ``retention_days_deliveries``: the delivery rows of an issue that finished
  (sent, failed or cancelled) more than N days ago are deleted. First the
  issue's per-status counts are stored in ``Issue.snapshot["delivery_counts"]``
  (every status and ``total``, the shape of ``outreach.delivery.issue_counts``)
  and committed, so the numbers outlive the rows.
* ``retention_days_content``: content items first seen more than N days ago
  that never went into an issue, and are not an event still to come. Items
  that went out stay: they are what keeps a sent item from coming back.
* Story form images kept for a corrected form (``story_uploads``,
  ``outreach.publish.kept``) are deleted once expired, whatever the settings:
  they are kept an hour at most.
* Consent records are never purged here: they are the proof of consent and
  live as long as their subscription (forgetting a subscriber deletes them).

0 keeps the rows forever. Deletes go in batches of :data:`BATCH_SIZE` rows, each
committed on its own, so a large purge never holds a long lock.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import Delete, delete, exists, func, or_, select, update
from sqlalchemy.orm import Session

from outreach.delivery import issue_counts
from outreach.models import (
    ISSUE_FINISHED,
    ContentItem,
    Delivery,
    Issue,
    IssueItem,
    IssueReach,
    ReachMark,
    StoryUpload,
)
from outreach.settings import Settings

log = logging.getLogger(__name__)

#: Rows per DELETE statement (and per transaction).
BATCH_SIZE = 5_000

#: The snapshot keys the purge writes.
COUNTS_KEY = "delivery_counts"
PURGED_KEY = "deliveries_purged_at"


def purge_old_records(
    session: Session,
    settings: Settings,
    now: datetime | None = None,
    *,
    batch_size: int = BATCH_SIZE,
) -> dict[str, int]:
    """Delete what the retention settings say is old; returns rows deleted per kind.

    Keys: ``deliveries`` (delivery rows), ``issues`` (issues whose deliveries were
    summarised and deleted), ``content_items`` and ``story_uploads`` (expired kept
    images of the story form). Commits after every batch.
    """
    moment = now if now is not None else datetime.now(UTC)
    result = {"deliveries": 0, "issues": 0, "content_items": 0, "story_uploads": 0}
    if settings.retention_days_deliveries > 0:
        cutoff = moment - timedelta(days=settings.retention_days_deliveries)
        for issue_id in _old_issues(session, cutoff):
            result["deliveries"] += _purge_issue(session, issue_id, moment, batch_size)
            result["issues"] += 1
    if settings.retention_days_content > 0:
        cutoff = moment - timedelta(days=settings.retention_days_content)
        result["content_items"] = _purge_content(session, cutoff, moment, batch_size)
    result["story_uploads"] = _purge_story_uploads(session, moment, batch_size)
    if any(result.values()):
        log.info(
            "retention: deleted %(deliveries)d deliveries of %(issues)d issues, "
            "%(content_items)d unused content items and %(story_uploads)d expired "
            "story form images",
            result,
        )
    return result


def _old_issues(session: Session, cutoff: datetime) -> list[int]:
    finished_at = func.coalesce(Issue.sent_at, Issue.send_started_at)
    has_rows = exists(select(Delivery.id).where(Delivery.issue_id == Issue.id))
    return list(
        session.scalars(
            select(Issue.id)
            .where(Issue.status.in_(ISSUE_FINISHED), finished_at < cutoff, has_rows)
            .order_by(Issue.id)
        )
    )


def _purge_issue(session: Session, issue_id: int, now: datetime, batch_size: int) -> int:
    issue = session.get(Issue, issue_id)
    if issue is None:
        return 0
    snapshot = dict(issue.snapshot or {})
    # A purge interrupted after the summary was stored must not overwrite it with
    # the counts of the rows that are left.
    if COUNTS_KEY not in snapshot:
        snapshot[COUNTS_KEY] = issue_counts(session, issue_id)
        snapshot[PURGED_KEY] = now.astimezone(UTC).isoformat()
        issue.snapshot = snapshot  # a new dict: JSON columns do not track mutation
    _unfold(session, issue_id)
    session.commit()  # the summary is safe before the first row goes
    batch = select(Delivery.id).where(Delivery.issue_id == issue_id).limit(batch_size)
    deleted = _delete_batches(session, delete(Delivery).where(Delivery.id.in_(batch)), batch_size)
    _unfold(session, issue_id)  # again: a fold may have come between
    session.commit()
    return deleted


def _unfold(session: Session, issue_id: int) -> None:
    """Who the issue reached, as the statistics folded it (``outreach.stats.marks``),
    goes with its rows: its bit is cleared from the marks, and the figures read the
    rows again."""
    found = session.execute(
        select(IssueReach.grp, IssueReach.bit).where(IssueReach.issue_id == issue_id)
    ).first()
    if found is None:
        return
    bit, in_group = 1 << found.bit, ReachMark.grp == found.grp
    session.execute(
        update(ReachMark)
        .where(in_group, ReachMark.mask.op("&")(bit) != 0)
        .values(mask=ReachMark.mask - bit)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        delete(ReachMark)
        .where(in_group, ReachMark.mask == 0)
        .execution_options(synchronize_session=False)
    )
    session.execute(delete(IssueReach).where(IssueReach.issue_id == issue_id))


def _purge_content(session: Session, cutoff: datetime, now: datetime, batch_size: int) -> int:
    unused = (
        ~exists(select(IssueItem.id).where(IssueItem.item_id == ContentItem.id)),
        ContentItem.first_seen_at < cutoff,
        or_(ContentItem.starts_at.is_(None), ContentItem.starts_at < now),
    )
    batch = select(ContentItem.id).where(*unused).limit(batch_size)
    # The outer conditions are checked again on the row itself, so an item an issue
    # claims while the purge runs is kept (PostgreSQL re-evaluates them on a
    # concurrently updated row).
    stmt = delete(ContentItem).where(ContentItem.id.in_(batch), *unused)
    return _delete_batches(session, stmt, batch_size)


def _purge_story_uploads(session: Session, now: datetime, batch_size: int) -> int:
    batch = select(StoryUpload.id).where(StoryUpload.expires_at <= now).limit(batch_size)
    stmt = delete(StoryUpload).where(StoryUpload.id.in_(batch), StoryUpload.expires_at <= now)
    return _delete_batches(session, stmt, batch_size)


def _delete_batches(session: Session, statement: Delete, batch_size: int) -> int:
    """Run a DELETE of at most ``batch_size`` rows until it deletes fewer; commit each."""
    stmt = statement.execution_options(synchronize_session=False)
    total = 0
    while True:
        result = session.execute(stmt)
        deleted = int(getattr(result, "rowcount", 0))
        session.commit()
        total += deleted
        if deleted < batch_size:
            return total
