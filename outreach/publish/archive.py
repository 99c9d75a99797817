"""The public archive of a city's sent issues and each issue's web version."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.campaigns import Config
from outreach.issues import send_as
from outreach.models import Campaign, City, Issue, IssueStatus
from outreach.render import render_web_version
from outreach.settings import Settings

#: Issues whose web version is public: once mail with its link has gone out.
PUBLIC = (IssueStatus.SENDING, IssueStatus.PAUSED, IssueStatus.SENT)


@dataclass(frozen=True)
class ArchiveEntry:
    """One sent issue of a city's archive, titled in the reader's language."""

    id: int
    campaign: str
    title: str
    period: str
    sent_at: datetime | None
    languages: tuple[str, ...]


def _title(config: Config, slug: str, lang: str) -> str:
    camp = config.campaigns.get(slug)
    titles: dict[str, str] = {str(k): v for k, v in camp.title.items()} if camp else {}
    return titles.get(lang) or next(iter(titles.values()), slug)


def archive_entries(
    session: Session,
    config: Config,
    city: str,
    lang: str,
    *,
    year: int | None = None,
    query: str | None = None,
) -> list[ArchiveEntry]:
    """The city's public issues, newest first; of one ``year`` (sent then), and with
    every word of ``query`` in the issue's title or content."""
    rows = session.execute(
        select(Issue, Campaign.slug)
        .join(Campaign, Issue.campaign_id == Campaign.id)
        .join(City, Campaign.city_id == City.id)
        .where(City.slug == city, Issue.status.in_(PUBLIC))
        .order_by(Issue.sent_at.desc(), Issue.id.desc())
    ).all()
    words = (query or "").casefold().split()[:10]
    entries = []
    for issue, slug in rows:
        if year is not None and (issue.sent_at is None or issue.sent_at.year != year):
            continue
        if words:
            text = " ".join(
                (_title(config, slug, lang), issue.period, json.dumps(issue.snapshot or {},
                 ensure_ascii=False))
            ).casefold()  # fmt: skip
            if not all(w in text for w in words):
                continue
        camp = config.campaigns.get(slug)
        languages = tuple(str(x) for x in camp.languages) if camp is not None else ()
        entries.append(
            ArchiveEntry(
                id=issue.id,
                campaign=slug,
                title=_title(config, slug, lang),
                period=issue.period,
                sent_at=issue.sent_at,
                languages=languages,
            )
        )
    return entries


def web_version(
    session: Session, settings: Settings, config: Config, city: str, issue_id: int, lang: str
) -> str | None:
    """The web version of a public issue of ``city`` in ``lang`` (or the language its
    readers got when ``lang`` was skipped, else the campaign's first); None when there
    is no such public issue. Rendering errors (OutreachError) pass through."""
    row = session.execute(
        select(Issue, Campaign.slug)
        .join(Campaign, Issue.campaign_id == Campaign.id)
        .join(City, Campaign.city_id == City.id)
        .where(City.slug == city, Issue.id == issue_id, Issue.status.in_(PUBLIC))
    ).first()
    if row is None:
        return None
    issue, slug = row
    camp = config.campaigns.get(slug)
    if camp is not None and lang not in camp.languages:
        lang = camp.languages[0]
    # a language skipped in this issue (nothing in it) shows the version its
    # readers got, else the campaign's first
    targets = send_as(issue.snapshot or {})
    shown = targets.get(lang, lang)
    if shown is None:
        shown = next((to for to in targets.values() if to), None)
    return str(render_web_version(settings, config, issue, shown or lang))
