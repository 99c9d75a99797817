"""Which items an issue holds, and what a campaign has used already.

"Already sent" is per campaign (and so per city): the same item may go out in
Vantaa's and in Kerava's issues, but within one campaign an item that an
earlier issue listed does not come back, nor does a copy of it (the same URL,
or the same normalised title and date, from another source). An event may be
listed again while it is still upcoming when its section allows it
(``relist_upcoming``); an event cancelled after an issue listed it is listed
once more, marked cancelled, so its readers know. The later dates of a
recurring event shown beside its first one ("also on") do not use those
occurrences up.

A cancelled issue that never started sending gives its items back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from outreach.models import ContentItem, Issue, IssueItem, IssueStatus

__all__ = ["Used", "claim_items", "issue_item_rows", "release_issue_items", "used_in_campaign"]


@dataclass
class Used:
    """What other issues of a campaign listed: item ids and their dedupe keys."""

    ids: set[int] = field(default_factory=set)
    keys: set[tuple[str, str]] = field(default_factory=set)
    #: When the latest issue listing each item was built.
    listed_at: dict[int, datetime] = field(default_factory=dict)

    def has(self, item: ContentItem) -> bool:
        return item.id in self.ids or bool(self.keys & dedupe_keys(item))

    def cancelled_since(self, item: ContentItem) -> bool:
        """Listed by an earlier issue and changed (cancelled) since: readers should know."""
        listed = self.listed_at.get(item.id)
        return listed is not None and item.updated_at > listed


def dedupe_keys(item: ContentItem) -> set[tuple[str, str]]:
    """An item's copies elsewhere share one of these: its fingerprint, or its URL.

    Events share a URL often (one registration page for a series), so only
    their fingerprint (title and day) counts.
    """
    keys = {("fp", item.fingerprint)}
    if item.url and item.kind != "event":
        keys.add(("url", item.url.rstrip("/")))
    return keys


def release_issue_items(session: Session, issue_id: int) -> int:
    """Give every item ``issue_id`` holds back to its campaign's pool; returns how many.

    For a draft being rebuilt or discarded. The issue's snapshot is not touched.
    """
    result = session.execute(delete(IssueItem).where(IssueItem.issue_id == issue_id))
    return int(getattr(result, "rowcount", 0) or 0)


def claim_items(session: Session, issue_id: int, chosen: dict[int, tuple[str, bool]]) -> None:
    """Record ``chosen`` (item id → (section id, lead)) as what ``issue_id`` holds."""
    session.add_all(
        IssueItem(issue_id=issue_id, item_id=item_id, section=section, lead=lead)
        for item_id, (section, lead) in chosen.items()
    )
    session.flush()


def used_in_campaign(session: Session, campaign_id: int, exclude: int | None) -> Used:
    """What the campaign's other issues listed (not a cancelled issue that never sent)."""
    query = (
        select(ContentItem, Issue.built_at)
        .join(IssueItem, IssueItem.item_id == ContentItem.id)
        .join(Issue, Issue.id == IssueItem.issue_id)
        .where(
            Issue.campaign_id == campaign_id,
            IssueItem.lead.is_(True),
            or_(Issue.status != IssueStatus.CANCELLED, Issue.send_started_at.is_not(None)),
        )
    )
    if exclude is not None:
        query = query.where(Issue.id != exclude)
    used = Used()
    for item, built_at in session.execute(query).all():
        used.ids.add(item.id)
        used.keys |= dedupe_keys(item)
        used.listed_at[item.id] = max(built_at, used.listed_at.get(item.id, built_at))
    return used


def issue_item_rows(
    session: Session, issue_ids: Iterable[int]
) -> list[tuple[IssueItem, ContentItem]]:
    """The items the issues hold, with their current rows."""
    ids = list(issue_ids)
    if not ids:
        return []
    query = (
        select(IssueItem, ContentItem)
        .join(ContentItem, ContentItem.id == IssueItem.item_id)
        .where(IssueItem.issue_id.in_(ids))
        .order_by(IssueItem.id)
    )
    return [(link, item) for link, item in session.execute(query).all()]
