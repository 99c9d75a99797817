"""Issues: assembly from content items, the content snapshot, and the state machine.

An issue moves ``draft → approved → sending → sent`` (or ``failed``); a send
can be ``paused`` and resumed, and an approved, sending or paused issue can be
``cancelled``. A draft can be rebuilt with fresh content as often as staff
like: rebuilding releases the items it held and claims them again. A draft
can also be ``discarded`` (a draft built for the wrong period, say): its items
go back to the pool, and building that period later starts it afresh. Once
approved, an issue and its snapshot never change: building its period again
returns it untouched (``created`` False), so re-runs are harmless. An approved
issue becomes ``held`` when one of its items is cancelled at the source before
the send (``outreach.issues.hold``); staff then rebuild it (back to a draft) or
approve it again (the item marked cancelled). What happened to an issue, and
who did it, is kept in its history (:mod:`outreach.issues.history`).

``when_empty`` applies per language (:mod:`outreach.issues.editions`): a
language whose sections are all empty is skipped, or falls back to the
campaign's fallback language, or goes out anyway, as the campaign says.

A draft shows current data: rebuilding it takes the latest version of every
item and chooses again, releasing what it held. Once approved, an issue and
its snapshot stay as approved: building its period again returns it untouched
(``created`` False), so re-runs are harmless.

Building records the chosen items as the issue's (``IssueItem``), so within
one campaign an item goes out once (``outreach.issues.claims``); other
campaigns, other cities' too, may use it. News are those first seen since the
content cut-off of the campaign's last sent issue (its ``built_at``) and dated
within each section's ``window_days``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outreach.campaigns import AnnouncementCampaign, Config, NewsletterCampaign, Section, sync
from outreach.errors import IssueError
from outreach.issues import editions
from outreach.issues import selection as pick
from outreach.issues.claims import claim_items, release_issue_items, used_in_campaign
from outreach.issues.history import history, record_event, record_send_start
from outreach.issues.hold import HoldNotice, check_cancelled, mark_cancelled
from outreach.issues.links import register_links, variant_of
from outreach.issues.snapshot import (
    SNAPSHOT_VERSION,
    body_html,
    city_snapshot,
    local,
    section_snapshot,
    story_companies,
    texts,
)
from outreach.models import Campaign, ContentItem, Issue, IssueItem, IssueStatus, SourceState
from outreach.settings import Settings
from outreach.sources import section_source_keys

log = logging.getLogger(__name__)

__all__ = [
    "TRANSITIONS",
    "BuildResult",
    "HoldNotice",
    "approve_issue",
    "build_issue",
    "check_cancelled",
    "default_period",
    "discard_issue",
    "get_issue",
    "history",
    "list_issues",
    "record_event",
    "record_send_start",
    "register_links",
    "release_issue_items",
    "set_status",
]

S = IssueStatus
PERIOD_RE = re.compile(r"\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?")
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


@dataclass
class BuildResult:
    issue: Issue | None
    created: bool
    skipped: str | None  # why no issue was made, or None
    items: int
    #: Languages not sent as themselves: the version their readers get instead,
    #: or None when they get nothing this time (``when_empty`` per language).
    languages: dict[str, str | None] = field(default_factory=dict)


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now


def default_period(
    campaign: NewsletterCampaign | AnnouncementCampaign, timezone: str, now: datetime
) -> str:
    """``YYYY-MM`` for a newsletter; an announcement: ``YYYY``, or its send date."""
    from zoneinfo import ZoneInfo

    local = now.astimezone(ZoneInfo(timezone))
    if isinstance(campaign, AnnouncementCampaign):
        if campaign.send_at is not None:
            send_at = campaign.send_at
            if send_at.tzinfo is not None:
                send_at = send_at.astimezone(ZoneInfo(timezone))
            return send_at.strftime("%Y-%m-%d")
        return f"{local.year:04d}"
    return f"{local.year:04d}-{local.month:02d}"


def set_status(
    session: Session, issue: Issue, new_status: IssueStatus, message: str | None = None
) -> Issue:
    """Move ``issue`` to ``new_status`` if the state machine allows it."""
    new_status = IssueStatus(new_status)
    if new_status not in TRANSITIONS[issue.status]:
        allowed = ", ".join(sorted(TRANSITIONS[issue.status])) or "none (it is final)"
        raise IssueError(
            f"issue {issue.id} is {issue.status}; it cannot become {new_status} "
            f"(allowed next: {allowed})"
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
        raise IssueError(f"no issue {issue_id}; run `outreach issue list` to see the ids")
    if not by.strip():
        raise IssueError("approving needs the approver's name")
    held = issue.status == S.HELD
    set_status(session, issue, S.APPROVED)
    if held:
        mark_cancelled(session, issue)
        issue.status_message = None
    issue.approved_by = by.strip()[:100]
    issue.approved_at = _now(now)
    session.flush()
    record_event(session, issue, "approved", by=by, now=issue.approved_at)
    return issue


def discard_issue(
    session: Session, issue_id: int, *, by: str, now: datetime | None = None
) -> tuple[Issue, int]:
    """Throw a draft away: its items go back to the pool; returns it and how many."""
    issue = session.get(Issue, issue_id)
    if issue is None:
        raise IssueError(f"no issue {issue_id}; run `outreach issue list` to see the ids")
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
    record_event(session, issue, "discarded", by=by, detail=f"{released} items released", now=now)
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
            f"no issue {ref!r}: give its id or <campaign>/<period> "
            "(e.g. vantaa-monthly/2026-12); `outreach issue list` shows them"
        )
    return issue


def list_issues(session: Session, campaign: str | None = None) -> list[Issue]:
    """Issues, newest first; optionally of one campaign."""
    query = select(Issue).join(Campaign).order_by(Issue.id.desc())
    if campaign is not None:
        query = query.where(Campaign.slug == campaign)
    return list(session.scalars(query))


def _campaign_row(session: Session, config: Config, slug: str) -> Campaign:
    row = session.scalar(select(Campaign).where(Campaign.slug == slug))
    if row is None:
        row = sync(session, config)[slug]
    return row


def _source_ids(session: Session, section: Section, city: str) -> list[int]:
    keys = section_source_keys(section, city)
    return list(session.scalars(select(SourceState.id).where(SourceState.key.in_(keys))))


def _news_since(session: Session, campaign_id: int, exclude: int | None) -> datetime | None:
    query = select(func.max(Issue.built_at)).where(
        Issue.campaign_id == campaign_id, Issue.status == S.SENT
    )
    if exclude is not None:
        query = query.where(Issue.id != exclude)
    return session.scalar(query)


def _assemble(
    session: Session,
    config: Config,
    campaign: NewsletterCampaign,
    row: Campaign,
    issue_id: int | None,
    now: datetime,
) -> tuple[dict[str, list[dict[str, Any]]], dict[int, tuple[str, bool]]]:
    """Sections per language, and every chosen item: id → (section id, lead)."""
    city = config.city_of(campaign)
    window = pick.Window(now=now, news_since=_news_since(session, row.id, issue_id))
    used = used_in_campaign(session, row.id, issue_id)
    sections: dict[str, list[dict[str, Any]]] = {lang: [] for lang in campaign.languages}
    shown: dict[str, set[tuple[str, str]]] = {lang: set() for lang in campaign.languages}
    chosen: dict[int, tuple[str, bool]] = {}
    for section in campaign.sections:
        ids = _source_ids(session, section, city.slug)
        current = ContentItem.retired_at.is_(None) | (ContentItem.event_status == "cancelled")
        query = select(ContentItem).where(ContentItem.source_id.in_(ids), current)
        rows = [r for r in session.scalars(query) if pick.available(r, section, window, used)]
        ordered = pick.candidates(rows, section, window) if ids else []
        companies = story_companies(session, ordered) if section.kind == "stories" else {}
        for lang in campaign.languages:
            fallback = campaign.fallback_language if section.fallback else None
            picked = pick.for_language(
                ordered, section, lang, fallback, city.languages[0], shown[lang]
            )
            for p in picked:
                chosen[p.item.id] = (section.id, True)
                for other in p.also:
                    chosen.setdefault(other.id, (section.id, False))
            sections[lang].append(section_snapshot(section, lang, picked, companies))
    return sections, chosen


def _snapshot(
    config: Config,
    campaign: NewsletterCampaign | AnnouncementCampaign,
    period: str,
    number: int,
    now: datetime,
    sections: dict[str, list[dict[str, Any]]] | None,
) -> dict[str, Any]:
    city = config.city_of(campaign)
    languages: dict[str, Any] = {}
    for lang in campaign.languages:
        entry: dict[str, Any] = {
            **texts(campaign, city, lang, period, number),
            "city": city_snapshot(city, lang),
            "title": local(campaign.title, lang) if lang in campaign.title else "",
        }
        if isinstance(campaign, AnnouncementCampaign):
            markdown = config.bodies.get((campaign.slug, lang), "")
            entry["body_markdown"] = markdown
            entry["body_html"] = body_html(markdown)
            entry["sections"] = []
        else:
            intro = campaign.intro.get(lang) if lang in campaign.intro else None
            entry["intro"] = intro or ""
            entry["sections"] = (sections or {}).get(lang, [])
        languages[lang] = entry
    return {
        "version": SNAPSHOT_VERSION,
        "kind": campaign.kind,
        "campaign": campaign.slug,
        "city": campaign.city,
        "template": campaign.template,
        "period": period,
        "number": number,
        "built_at": now.isoformat(),
        "languages": languages,
    }


def build_issue(
    session: Session,
    settings: Settings,
    config: Config,
    slug: str,
    *,
    period: str | None = None,
    now: datetime | None = None,
    by: str = "outreach",
    auto_approve: bool = True,
) -> BuildResult:
    """Build (or rebuild the draft of) ``slug``'s issue for ``period``; ``by`` goes in its
    history. ``auto_approve`` False leaves an ``approval: auto`` issue a draft for the
    caller to approve (``outreach.checks.flow`` does, after the pre-flight check)."""
    del settings  # part of the stage signature; nothing in it is needed to assemble
    now = _now(now)
    campaign = config.campaign(slug)
    city = config.city_of(campaign)
    row = _campaign_row(session, config, slug)
    period = period or default_period(campaign, city.timezone, now)
    if not PERIOD_RE.fullmatch(period):
        raise IssueError(f"period {period!r}: expected YYYY-MM (or YYYY, YYYY-MM-DD)")
    issue = session.scalar(select(Issue).where(Issue.campaign_id == row.id, Issue.period == period))
    revived = issue is not None and issue.status == S.DISCARDED
    if issue is not None and issue.status not in (S.DRAFT, S.HELD, S.DISCARDED):
        # Immutable once approved: building again (a re-run of the demo or of a
        # schedule) hands back the issue as it is, its content untouched.
        held = session.scalar(
            select(func.count(IssueItem.id)).where(
                IssueItem.issue_id == issue.id, IssueItem.lead.is_(True)
            )
        )
        log.info("%s/%s: issue %s is %s; left as it is", slug, period, issue.id, issue.status)
        return BuildResult(issue=issue, created=False, skipped=None, items=int(held or 0))
    if issue is not None and issue.status == S.HELD:
        # held for a cancelled item: rebuilt from current content, approved anew
        set_status(session, issue, S.DRAFT)
        issue.approved_at = issue.approved_by = issue.status_message = None
    issue_id = issue.id if issue is not None else None

    chosen: dict[int, tuple[str, bool]] = {}
    sections = None
    send_as: dict[str, str | None] | None = None
    if isinstance(campaign, NewsletterCampaign):
        sections, chosen = _assemble(session, config, campaign, row, issue_id, now)
        if not chosen and campaign.when_empty != "send":
            reason = (
                f"{slug}/{period}: no new items, so no issue (when_empty: {campaign.when_empty})"
            )
            if issue is not None and not revived:
                release_issue_items(session, issue.id)
                session.delete(issue)
                session.flush()
            log.info("%s", reason)
            return BuildResult(issue=None, created=False, skipped=reason, items=0)
        send_as = editions.plan(campaign, sections)

    created = issue is None
    if issue is None or revived:
        earlier = session.scalar(
            select(func.count(Issue.id)).where(
                Issue.campaign_id == row.id, Issue.status != S.DISCARDED
            )
        )
        number = int(earlier or 0) + 1
        if issue is None:
            issue = Issue(campaign_id=row.id, period=period, status=S.DRAFT, snapshot={})
            session.add(issue)
            session.flush()
        issue.status = S.DRAFT
    else:
        number = int(issue.snapshot.get("number") or 1)
        release_issue_items(session, issue.id)
    issue.snapshot = _snapshot(config, campaign, period, number, now, sections)
    if send_as is not None:
        issue.snapshot["send_as"] = send_as
    issue.built_at = now
    register_links(session, issue, variant_of(campaign.audience.size_classes))
    claim_items(session, issue.id, chosen)
    leads = sum(1 for _, lead in chosen.values() if lead)
    record_event(session, issue, "built" if created else "rebuilt", by=by, now=now)
    log.info("%s/%s: issue %s built with %d items", slug, period, issue.id, leads)
    if campaign.approval == "auto" and auto_approve:
        approve_issue(session, issue.id, by="auto", now=now)
    return BuildResult(
        issue=issue,
        created=created,
        skipped=None,
        items=leads,
        languages=editions.not_sent_as_itself(issue.snapshot),
    )
