"""Stories on the public pages: the submission form's record, the published stories
of a city (filtered, in the reader's language), one story, its image, the company
directory, and a version stamp for caches and ETags.

A story is published when staff approved it and the company consented to
publishing; a listing request (``listing_only``) puts the company in the
directory without a story.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outreach.campaigns import Config
from outreach.l10n import gettext_for
from outreach.models import City, Story, StoryImage, StoryStatus
from outreach.publish.images import CleanImage
from outreach.sources import markdown_html, submit_story, to_text
from outreach.subscriptions import city_row
from outreach.transactional import TransactionalMail


def story_received_mail(city: str, to: str, lang: str, title: str) -> TransactionalMail:
    """The mail that tells the sender their story (or listing request) was received."""
    return TransactionalMail(
        template="story_received",
        city_slug=city,
        to=to,
        lang=lang,
        subject=gettext_for(lang, "web", "We received your climate story"),
        context={"title": title},
        what="story confirmation",
    )


def submit_from_form(
    session: Session,
    config: Config,
    city: str,
    *,
    company: str,
    title: str,
    body: str,
    language: str,
    link: str | None,
    contact_email: str | None,
    business_id: str | None = None,
    industry: str | None = None,
    theme: str | None = None,
    figures: str | None = None,
    commitment: str | None = None,
    image: CleanImage | None = None,
    image_alt: str | None = None,
    listing_only: bool = False,
) -> Story:
    """A submitted story from the public form (consent given), through the one builder
    the CLI uses; the city's row is made from ``cities.yaml`` when missing."""
    city_row(session, config, city)
    story = submit_story(
        session,
        city,
        company=company,
        title=title,
        body=body,
        link=link,
        language=language,
        consent=True,
        contact_email=contact_email,
        business_id=business_id,
        industry=industry,
        theme=theme,
        figures=figures,
        image_alt=image_alt if image is not None else None,
        commitment=commitment,
        listing_only=listing_only,
    )
    if image is not None:
        session.add(
            StoryImage(
                story_id=story.id,
                content_type=image.content_type,
                data=image.data,
                width=image.width,
                height=image.height,
                sha256=hashlib.sha256(image.data).hexdigest(),
            )
        )
        session.flush()
    return story


@dataclass(frozen=True)
class PublicStory:
    """A published story as a reader sees it in ``shown_language``."""

    id: int
    company: str
    business_id: str | None
    title: str
    body_html: str
    summary: str
    language: str  # the language the text is shown in
    original_language: str
    translated: bool  # shown in a staff translation of the original
    figures: str | None
    industry: str | None
    theme: str | None
    link: str | None
    published_at: datetime
    image_alt: str | None
    has_image: bool
    commitment: str | None = None
    image_type: str | None = None  # the image's media type and size in bytes (feeds)
    image_bytes: int | None = None
    #: The language of the figures and of the image's alt text: the original's
    #: when the translation left them out.
    figures_language: str | None = None
    image_alt_language: str | None = None


@dataclass
class Company:
    """A company in the directory, with its published actions."""

    name: str
    business_id: str | None
    commitment: str | None = None
    stories: list[PublicStory] = field(default_factory=list)


def _published(city: str) -> Any:
    return (
        select(Story)
        .join(City, Story.city_id == City.id)
        .where(
            City.slug == city,
            Story.status == StoryStatus.APPROVED,
            Story.consent_to_publish.is_(True),
        )
    )


def _summary(text: str, limit: int = 240) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rsplit(" ", 1)[0] + "…"


def translation(story: Story, lang: str) -> dict[str, str] | None:
    """The staff translation of ``story`` into ``lang`` (a title and a body at least)."""
    own = (story.translations or {}).get(lang) if lang != story.language else None
    if isinstance(own, dict) and own.get("title") and own.get("body"):
        return {str(k): str(v) for k, v in own.items() if v}
    return None


#: A story's image: its media type and its size in bytes.
ImageInfo = tuple[str, int]


