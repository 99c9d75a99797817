"""Moderating a city's submitted company stories: the queue, edit, translate, approve,
reject with a reason mailed to the submitter, feature.

Stories come from the public form (``/stories/submit``) and from files
(``outreach stories add``); both arrive ``submitted``. Approving needs the
company's consent to publish; rejecting needs a reason, which is mailed to the
contact address in the story's language (transactional mail); a story that
already went out in an issue cannot be rejected. A featured
story comes first among the city's stories in the next issue; featuring a
story that already went out lets it appear once more. A translation (title,
text, figures, image description in another language) is what the public pages
show a reader of that language. Every action is in the audit log; a story of
another city is not found (a 404 in the console).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime

from markupsafe import Markup
from sqlalchemy import case, select
from sqlalchemy.orm import Session, object_session

from outreach.campaigns import Config
from outreach.delivery import tell_rejected
from outreach.l10n import LANGUAGES
from outreach.models import City, Story, StoryImage, StoryStatus
from outreach.settings import Settings
from outreach.sources import clean_html, feature_again, markdown_html, story_went_out
from outreach.staff import audit
from outreach.staff.workflow import Actor, Refused

MAX_REASON = 1000
MAX_BODY = 5000
#: The fields of a translation and their longest length.
TRANSLATED = {"title": 300, "body": MAX_BODY, "figures": 1000, "image_alt": 300}
#: The statuses the queue shows, in this order: what waits first.
ORDER = (StoryStatus.SUBMITTED, StoryStatus.APPROVED, StoryStatus.REJECTED)

__all__ = [
    "TRANSLATED",
    "StoryView",
    "approve",
    "edit",
    "feature",
    "queue",
    "reject",
    "story_of",
    "translate",
    "view",
]


@dataclass(frozen=True)
class StoryView:
    story: Story
    #: The body as it will appear: Markdown rendered and sanitised as the stories source does.
    html: Markup
    #: The uploaded image (re-encoded when it arrived) as a ``data:`` address, so the
    #: queue shows it before the story is published; None without one.
    image: str | None = None


def view(story: Story) -> StoryView:
    session = object_session(story)
    upload = session.get(StoryImage, story.id) if session is not None else None
    image = None
    if upload is not None:
        image = f"data:{upload.content_type};base64,{base64.b64encode(upload.data).decode()}"
    return StoryView(story, Markup(clean_html(markdown_html(story.body))), image)  # noqa: S704


def story_of(session: Session, city: str, story_id: int) -> Story | None:
    """The story ``story_id`` when it belongs to ``city``, else None (a 404)."""
    return session.scalar(
        select(Story)
        .join(City, City.id == Story.city_id)
        .where(Story.id == story_id, City.slug == city)
    )


def queue(session: Session, city: str, status: str | None = None, limit: int = 200) -> list[Story]:
    """The city's stories: submitted ones first (oldest first), then the decided, newest first."""
    rank = case({s: n for n, s in enumerate(ORDER)}, value=Story.status)
    query = select(Story).join(City, City.id == Story.city_id).where(City.slug == city)
    if status in {s.value for s in StoryStatus}:
        query = query.where(Story.status == StoryStatus(status))
    query = query.order_by(
        rank,
        case((Story.status == StoryStatus.SUBMITTED, Story.id), else_=-Story.id),
    ).limit(limit)
    return list(session.scalars(query))


def _audit(session: Session, action: str, actor: Actor, story: Story, **detail: object) -> None:
    audit.record(
        session,
        action,
        actor.email,
        city=story.city.slug,
        ip=actor.ip,
        detail={"story": story.id, **{k: v for k, v in detail.items() if v is not None}},
    )


def _decided(story: Story, status: StoryStatus, actor: Actor, now: datetime | None) -> None:
    story.status = status
    story.decided_at = now or datetime.now(UTC)
    story.decided_by = actor.email[:100]


