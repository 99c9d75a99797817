"""The public archive of a city's sent issues and each issue's web version.

A sent issue's snapshot holds everything its web version shows, so the archive
is read from the database: an issue whose campaign file is broken, or all of
them while ``cities.yaml`` is, keeps its page (the "open in browser" link of
every e-mail it went out in), its title and its languages from the snapshot,
and the city's name and look from the city's row and its latest issue
(:func:`stored_city`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.campaigns import Config, regular_genitive
from outreach.issues import send_as
from outreach.models import Campaign, City, Issue, IssueStatus
from outreach.render import render_web_version
from outreach.settings import Settings

#: Issues whose web version is public: once mail with its link has gone out.
PUBLIC = (IssueStatus.SENDING, IssueStatus.PAUSED, IssueStatus.SENT)


@dataclass(frozen=True)
class ArchiveEntry:
    """One sent issue of a city's archive, in the reader's language when the issue
    went out in it, else in the issue's first: ``lang`` is the language its title
    is in and its link opens."""

    id: int
    campaign: str
    title: str
    period: str
    sent_at: datetime | None
    languages: tuple[str, ...]
    lang: str
    sent_on: date | None  # the day it was sent, in the city's time zone


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "Europe/Helsinki")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("Europe/Helsinki")


def _title(config: Config, slug: str, lang: str, snapshot: dict[str, Any] | None = None) -> str:
    """The campaign's title in ``lang``: from its file, else from the issue's snapshot
    (the campaign's file cannot be read just now), else its slug."""
    camp = config.campaigns.get(slug)
    titles: dict[str, str] = {str(k): v for k, v in camp.title.items()} if camp else {}
    if not titles:
        languages = (snapshot or {}).get("languages") or {}
        titles = {str(k): str(v.get("title") or "") for k, v in languages.items()}
        titles = {k: v for k, v in titles.items() if v}
    return titles.get(lang) or next(iter(titles.values()), slug)


def _languages(config: Config, slug: str, snapshot: dict[str, Any] | None) -> tuple[str, ...]:
    """The issue's languages: the campaign's, else those its snapshot was built in."""
    camp = config.campaigns.get(slug)
    if camp is not None:
        return tuple(str(x) for x in camp.languages)
    return tuple(str(x) for x in ((snapshot or {}).get("languages") or {}))


def stored_city(session: Session, city: str, lang: str) -> dict[str, Any] | None:
    """What the city's archive pages show of the city when ``cities.yaml`` cannot be
    read: its name (``city_name``, ``city_gen``) from its row and its logo from the
    snapshot of its latest public issue; no privacy notice (only the file has it).
    None when the database knows no such city."""
    row = session.scalar(select(City).where(City.slug == city))
    if row is None:
        return None
    latest = session.scalar(
        select(Issue.snapshot)
        .join(Campaign, Issue.campaign_id == Campaign.id)
        .where(Campaign.city_id == row.id, Issue.status.in_(PUBLIC))
        .order_by(Issue.sent_at.desc(), Issue.id.desc())
        .limit(1)
    )
    languages: dict[str, Any] = (latest or {}).get("languages") or {}
    kept: dict[str, Any] = languages.get(lang) or next(iter(languages.values()), {})
    look: dict[str, Any] = kept.get("city") or {}
    names: dict[str, str] = {str(k): str(v) for k, v in (row.names or {}).items() if v}
    name = names.get(lang) or next(iter(names.values()), city)
    same = look.get("name") == name  # the snapshot's forms are for this name
    return {
        "slug": city,
        "city_name": name,
        "city_gen": (same and look.get("name_genitive")) or regular_genitive(name, lang),
        "color": look.get("color"),
        "logo_url": look.get("logo_url"),
        "logo_width": look.get("logo_width"),
        "logo_height": look.get("logo_height"),
        "privacy_url": None,
        "website": look.get("website"),
        "signup": False,
    }


def archive_entries(
    session: Session,
    config: Config,
    city: str,
    lang: str,
    *,
    year: int | None = None,
    query: str | None = None,
) -> list[ArchiveEntry]:
    """The city's public issues, newest first; of one ``year`` (sent then, in the
    city's time zone), and with every word of ``query`` in the issue's title or
    content. Each is titled in ``lang`` when it went out in it, else in its first
    language (never a title in one language with a month in another)."""
    rows = session.execute(
        select(Issue, Campaign.slug, City.timezone)
        .join(Campaign, Issue.campaign_id == Campaign.id)
        .join(City, Campaign.city_id == City.id)
        .where(City.slug == city, Issue.status.in_(PUBLIC))
        .order_by(Issue.sent_at.desc(), Issue.id.desc())
    ).all()
    configured = config.cities.get(city)
    words = (query or "").casefold().split()[:10]
    entries = []
    for issue, slug, timezone in rows:
        tz = configured.tz if configured is not None else _zone(timezone)
        sent_on = issue.sent_at.astimezone(tz).date() if issue.sent_at else None
        if year is not None and (sent_on is None or sent_on.year != year):
            continue
        languages = _languages(config, slug, issue.snapshot)
        shown = lang if lang in languages or not languages else languages[0]
        title = _title(config, slug, shown, issue.snapshot)
        if words:
            text = " ".join(
                (title, issue.period, json.dumps(issue.snapshot or {}, ensure_ascii=False))
            ).casefold()
            if not all(w in text for w in words):
                continue
        entries.append(
            ArchiveEntry(
                id=issue.id,
                campaign=slug,
                title=title,
                period=issue.period,
                sent_at=issue.sent_at,
                languages=languages,
                lang=shown,
                sent_on=sent_on,
            )
        )
    return entries


def web_version(
    session: Session, settings: Settings, config: Config, city: str, issue_id: int, lang: str
) -> str | None:
    """The web version of a public issue of ``city`` in ``lang`` (or the language its
    readers got when ``lang`` was skipped, else the campaign's first); None when there
    is no such public issue. Rendered from the snapshot alone: the campaign's and the
    city's files are not needed. Rendering errors (OutreachError) pass through."""
    row = session.execute(
        select(Issue, Campaign.slug)
        .join(Campaign, Issue.campaign_id == Campaign.id)
        .join(City, Campaign.city_id == City.id)
        .where(City.slug == city, Issue.id == issue_id, Issue.status.in_(PUBLIC))
    ).first()
    if row is None:
        return None
    issue, slug = row
    languages = _languages(config, slug, issue.snapshot)
    if languages and lang not in languages:
        lang = languages[0]
    # a language skipped in this issue (nothing in it) shows the version its
    # readers got, else the campaign's first
    targets = send_as(issue.snapshot or {})
    shown = targets.get(lang, lang)
    if shown is None:
        shown = next((to for to in targets.values() if to), None)
    return str(render_web_version(settings, config, issue, shown or lang))
