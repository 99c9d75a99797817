"""Building an issue: its sections assembled from content items, its snapshot.

A draft shows current data: rebuilding it takes the latest version of every
item (a story's item is brought up to its story first: an edit or a staff
translation written since) and chooses again, releasing what it held; the
staff's edits are then applied again, and only they (a pinned item shown with
its current data, an edited title over the current item, a dropped item left
out: :mod:`outreach.issues.carry`). Once approved, an issue and
its snapshot stay as approved: building its period again returns it untouched
(``created`` False), so re-runs are harmless. A held issue is rebuilt as a
draft. A discarded period is built afresh.

Building records the chosen items as the issue's (``IssueItem``), so within
one campaign an item goes out once (:mod:`outreach.issues.claims`); other
campaigns, other cities' too, may use it. News are those first seen since the
content cut-off of the campaign's last sent issue (its ``built_at``) and dated
within each section's ``window_days``. ``when_empty`` applies per language
(:mod:`outreach.issues.editions`).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outreach.campaigns import AnnouncementCampaign, Config, NewsletterCampaign, Section, sync
from outreach.errors import IssueError, msg
from outreach.issues import editions
from outreach.issues import selection as pick
from outreach.issues.carry import (
    Current,
    carry_items,
    carry_texts,
    dropped_items,
    dropped_series,
)
from outreach.issues.claims import Used, claim_items, release_issue_items, used_in_campaign
from outreach.issues.history import record_event
from outreach.issues.links import register_links, variant_of
from outreach.issues.snapshot import (
    SNAPSHOT_VERSION,
    city_snapshot,
    item_snapshot,
    local,
    section_snapshot,
    story_facts,
    texts,
)
from outreach.issues.state import S, approve_issue, aware_now, set_status
from outreach.models import Campaign, ContentItem, Issue, IssueItem, SourceState
from outreach.settings import Settings
from outreach.sources import body_html, refresh_story_items, section_source_keys

log = logging.getLogger(__name__)

__all__ = ["BuildResult", "build_issue", "default_period"]

PERIOD_RE = re.compile(r"\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?")


@dataclass
class BuildResult:
    issue: Issue | None
    created: bool
    skipped: str | None  # why no issue was made, or None
    items: int
    #: Languages not sent as themselves: the version their readers get instead,
    #: or None when they get nothing this time (``when_empty`` per language).
    languages: dict[str, str | None] = field(default_factory=dict)


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
    used: Used,
    dropped: set[int],
    dropped_events: set[str],
) -> tuple[dict[str, list[dict[str, Any]]], dict[int, tuple[str, bool]]]:
    """Sections per language, and every chosen item: id → (section id, lead). Items the
    staff ``dropped`` from the draft being rebuilt are not chosen, nor any date of a
    recurring event they dropped (``dropped_events``: its series keys)."""
    city = config.city_of(campaign)
    window = pick.Window(now=now, news_since=_news_since(session, row.id, issue_id))
    sections: dict[str, list[dict[str, Any]]] = {lang: [] for lang in campaign.languages}
    shown: dict[str, set[tuple[str, str]]] = {lang: set() for lang in campaign.languages}
    chosen: dict[int, tuple[str, bool]] = {}
    for section in campaign.sections:
        ids = _source_ids(session, section, city.slug)
        current = ContentItem.retired_at.is_(None) | (ContentItem.event_status == "cancelled")
        query = select(ContentItem).where(ContentItem.source_id.in_(ids), current)
        rows = [
            r
            for r in session.scalars(query)
            if r.id not in dropped
            and not dropped_events.intersection(pick.series_keys(r))
            and pick.available(r, section, window, used)
        ]
        refresh_story_items(session, rows, now)  # a story edited or translated since
        ordered = pick.candidates(rows, section, window) if ids else []
        stories = story_facts(session, ordered) if section.kind == "stories" else {}
        for lang in campaign.languages:
            fallback = campaign.fallback_language if section.fallback else None
            picked = pick.for_language(
                ordered, section, lang, fallback, city.languages[0], shown[lang]
            )
            for p in picked:
                chosen[p.item.id] = (section.id, True)
                for other in p.also:
                    chosen.setdefault(other.id, (section.id, False))
            sections[lang].append(section_snapshot(section, lang, picked, stories))
    return sections, chosen


def _current(session: Session, default_lang: str, used: Used, now: datetime) -> Current:
    """A pinned item's entry as its source has it now, for a rebuild that did not choose
    it (:func:`outreach.issues.carry.carry_items`). As for every item: a cancelled
    event is shown, marked, only when an earlier issue announced it and it is still to
    come (never a cancelled date of a series); one removed at its source otherwise, or
    already begun, is not shown. A date of a recurring event not to be shown gives way
    to the event's next date at its source (the pin is of the event)."""

    def shown(item: ContentItem) -> bool:
        upcoming = item.starts_at is None or item.starts_at > now
        if item.event_status == "cancelled":
            return (
                item.starts_at is not None
                and upcoming
                and used.cancelled_since(item)
                and not pick.is_cancelled_date(item)
            )
        return item.retired_at is None and upcoming

    def next_date(item: ContentItem) -> ContentItem | None:
        keys = set(pick.series_keys(item))
        if not keys:
            return None
        query = (
            select(ContentItem)
            .where(
                ContentItem.source_id == item.source_id,
                ContentItem.kind == "event",
                ContentItem.retired_at.is_(None),
                ContentItem.starts_at > now,
            )
            .order_by(ContentItem.starts_at, ContentItem.id)
        )
        return next((i for i in session.scalars(query) if keys & set(pick.series_keys(i))), None)

    def entry(item_id: int, lang: str) -> dict[str, Any] | None:
        item = session.get(ContentItem, item_id)
        if item is not None and not shown(item):
            item = next_date(item)
        if item is None:
            return None
        refresh_story_items(session, [item], now)  # a story edited or translated since
        fallback = lang not in pick.languages_of(item, default_lang)
        facts = story_facts(session, [item]).get(item.id)
        return item_snapshot(pick.Picked(item, fallback), lang, facts)

    return entry