def _public(story: Story, lang: str, image: ImageInfo | None) -> PublicStory:
    title, body, shown = story.title, story.body, story.language
    figures, figures_lang = story.figures, story.language
    alt, alt_lang = story.image_alt, story.language
    own = translation(story, lang)
    if own is not None:
        title, body, shown = own["title"], own["body"], lang
        if own.get("figures"):
            figures, figures_lang = own["figures"], lang
        if own.get("image_alt"):
            alt, alt_lang = own["image_alt"], lang
    has_image = image is not None
    html = markdown_html(body)
    return PublicStory(
        id=story.id,
        company=story.company_name,
        business_id=story.business_id,
        title=title,
        body_html=html,
        summary=_summary(to_text(html)),  # text as read, without Markdown's marks
        language=shown,
        original_language=story.language,
        translated=own is not None,
        figures=figures,
        industry=story.industry,
        theme=story.theme,
        link=story.link,
        published_at=story.decided_at or story.submitted_at,
        image_alt=alt if has_image else None,
        has_image=has_image,
        commitment=story.commitment,
        image_type=image[0] if image else None,
        image_bytes=image[1] if image else None,
        figures_language=figures_lang if figures else None,
        image_alt_language=alt_lang if has_image and alt else None,
    )


def _with_images(session: Session, ids: list[int]) -> dict[int, ImageInfo]:
    """The images of the stories ``ids``: media type and size, without reading the data."""
    if not ids:
        return {}
    rows = session.execute(
        select(StoryImage.story_id, StoryImage.content_type, func.length(StoryImage.data)).where(
            StoryImage.story_id.in_(ids)
        )
    )
    return {story_id: (media, int(size or 0)) for story_id, media, size in rows}


def published_stories(
    session: Session,
    city: str,
    lang: str,
    *,
    industry: str | None = None,
    theme: str | None = None,
    limit: int | None = None,
) -> list[PublicStory]:
    """The city's published stories, newest first, optionally of one industry or theme."""
    query = _published(city).where(Story.listing_only.is_(False))
    if industry:
        query = query.where(Story.industry == industry)
    if theme:
        query = query.where(Story.theme == theme)
    query = query.order_by(Story.decided_at.desc(), Story.id.desc())
    if limit is not None:
        query = query.limit(limit)
    rows = list(session.scalars(query))
    images = _with_images(session, [s.id for s in rows])
    return [_public(s, lang, images.get(s.id)) for s in rows]


def published_story(session: Session, city: str, story_id: int, lang: str) -> PublicStory | None:
    story = session.scalar(
        _published(city).where(Story.id == story_id, Story.listing_only.is_(False))
    )
    if story is None:
        return None
    return _public(story, lang, _with_images(session, [story.id]).get(story.id))


def story_image(session: Session, city: str, story_id: int) -> StoryImage | None:
    """The image of a published story of ``city``."""
    ids = _published(city).where(Story.id == story_id).with_only_columns(Story.id)
    return session.scalar(select(StoryImage).where(StoryImage.story_id.in_(ids)))


def companies(session: Session, city: str, lang: str) -> list[Company]:
    """Companies with a published story or an approved listing request, by name."""
    rows = list(session.scalars(_published(city).order_by(Story.decided_at.desc(), Story.id)))
    images = _with_images(session, [s.id for s in rows])
    found: dict[str, Company] = {}
    for story in rows:
        key = story.business_id or story.company_name.casefold()
        company = found.setdefault(key, Company(story.company_name, story.business_id))
        if story.commitment and not company.commitment:
            company.commitment = story.commitment
        if not story.listing_only:
            company.stories.append(_public(story, lang, images.get(story.id)))
    return sorted(found.values(), key=lambda c: c.name.casefold())


def stories_version(session: Session, city: str) -> str:
    """A stamp that changes when a story of ``city`` is published, withdrawn,
    re-decided, edited or translated: the key of caches and ETags of the story
    pages and feeds."""
    count, latest, changed, ids = session.execute(
        select(
            func.count(Story.id),
            func.max(Story.decided_at),
            func.max(Story.updated_at),
            func.sum(Story.id),
        )
        .join(City, Story.city_id == City.id)
        .where(
            City.slug == city,
            Story.status == StoryStatus.APPROVED,
            Story.consent_to_publish.is_(True),
        )
    ).one()
    stamp = f"{city}|{count}|{latest}|{changed}|{ids}"
    return hashlib.sha256(stamp.encode()).hexdigest()[:20]
