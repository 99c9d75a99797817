"""The content snapshot of an issue: everything rendering needs, per language.

Rendering reads only the snapshot, so an issue renders the same way after its
items, its campaign file or its city's branding change. Values are JSON.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.campaigns import AnnouncementCampaign, CityConfig, NewsletterCampaign, Section
from outreach.issues.selection import Picked, series_keys
from outreach.l10n import period_label
from outreach.models import ContentItem, Story
from outreach.sandbox import render_text, text_context

SNAPSHOT_VERSION = 1


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _without_company(summary: str, company: str) -> str:
    """A story's summary starts with its company's name (the story item's first
    paragraph); the name is shown on its own, so it comes off the text."""
    if company and summary.startswith(company):
        return summary[len(company) :].lstrip(" \n:–-")
    return summary


@dataclass(frozen=True)
class StoryFacts:
    """What a story item's entry takes from its story row: the company, and the image's
    description per language (the original's and each staff translation's)."""

    company: str
    image_alt: Mapping[str, str]


def item_snapshot(picked: Picked, lang: str, story: StoryFacts | None = None) -> dict[str, Any]:
    item: ContentItem = picked.item
    company = story.company if story is not None else None
    title, summary, shown_lang = item.title, item.summary, item.language
    url, location, price = item.url, item.location, item.price
    variant = (item.translations or {}).get(lang)
    if isinstance(variant, dict) and variant.get("title"):
        title = str(variant["title"])
        summary = str(variant.get("summary") or "")
        shown_lang = lang
        # the place, price and link in the issue's language, where the source has them
        url = variant.get("url") or url
        location = variant.get("location") or location
        price = variant["price"] if variant.get("price") else price
    if company:
        summary = _without_company(summary, company)
    entry: dict[str, Any] = {
        "id": item.id,
        "kind": item.kind,
        "title": title,
        "summary": summary,
        "language": shown_lang,
        "fallback": picked.fallback,
        "url": url,
        "image_url": item.image_url,
        "published_at": _iso(item.published_at),
        "starts_at": _iso(item.starts_at),
        "ends_at": _iso(item.ends_at),
        "all_day": item.all_day,
        "ends_date_only": item.ends_date_only,
        "location": location,
        "online_url": item.online_url,
        "is_online": item.is_online,
        "price": price,
        "event_status": item.event_status,
        "also_starts": [_iso(other.starts_at) for other in picked.also],
        "company": company or "",
    }
    if keys := series_keys(item):  # the event whatever its date (issues.carry)
        entry["series"] = keys
    if story is not None:
        # the description in the language the entry is shown in (a translation
        # without one leaves it to the title, which is in that language)
        entry["image_alt"] = story.image_alt.get(shown_lang or "", "")
    return entry


def local(values: Mapping[Any, str], lang: str) -> str:
    """The ``lang`` text of a per-language mapping, else its first text, else ''."""
    return values.get(lang) or next(iter(values.values()), "")


def city_snapshot(city: CityConfig, lang: str) -> dict[str, Any]:
    def text(values: Mapping[Any, str]) -> str:
        return local(values, lang)

    return {
        "slug": city.slug,
        "name": text(city.name),
        "kind": city.kind,
        "name_genitive": city.genitive(lang),
        "name_locative": next(
            (f.locative or "" for code, f in city.forms.items() if code == lang), ""
        ),
        "timezone": city.timezone,
        "sender_name": text(city.sender.name),
        "sender_address": city.sender.address,
        "reply_to": city.sender.reply_to,
        "postal_address": text(city.footer.address),
        "website": city.footer.website,
        "color": city.branding.color,
        "logo_url": city.branding.logo_url,
        "logo_width": city.branding.logo_width,
        "logo_height": city.branding.logo_height,
    }


def texts(
    campaign: NewsletterCampaign | AnnouncementCampaign,
    city: CityConfig,
    lang: str,
    period: str,
    number: int,
) -> dict[str, str]:
    """Subject, preheader and period label, rendered from the staff's templates."""
    label = period_label(period, lang)
    context = text_context(label, number, period, local(city.name, lang))
    preheader = local(campaign.preheader, lang) if lang in campaign.preheader else ""
    return {
        "period_label": label,
        "subject": render_text(local(campaign.subject, lang), context),
        "preheader": render_text(preheader, context) if preheader else "",
    }


def edited_subject(snapshot: Mapping[str, Any], lang: str, source: str) -> str:
    """A subject staff wrote for a built issue's ``lang`` version, rendered as the
    campaign's subject is when the issue is built (:func:`texts`): the same sandbox and
    placeholders, with the issue's own period, number and city. RenderError."""
    data = snapshot["languages"][lang]
    city = data.get("city") or {}
    context = text_context(
        str(data.get("period_label") or ""),
        int(snapshot.get("number") or 1),
        str(snapshot.get("period") or ""),
        str(city.get("name") or ""),
    )
    return render_text(source, context)


def section_snapshot(
    section: Section,
    lang: str,
    picked: list[Picked],
    stories: Mapping[int, StoryFacts] | None = None,
) -> dict[str, Any]:
    """One section in ``lang``; ``stories`` holds the facts of each story item's story."""
    facts = stories or {}
    return {
        "id": section.id,
        "kind": section.kind,
        "title": local(section.title, lang),
        "intro": local(section.intro, lang) if lang in section.intro else "",
        "entries": [item_snapshot(p, lang, facts.get(p.item.id)) for p in picked],
    }


def story_facts(session: Session, items: Sequence[ContentItem]) -> dict[int, StoryFacts]:
    """The facts of the story behind each story item (``story:<id>``), by item id."""
    story_ids = {
        item.id: int(item.external_id.partition(":")[2])
        for item in items
        if item.external_id.startswith("story:") and item.external_id[6:].isdigit()
    }
    if not story_ids:
        return {}
    rows = session.execute(
        select(Story.id, Story.company_name, Story.language, Story.image_alt, Story.translations)
        .where(Story.id.in_(set(story_ids.values())))
    )  # fmt: skip
    facts: dict[int, StoryFacts] = {}
    for row in rows:
        alts = {str(row.language): row.image_alt} if row.image_alt else {}
        for lang, own in (row.translations or {}).items():
            if lang != row.language and isinstance(own, dict) and own.get("image_alt"):
                alts[str(lang)] = str(own["image_alt"])
        facts[row.id] = StoryFacts(company=row.company_name, image_alt=alts)
    return {item_id: facts[sid] for item_id, sid in story_ids.items() if sid in facts}