def _shows_nothing(sections: dict[str, list[dict[str, Any]]]) -> bool:
    return not any(s.get("entries") for secs in sections.values() for s in secs)


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
        # who it goes to, fixed with its content: a later change to the campaign
        # never changes the recipients of this issue (editions.fixed_audience)
        "audience": editions.audience_snapshot(campaign),
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
    now = aware_now(now)
    campaign = config.campaign(slug)
    city = config.city_of(campaign)
    row = _campaign_row(session, config, slug)
    period = period or default_period(campaign, city.timezone, now)
    if not PERIOD_RE.fullmatch(period):
        raise IssueError(
            msg("period {period}: expected YYYY-MM (or YYYY, YYYY-MM-DD)"), period=repr(period)
        )
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
    # a draft rebuilt: its staff's edits are applied to the new build
    before = issue.snapshot if issue is not None and not revived else None

    chosen: dict[int, tuple[str, bool]] = {}
    sections = None
    send_as: dict[str, str | None] | None = None
    if isinstance(campaign, NewsletterCampaign):
        used = used_in_campaign(session, row.id, issue_id)
        sections, chosen = _assemble(
            session,
            config,
            campaign,
            row,
            issue_id,
            now,
            used,
            dropped_items(before),
            dropped_series(before),
        )
        if before:  # pinned and manual items, edited texts, the staff's order
            current = _current(session, city.languages[0], used, now)
            for item_id, section_id in carry_items(before, sections, current).items():
                chosen[item_id] = (section_id, True)
        if _shows_nothing(sections) and campaign.when_empty != "send":
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
    if before:  # a rebuilt draft keeps its introduction, subjects and dropped items
        carry_texts(before, issue.snapshot)
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
