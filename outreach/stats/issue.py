"""One issue's figures: what happened to its mail, and which links drew clicks.

*Unsubscribes within 7 days* are the issue's recipients whose subscription
ended in the seven days after the send started (by link, reply or complaint).
Clicks are counted per link (per language version, so the Swedish link of an
item is its own row), per item, per section and per language; requests the
filter took for bots are shown apart, by reason (:mod:`outreach.stats.clicks`).
A section is shown by its title in the reader's language (the campaign's, else
the issue's own), the introduction and an announcement's text by a name of the
``stats`` catalog; a language by its name.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outreach.campaigns import Config
from outreach.errors import StatsError, msg
from outreach.l10n import LANGUAGES
from outreach.models import (
    BounceEvent,
    Campaign,
    Delivery,
    DeliveryStatus,
    Issue,
    IssueLink,
    LinkClick,
    Subscription,
)
from outreach.stats.city import started_issues
from outreach.stats.tables import Table, language_names, t

UNSUBSCRIBE_DAYS = 7
TOP_ITEMS = 5
#: The links that are in no section of the campaign, as the tables name them (msgids).
BUILT_IN_SECTIONS = {"intro": "Introduction", "body": "Main text"}


@dataclass
class IssueFigures:
    issue_id: int
    city: str
    campaign: str
    period: str
    tables: list[Table]


def _issue(session: Session, issue_id: int) -> tuple[Issue, str]:
    row = session.execute(
        select(Issue, Campaign.slug).join(Campaign).where(Issue.id == issue_id)
    ).first()
    if row is None:
        raise StatsError(msg("no issue {id}"), id=issue_id)
    return row[0], row[1]


def issue_city(session: Session, config: Config, issue_id: int) -> str:
    """The city an issue belongs to (for the faces' access check)."""
    issue, slug = _issue(session, issue_id)
    camp = config.campaigns.get(slug)
    return camp.city if camp is not None else str((issue.snapshot or {}).get("city") or "")


def issue_figures(session: Session, config: Config, issue_id: int) -> IssueFigures:
    issue, slug = _issue(session, issue_id)
    city = issue_city(session, config, issue_id)
    counts: dict[str, int] = {}
    if issue.send_started_at is not None:
        found = started_issues(
            session,
            [issue.campaign.city_id],
            issue.send_started_at,
            issue.send_started_at + timedelta(microseconds=1),
        )
        counts = next((i.counts for i in found if i.id == issue.id), {})
    events: Counter[str] = Counter()
    for kind, n in session.execute(
        select(BounceEvent.kind, func.count(func.distinct(BounceEvent.email_hash)))
        .where(BounceEvent.issue_id == issue.id)
        .group_by(BounceEvent.kind)
    ):
        events[str(kind)] = int(n)
    unsubscribed = 0
    if issue.send_started_at is not None:
        until = issue.send_started_at + timedelta(days=UNSUBSCRIBE_DAYS)
        recipients = select(Delivery.subscription_id).where(
            Delivery.issue_id == issue.id, Delivery.status == DeliveryStatus.SENT
        )
        unsubscribed = int(
            session.scalar(
                select(func.count()).where(
                    Subscription.id.in_(recipients),
                    Subscription.unsubscribed_at >= issue.send_started_at,
                    Subscription.unsubscribed_at < until,
                )
            )
            or 0
        )
    mail = Table(
        "mail",
        "The mail",
        [("figure", "Figure"), ("value", "Value")],
        [
            {"figure": "Delivered", "value": counts.get("sent", 0)},
            {"figure": "Failed", "value": counts.get("failed", 0)},
            {"figure": "Bounced", "value": events["bounced"]},
            {"figure": "Complaints", "value": events["complained"]},
            {"figure": "Unsubscribes within 7 days", "value": unsubscribed},
        ],
    )
    sections = section_names(config, slug, issue.snapshot or {})
    return IssueFigures(
        issue.id, city, slug, issue.period, [mail, *click_tables(session, issue.id, sections)]
    )


def section_names(config: Config, slug: str, snapshot: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Each section id → its title by language: the campaign's where it still has the
    section (its first language first), else the one the issue was built with."""
    names: dict[str, dict[str, str]] = {
        key: {lang: t(lang, msgid) for lang in LANGUAGES}
        for key, msgid in BUILT_IN_SECTIONS.items()
    }
    for lang, data in (snapshot.get("languages") or {}).items():
        for section in data.get("sections") or []:
            if section.get("id") and section.get("title"):
                names.setdefault(str(section["id"]), {})[lang] = str(section["title"])
    campaign = config.campaigns.get(slug)
    for section in getattr(campaign, "sections", None) or []:
        titles = {lang: text for lang, text in section.title.items() if text}
        if titles:
            names[section.id] = titles
    return names


def click_tables(
    session: Session, issue_id: int, sections: dict[str, dict[str, str]] | None = None
) -> list[Table]:
    per_link: dict[int, int] = defaultdict(int)
    filtered: Counter[str] = Counter()
    for link_id, counted, reason, n in session.execute(
        select(LinkClick.link_id, LinkClick.counted, LinkClick.reason, func.count())
        .where(LinkClick.issue_id == issue_id)
        .group_by(LinkClick.link_id, LinkClick.counted, LinkClick.reason)
    ):
        if counted:
            per_link[link_id] += int(n)
        else:
            filtered[str(reason)] += int(n)
    links = session.scalars(
        select(IssueLink)
        .where(IssueLink.issue_id == issue_id)
        .order_by(IssueLink.lang, IssueLink.n)
    ).all()
    link_rows: list[dict[str, Any]] = [
        {"lang": link.lang, "variant": link.variant, "section": link.section,
         "title": link.title, "url": link.url, "clicks": per_link.get(link.id, 0)}
        for link in links
    ]  # fmt: skip
    items: dict[tuple[str, int | str], int] = defaultdict(int)
    titles: dict[tuple[str, int | str], str] = {}
    clicked: Counter[str] = Counter()
    languages: Counter[str] = Counter()
    for link, row in zip(links, link_rows, strict=True):
        key = (link.section, link.item_id or link.url)  # an item across its language versions
        items[key] += row["clicks"]
        titles.setdefault(key, link.title)
        clicked[row["section"]] += row["clicks"]
        languages[row["lang"]] += row["clicks"]
    top = sorted(items.items(), key=lambda kv: (-kv[1], titles[kv[0]]))[:TOP_ITEMS]
    names = {"section": sections or {}, "lang": language_names(languages)}
    return [
        Table(
            "links",
            "Clicks per link",
            [
                ("lang", "Language"),
                ("variant", "Variant"),
                ("section", "Section"),
                ("title", "Item"),
                ("url", "Address"),
                ("clicks", "Clicks"),
            ],
            link_rows,
            names=names,
        ),
        Table(
            "top",
            "Top items",
            [("title", "Item"), ("section", "Section"), ("clicks", "Clicks")],
            [{"title": titles[k], "section": k[0], "clicks": n} for k, n in top if n],
            chart=["clicks"],
            names=names,
        ),
        Table(
            "sections",
            "Clicks per section",
            [("section", "Section"), ("clicks", "Clicks")],
            [{"section": s, "clicks": n} for s, n in sorted(clicked.items())],
            chart=["clicks"],
            names=names,
        ),
        Table(
            "languages",
            "Clicks per language",
            [("lang", "Language"), ("clicks", "Clicks")],
            [{"lang": s, "clicks": n} for s, n in sorted(languages.items())],
            chart=["clicks"],
            names=names,
        ),
        Table(
            "filtered",
            "Requests not counted",
            [("reason", "Reason"), ("requests", "Requests")],
            [{"reason": r, "requests": n} for r, n in sorted(filtered.items())],
        ),
    ]