def edit(
    session: Session,
    story: Story,
    actor: Actor,
    *,
    company: str,
    title: str,
    body: str,
    link: str = "",
) -> None:
    """Correct a story's company name, title, text or link before it goes out."""
    company, title = " ".join(company.split()), " ".join(title.split())
    text = body.replace("\r\n", "\n").strip()
    if not company or len(company) > 200 or not title or len(title) > 300:
        raise Refused("story_fields")
    if not text or len(text) > MAX_BODY or "\x00" in text:
        raise Refused("story_body")
    url = link.strip() or None
    if url is not None and (len(url) > 500 or not url.startswith("https://")
                            or any(c.isspace() for c in url)):  # fmt: skip
        raise Refused("bad_url")
    changed = [
        name
        for name, before, after in (
            ("company", story.company_name, company),
            ("title", story.title, title),
            ("body", story.body, text),
            ("link", story.link, url),
        )
        if before != after
    ]
    if not changed:
        return
    story.company_name, story.title, story.body, story.link = company, title, text, url
    session.flush()
    _audit(session, "story.edit", actor, story, fields=",".join(changed))


def translate(
    session: Session,
    story: Story,
    actor: Actor,
    lang: str,
    *,
    title: str = "",
    body: str = "",
    figures: str = "",
    image_alt: str = "",
) -> bool:
    """Write, change or (every field empty) remove the story's translation into
    ``lang``; whether anything changed. A title and a text are required, the
    figures and the image description optional (the original's are shown then)."""
    if lang not in LANGUAGES or lang == story.language:
        raise Refused("translation_language")
    fields = {
        "title": " ".join(title.split()),
        "body": body.replace("\r\n", "\n").strip(),
        "figures": figures.replace("\r\n", "\n").strip(),
        "image_alt": " ".join(image_alt.split()),
    }
    kept = {name: value for name, value in fields.items() if value}
    if kept and (not kept.get("title") or not kept.get("body")):
        raise Refused("translation_fields")
    if any(len(value) > TRANSLATED[name] or "\x00" in value for name, value in kept.items()):
        raise Refused("translation_fields")
    before = dict((story.translations or {}).get(lang) or {})
    if before == kept:
        return False
    translations = {k: v for k, v in (story.translations or {}).items() if k != lang}
    if kept:
        translations[lang] = kept
    story.translations = translations  # a new dict: the JSON column sees the change
    session.flush()
    changed = sorted(n for n in TRANSLATED if before.get(n) != kept.get(n))
    action = "story.translate" if kept else "story.untranslate"
    _audit(session, action, actor, story, lang=lang, fields=",".join(changed))
    return True


def approve(session: Session, story: Story, actor: Actor, now: datetime | None = None) -> None:
    """Approve the story for the city's next issue (needs the company's consent)."""
    if story.status == StoryStatus.APPROVED:
        return
    if not story.consent_to_publish:
        raise Refused("no_consent")
    _decided(story, StoryStatus.APPROVED, actor, now)
    story.rejection_reason = None
    session.flush()
    _audit(session, "story.approve", actor, story)


def reject(
    session: Session,
    settings: Settings,
    config: Config,
    story: Story,
    reason: str,
    actor: Actor,
    now: datetime | None = None,
) -> bool:
    """Reject the story with ``reason``, mailed to the submitter; whether the mail went out."""
    if story_went_out(session, story):
        raise Refused("story_used")
    text = reason.replace("\r\n", "\n").strip()
    if not text or len(text) > MAX_REASON or "\x00" in text:
        raise Refused("reason")
    _decided(story, StoryStatus.REJECTED, actor, now)
    story.rejection_reason = text
    story.featured = False
    session.flush()
    mailed = tell_rejected(settings, config, story.city.slug, story)
    _audit(session, "story.reject", actor, story, mailed=mailed)
    return mailed


def feature(session: Session, story: Story, featured: bool, actor: Actor) -> None:
    """Feature an approved story (first among the stories; once more if it went out)."""
    if story.status != StoryStatus.APPROVED:
        raise Refused("not_approved_story")
    story.featured = featured
    if featured:
        feature_again(session, story.id)
    session.flush()
    _audit(session, "story.feature" if featured else "story.unfeature", actor, story)
