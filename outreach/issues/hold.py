"""Approved issues whose items were cancelled at the source before the send.

After every fetch, and again just before an approved issue is enqueued,
:func:`check_cancelled` looks at the items approved, not yet sent issues hold.
An item cancelled at its source (``event_status`` ``cancelled``: STATUS:CANCELLED,
an EXDATE, an event gone from Linked Events) is handled by the campaign's
``on_cancelled``:

* ``hold`` (the default): the issue becomes ``held`` and is not sent; the
  approvers decide: ``outreach issue build`` makes it a draft from current
  content, ``outreach issue approve`` sends it with the item marked cancelled;
* ``mark``: the item is marked cancelled in the message (an "also on" date is
  taken off the list) and the send goes ahead.

Either way a :class:`HoldNotice` is returned for the caller to log and to mail
to the city's ``approvers``. Each cancellation is reported once.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.campaigns import Config, NewsletterCampaign
from outreach.models import Campaign, ContentItem, Issue, IssueItem, IssueStatus

log = logging.getLogger(__name__)

__all__ = ["HoldNotice", "cancelled_items", "check_cancelled", "mark_cancelled"]


@dataclass
class HoldNotice:
    """One issue held (or changed) because items were cancelled at the source."""

    issue_id: int
    campaign: str
    city: str
    period: str
    action: str  # "held" | "marked" | "refused" (approval: auto refused by the pre-flight check)
    titles: list[str] = field(default_factory=list)

    def line(self) -> str:
        """One line in English for the log."""
        if self.action == "refused":
            what = "not approved automatically: errors in its pre-flight check"
        else:
            what = "held; not sent" if self.action == "held" else "cancelled items marked"
            what += ": cancelled at the source"
        titles = "; ".join(self.titles)
        return f"issue {self.issue_id} ({self.campaign}/{self.period}): {what}: {titles}"


def cancelled_items(session: Session, issue_id: int) -> list[tuple[IssueItem, ContentItem]]:
    """The items ``issue_id`` holds that are cancelled at their source now."""
    query = (
        select(IssueItem, ContentItem)
        .join(ContentItem, ContentItem.id == IssueItem.item_id)
        .where(IssueItem.issue_id == issue_id, ContentItem.event_status == "cancelled")
        .order_by(IssueItem.id)
    )
    return [(link, item) for link, item in session.execute(query).all()]


def _iso(item: ContentItem) -> str | None:
    return item.starts_at.isoformat() if item.starts_at is not None else None


def _unmarked(issue: Issue, found: list[tuple[IssueItem, ContentItem]]) -> list[ContentItem]:
    """Of ``found``, the items the snapshot still shows as going ahead."""
    left: list[ContentItem] = []
    for link, item in found:
        for entry in _entries(issue.snapshot):
            if link.lead and entry.get("id") == item.id:
                if entry.get("event_status") != "cancelled":
                    left.append(item)
                    break
            elif not link.lead and _iso(item) in (entry.get("also_starts") or []):
                left.append(item)
                break
    return left


def _entries(snapshot: dict[str, Any]) -> Iterable[dict[str, Any]]:
    for data in (snapshot.get("languages") or {}).values():
        for section in data.get("sections") or []:
            yield from section.get("entries") or []


def mark_cancelled(session: Session, issue: Issue) -> list[str]:
    """Show the issue's cancelled items as cancelled; returns the titles newly marked."""
    found = cancelled_items(session, issue.id)
    todo = _unmarked(issue, found)
    if not todo:
        return []
    leads = {item.id for link, item in found if link.lead}
    dates = {_iso(item) for link, item in found if not link.lead}
    snapshot = copy.deepcopy(issue.snapshot)
    for entry in _entries(snapshot):
        if entry.get("id") in leads:
            entry["event_status"] = "cancelled"
        if entry.get("also_starts"):
            entry["also_starts"] = [d for d in entry["also_starts"] if d not in dates]
    issue.snapshot = snapshot  # a new dict: JSON columns do not track mutation
    session.flush()
    return list(dict.fromkeys(item.title for item in todo))


def check_cancelled(
    session: Session, config: Config, issue_ids: Iterable[int] | None = None
) -> list[HoldNotice]:
    """Hold (or mark) approved issues with items cancelled since; flushed, not committed."""
    query = select(Issue).where(Issue.status == IssueStatus.APPROVED).order_by(Issue.id)
    if issue_ids is not None:
        query = query.where(Issue.id.in_(list(issue_ids)))
    notices: list[HoldNotice] = []
    for issue in session.scalars(query):
        todo = _unmarked(issue, cancelled_items(session, issue.id))
        if not todo:
            continue
        campaign_row = session.get(Campaign, issue.campaign_id)
        assert campaign_row is not None
        campaign = config.campaigns.get(campaign_row.slug)
        mode = campaign.on_cancelled if isinstance(campaign, NewsletterCampaign) else "hold"
        titles = list(dict.fromkeys(item.title for item in todo))
        if mode == "mark":
            mark_cancelled(session, issue)
            action = "marked"
        else:
            issue.status = IssueStatus.HELD  # APPROVED → HELD is in TRANSITIONS
            issue.status_message = "cancelled at the source: " + "; ".join(titles)
            action = "held"
        notice = HoldNotice(
            issue.id,
            campaign_row.slug,
            str(issue.snapshot.get("city") or ""),
            issue.period,
            action,
            titles,
        )
        log.warning("%s", notice.line())
        notices.append(notice)
    session.flush()
    return notices
