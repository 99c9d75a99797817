"""``stories``: companies' climate success stories, kept in the database.

A story is added from a Markdown file with YAML front matter
(``outreach stories add``) or, later, from the web form; staff approve or
reject it. Only approved stories whose company consented to publishing are
used, each in one issue unless staff feature it again. A story that went out in
an issue (:func:`story_went_out`) can no longer be rejected.

Front matter keys: ``company`` and ``title`` (required), ``link``, ``image``,
``language`` (fi, sv, en), ``consent`` (true/false), ``contact_email``, and what
the public pages show: ``business_id``, ``industry``, ``theme``, ``figures``,
``image_alt``, ``commitment``.

A story's content item carries its staff translations (``translations``: a
title and a text per language) as the item's translations, so an issue's
edition in that language shows the translation instead of the original.
Rebuilding a draft brings its story items up to their stories as they are
then (:func:`refresh_story_items`).
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from outreach.errors import StoryError
from outreach.errors import msg as _msg
from outreach.models import (
    City,
    ContentItem,
    Issue,
    IssueItem,
    SourceState,
    SourceStatus,
    Story,
    StoryStatus,
)
from outreach.sources.base import FetchContext, FetchResult, RawItem, Source, web_url
from outreach.sources.sanitize import markdown_html
from outreach.sources.store import item_fields

EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_FRONT = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)(.*)\Z", re.DOTALL)


def story_external_id(story_id: int) -> str:
    return f"story:{story_id}"


class StoryFront(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company: str = Field(min_length=1, max_length=200)
    title: str = Field(min_length=1, max_length=300)
    link: str | None = None
    image: str | None = None
    language: str = Field(default="fi", pattern="^(fi|sv|en)$")
    consent: bool = False
    contact_email: str | None = None
    business_id: str | None = Field(default=None, pattern=r"^\d{7}-\d$")
    industry: str | None = Field(default=None, max_length=32)
    theme: str | None = Field(default=None, max_length=32)
    figures: str | None = Field(default=None, max_length=1000)
    image_alt: str | None = Field(default=None, max_length=300)
    commitment: str | None = Field(default=None, max_length=2000)

    @field_validator("link")
    @classmethod
    def _link(cls, value: str | None) -> str | None:
        if value is not None and (web_url(value) is None or not value.startswith("https://")):
            raise ValueError("expected an https URL")
        return value

    @field_validator("image")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and web_url(value) is None:
            raise ValueError("expected an http(s) URL")
        return value

    @field_validator("contact_email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not EMAIL_RE.match(value):
            raise ValueError("expected an email address")
        return value


NO_STORY = _msg("no story with id {id} (see `outreach stories list`)")


def _city(session: Session, slug: str) -> City:
    city = session.scalar(select(City).where(City.slug == slug))
    if city is None:
        known = ", ".join(session.scalars(select(City.slug).order_by(City.slug))) or "none"
        raise StoryError(
            _msg('no city "{city}" (known: {known}; run `outreach campaigns validate`)'),
            city=slug,
            known=known,
        )
    return city


def read_story_file(path: Path) -> tuple[StoryFront, str]:
    """The front matter and Markdown body of a story file; StoryError names the problem."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise StoryError(_msg("{path}: cannot read: {error}"), path=path, error=exc) from exc
    match = _FRONT.match(text)
    if match is None:
        raise StoryError(
            _msg("{path}: expected YAML front matter between --- lines at the top"), path=path
        )
    try:
        front: Any = yaml.safe_load(match.group(1))
    except yaml.YAMLError as exc:
        raise StoryError(_msg("{path}: front matter is not valid YAML"), path=path) from exc
    if not isinstance(front, dict):
        raise StoryError(
            _msg("{path}: front matter must be a mapping of keys (company, title, …)"), path=path
        )
    try:
        meta = _validate(front)
    except StoryError as exc:
        raise StoryError(f"{path}: {exc}") from exc
    if not match.group(2).strip():
        raise StoryError(_msg("{path}: the story has no text after the front matter"), path=path)
    return meta, match.group(2)


def add_story_from_markdown(session: Session, path: Path, city_slug: str) -> Story:
    """A submitted Story from a Markdown file with front matter; flushed, not committed."""
    meta, body = read_story_file(path)
    return submit_story(session, city_slug, body=body, **meta.model_dump())


