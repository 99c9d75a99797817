"""Mails about submitted company stories: the editors' digest and the rejection notice.

- :func:`story_digests` tells each city's editors (the staff accounts with the
  editor or approver role in the city, not disabled) which stories arrived
  since they were last told, at most one digest per city an hour. The
  scheduler's send pass runs it (the daemon, ``outreach run-due``); a story is
  marked told when its digest went out, so a run that finds nothing new, or
  runs within the hour, sends nothing.
- :func:`tell_rejected` mails the submitter why the story was not accepted, in
  the story's language, through the transactional mail path.

Both go through the city's mail backend, as the other transactional mails do.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outreach.campaigns import Config
from outreach.delivery.message import send_transactional
from outreach.l10n import gettext_for
from outreach.models import City, StaffGrant, StaffUser, Story, StoryStatus
from outreach.render import render_email
from outreach.settings import Settings

log = logging.getLogger(__name__)

#: The least time between two digests to one city's editors.
DIGEST_EVERY = timedelta(hours=1)
#: Staff roles whose holders moderate a city's stories.
MODERATORS = ("editor", "approver")

__all__ = ["DIGEST_EVERY", "DigestResult", "story_digests", "tell_rejected"]


@dataclass(frozen=True)
class DigestResult:
    city: str
    stories: int
    mailed: int


def city_editors(session: Session, city: str) -> list[str]:
    """The addresses of the city's editors and approvers whose account is active."""
    query = (
        select(StaffUser.email)
        .join(StaffGrant, StaffGrant.user_id == StaffUser.id)
        .where(
            StaffGrant.city == city,
            StaffGrant.role.in_(MODERATORS),
            StaffUser.disabled_at.is_(None),
        )
        .order_by(StaffUser.email)
    )
    return list(dict.fromkeys(session.scalars(query)))


def _digest(
    session: Session, settings: Settings, config: Config, city: str, now: datetime
) -> DigestResult | None:
    row = session.scalar(select(City).where(City.slug == city))
    if row is None:
        return None
    waiting = list(
        session.scalars(
            select(Story)
            .where(
                Story.city_id == row.id,
                Story.status == StoryStatus.SUBMITTED,
                Story.editors_told_at.is_(None),
            )
            .order_by(Story.submitted_at, Story.id)
        )
    )
    if not waiting:
        return None
    last = session.scalar(select(func.max(Story.editors_told_at)).where(Story.city_id == row.id))
    if last is not None and now - last < DIGEST_EVERY:
        return None
    cfg = config.cities[city]
    lang = cfg.languages[0]
    to = city_editors(session, city)
    subject = gettext_for(lang, "email", "New company stories: %(count)s") % {"count": len(waiting)}
    context = {
        "count": len(waiting),
        "stories": [{"company": s.company_name, "title": s.title} for s in waiting],
        "link": f"{settings.base_url_clean}/staff/{city}/stories?lang={lang}",
    }
    mailed = 0
    if to:
        rendered = render_email(settings, config, city, lang, "story_digest", context, subject)
        for address in to:
            if send_transactional(settings, config, city, address, rendered).ok:
                mailed += 1
    else:
        log.warning("%s: %d new stories, but the city has no editors to tell", city, len(waiting))
    if to and not mailed:
        return DigestResult(city, len(waiting), 0)  # not told: tried again on the next pass
    for story in waiting:
        story.editors_told_at = now
    session.flush()
    return DigestResult(city, len(waiting), mailed)


def story_digests(
    session: Session, settings: Settings, config: Config, now: datetime
) -> list[DigestResult]:
    """One digest per city with stories its editors have not been told of (hourly at most)."""
    results = []
    for city in sorted(config.cities):
        result = _digest(session, settings, config, city, now)
        if result is not None:
            results.append(result)
    return results


def tell_rejected(settings: Settings, config: Config, city: str, story: Story) -> bool:
    """Mail the submitter the reason the story was rejected; whether the backend took it."""
    if not story.contact_email or not story.rejection_reason:
        return False
    lang = (
        story.language if story.language in ("fi", "sv", "en") else config.cities[city].languages[0]
    )
    subject = gettext_for(lang, "email", "About your story: %(title)s") % {"title": story.title}
    context = {
        "company": story.company_name,
        "title": story.title,
        "reason": story.rejection_reason,
    }
    rendered = render_email(settings, config, city, lang, "story_rejected", context, subject)
    return send_transactional(settings, config, city, story.contact_email, rendered).ok