def _validate(fields: dict[Any, Any]) -> StoryFront:
    try:
        return StoryFront.model_validate(fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(story)"
        raise StoryError(f"{where}: {err['msg']}") from exc


def submit_story(
    session: Session,
    city_slug: str,
    *,
    company: str,
    title: str,
    body: str,
    link: str | None = None,
    image: str | None = None,
    language: str = "fi",
    consent: bool = False,
    contact_email: str | None = None,
    business_id: str | None = None,
    industry: str | None = None,
    theme: str | None = None,
    figures: str | None = None,
    image_alt: str | None = None,
    commitment: str | None = None,
    listing_only: bool = False,
) -> Story:
    """A submitted Story (``outreach stories add``, the demo and the web form): the one
    place a Story row is built; flushed, not committed. ``listing_only``: a company's
    request to be listed in the directory, with no story (``body`` may be empty)."""
    meta = _validate(
        {
            "company": company,
            "title": title,
            "link": link or None,
            "image": image or None,
            "language": language,
            "consent": consent,
            "contact_email": contact_email or None,
            "business_id": business_id or None,
            "industry": industry or None,
            "theme": theme or None,
            "figures": figures or None,
            "image_alt": image_alt or None,
            "commitment": commitment or None,
        }
    )
    body = body.strip()
    if not body and not listing_only:
        raise StoryError(_msg("the story has no text"))
    story = Story(
        city_id=_city(session, city_slug).id,
        company_name=meta.company.strip(),
        title=meta.title.strip(),
        body=body,
        language=meta.language,
        link=meta.link,
        image_url=meta.image,
        contact_email=meta.contact_email,
        consent_to_publish=meta.consent,
        status=StoryStatus.SUBMITTED,
        business_id=meta.business_id,
        industry=meta.industry,
        theme=meta.theme,
        figures=meta.figures,
        image_alt=meta.image_alt,
        commitment=meta.commitment,
        listing_only=listing_only,
        translations={},
    )
    session.add(story)
    session.flush()
    return story


def import_stories(session: Session, folder: Path, *, approve_by: str | None = None) -> list[Story]:
    """Stories from ``folder/<city>/*.md`` (e.g. ``examples/stories``), each added once.

    A file whose city, company and title are already stored is skipped, so the
    demo can run again. With ``approve_by``, stories with consent are approved.
    """
    added: list[Story] = []
    for city_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        city = _city(session, city_dir.name)
        for path in sorted(city_dir.glob("*.md")):
            meta, body = read_story_file(path)
            known = session.scalar(
                select(Story.id).where(
                    Story.city_id == city.id,
                    Story.company_name == meta.company.strip(),
                    Story.title == meta.title.strip(),
                )
            )
            if known is not None:
                continue
            story = submit_story(session, city.slug, body=body, **meta.model_dump())
            if approve_by and story.consent_to_publish:
                decide_story(session, story.id, True, approve_by)
            added.append(story)
    return added


def list_stories(
    session: Session, city_slug: str | None = None, status: StoryStatus | str | None = None
) -> list[Story]:
    query = select(Story).join(City).order_by(Story.submitted_at, Story.id)
    if city_slug is not None:
        query = query.where(City.slug == city_slug)
    if status is not None:
        try:
            query = query.where(Story.status == StoryStatus(status))
        except ValueError:
            known = ", ".join(s.value for s in StoryStatus)
            raise StoryError(
                _msg('no story status "{status}" (known: {known})'), status=status, known=known
            ) from None
    return list(session.scalars(query))


def decide_story(session: Session, story_id: int, approve: bool, by: str) -> Story:
    """Approve or reject a story; approving needs the company's consent to publish."""
    story = session.get(Story, story_id)
    if story is None:
        raise StoryError(NO_STORY, id=story_id)
    if approve and not story.consent_to_publish:
        raise StoryError(
            _msg(
                "story {id} has no consent to publish from {company}; "
                "get it in writing and set consent: true before approving"
            ),
            id=story_id,
            company=story.company_name,
        )
    story.status = StoryStatus.APPROVED if approve else StoryStatus.REJECTED
    story.decided_at = datetime.now(UTC)
    story.decided_by = by
    session.flush()
    return story


def _sent_issue_ids(session: Session, story_id: int) -> Sequence[int]:
    """The issues whose send started with the story in them, the latest first."""
    items = select(ContentItem.id).where(
        ContentItem.kind == "story", ContentItem.external_id == story_external_id(story_id)
    )
    return session.scalars(
        select(Issue.id)
        .join(IssueItem, IssueItem.issue_id == Issue.id)
        .where(
            IssueItem.item_id.in_(items),
            IssueItem.lead.is_(True),
            Issue.send_started_at.is_not(None),
        )
        .order_by(Issue.send_started_at.desc(), Issue.id.desc())
    ).all()


def story_went_out(session: Session, story: Story) -> bool:
    """Whether the story went out in an issue (one whose send started): an issue holding
    it, or the one kept on the story when it was featured again."""
    return story.issue_id is not None or bool(_sent_issue_ids(session, story.id))


def feature_again(session: Session, story_id: int) -> Story:
    """Let an already used story appear in the next issue once more.

    Its items are given back to the pool; the latest issue that sent it is kept on
    the story (``issue_id``), so it is still known to have gone out."""
    story = session.get(Story, story_id)
    if story is None:
        raise StoryError(NO_STORY, id=story_id)
    sent = _sent_issue_ids(session, story_id)
    if sent:
        story.issue_id = sent[0]
    items = select(ContentItem.id).where(ContentItem.external_id == story_external_id(story_id))
    session.execute(delete(IssueItem).where(IssueItem.item_id.in_(items)))
    for item in session.scalars(
        select(ContentItem).where(ContentItem.external_id == story_external_id(story_id))
    ):
        item.first_seen_at = datetime.now(UTC)
    session.flush()
    return story


def _used_story_ids(session: Session) -> set[int]:
    used = session.scalars(
        select(ContentItem.external_id)
        .join(IssueItem, IssueItem.item_id == ContentItem.id)
        .where(ContentItem.kind == "story", IssueItem.lead.is_(True))
    )
    return {int(e.split(":", 1)[1]) for e in used if e.split(":", 1)[-1].isdigit()}


def story_item(story: Story) -> RawItem:
    """The story as a content item: its text, and each staff translation (a title and a
    text) as the item's translation into that language."""
    intro = f"<p><strong>{html.escape(story.company_name)}</strong></p>"
    translations = {
        str(lang): {"title": str(own["title"]), "summary_html": intro + markdown_html(own["body"])}
        for lang, own in sorted((story.translations or {}).items())
        if lang != story.language and isinstance(own, dict) and own.get("title") and own.get("body")
    }
    return RawItem(
        external_id=story_external_id(story.id),
        title=story.title,
        url=story.link,
        summary_html=intro + markdown_html(story.body),
        language=story.language,
        translations=translations,
        categories=["story"],
        published_at=story.decided_at or story.submitted_at,
        image_url=story.image_url,
    )


def refresh_story_items(session: Session, items: Sequence[ContentItem], now: datetime) -> int:
    """Bring the ``stories`` source's items among ``items`` up to their stories as they
    are now (edited or translated since they were fetched; a story held by a draft is
    not fetched again, so rebuilding the draft calls this); how many changed. Flushed."""
    wanted = {
        item.id: int(item.external_id.partition(":")[2])
        for item in items
        if item.kind == "story"
        and item.external_id.startswith("story:")
        and item.external_id.partition(":")[2].isdigit()
    }
    if not wanted:
        return 0
    sources = {item.source_id for item in items if item.id in wanted}
    own = set(
        session.scalars(
            select(SourceState.id).where(
                SourceState.id.in_(sources), SourceState.type == StoriesSource.type_name
            )
        )
    )
    stories = {
        story.id: story
        for story in session.scalars(select(Story).where(Story.id.in_(set(wanted.values()))))
    }
    changed = 0
    for item in items:
        story = stories.get(wanted.get(item.id, -1))
        if story is None or item.source_id not in own:
            continue
        values = item_fields(story_item(story), StoriesSource.item_kind)
        fresh = {name: value for name, value in values.items() if getattr(item, name) != value}
        if fresh:
            for name, value in fresh.items():
                setattr(item, name, value)
            item.updated_at = now
            changed += 1
    session.flush()
    return changed


class StoriesSource(Source):
    type_name = "stories"
    item_kind = "story"
    remote = False
    per_city = True  # each city's approved stories

    def describe(self) -> str:
        return "stories"

    def fetch(self, ctx: FetchContext) -> FetchResult:
        if ctx.session is None:
            return FetchResult(SourceStatus.ERROR, error="stories: no database session")
        used = _used_story_ids(ctx.session)
        query = (
            select(Story)
            .join(City)
            .where(
                City.slug == ctx.city,
                Story.status == StoryStatus.APPROVED,
                Story.consent_to_publish.is_(True),
                Story.listing_only.is_(False),
            )
            .order_by(Story.featured.desc(), Story.decided_at, Story.id)
        )
        items = [story_item(s) for s in ctx.session.scalars(query) if s.id not in used]
        return FetchResult(SourceStatus.OK, items=items)
