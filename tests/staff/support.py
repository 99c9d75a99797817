"""Staff test helpers: accounts in every role, a movable clock, signing in."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from outreach.campaigns import Config
from outreach.models import City, Issue, IssueStatus, StaffUser, Story, StoryStatus
from outreach.settings import Settings
from outreach.staff import accounts
from outreach.staff.secrets import hash_password, totp_code

PASSWORD = "correct horse battery staple"
CITIES = {"vantaa", "kerava", "jarvenpaa"}
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Clock:
    """The console's time; tests move it instead of sleeping."""

    now: datetime = field(default_factory=lambda: datetime(2026, 12, 1, 8, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def move(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def make_account(
    engine: Engine,
    email: str,
    role: str,
    city: str | None,
    *,
    password: str = PASSWORD,
    totp_secret: str | None = None,
    confirmed: bool = True,
) -> None:
    """An account with a known password (and a TOTP secret, enrolled or not)."""
    with Session(engine, expire_on_commit=False) as s:
        accounts.add(s, email, role=role, city=city, known_cities=CITIES, by="test")
        user = s.query(StaffUser).filter_by(email=email).one()
        user.password_hash = hash_password(password)
        if totp_secret is not None:
            user.totp_secret = totp_secret
            user.totp_confirmed_at = datetime(2026, 1, 1, tzinfo=UTC) if confirmed else None
        s.commit()


def csrf_of(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def code(secret: str, clock: Clock) -> str:
    return totp_code(secret, clock.now)


def make_city_issue(
    session: Session,
    config: Config,
    slug: str,
    *,
    by: str = "outreach",
    period: str = "2026-12",
    titles: Sequence[str] = ("Aurinkopaneelit yrityksille",),
    url: str = "http://127.0.0.1:9/uutinen",
) -> Issue:
    """A draft of ``slug`` built by ``by``, with one news item per language."""
    from outreach.campaigns import sync
    from outreach.issues import record_event
    from outreach.issues.build import _snapshot

    rows = sync(session, config)
    campaign = config.campaign(slug)
    entries = [
        {"id": i + 1, "kind": "news", "title": t, "summary": f"{t}: lyhyt kuvaus.",
         "language": "fi", "fallback": False, "url": url, "image_url": None,
         "published_at": "2026-11-20T08:00:00+00:00", "starts_at": None, "ends_at": None,
         "all_day": False, "ends_date_only": False, "location": None, "online_url": None,
         "is_online": False, "price": None, "event_status": None, "also_starts": [],
         "company": ""}
        for i, t in enumerate(titles)
    ]  # fmt: skip
    section = campaign.sections[0]  # type: ignore[union-attr]
    sections = {
        lang: [{"id": section.id, "kind": section.kind, "title": section.id, "intro": "",
                "entries": entries}]
        for lang in campaign.languages
    }  # fmt: skip
    now = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
    issue = Issue(
        campaign_id=rows[slug].id,
        period=period,
        status=IssueStatus.DRAFT,
        snapshot=_snapshot(config, campaign, period, 1, now, sections),
        built_at=now,
    )
    session.add(issue)
    session.flush()
    record_event(session, issue, "built", by=by, now=now)
    session.commit()
    return issue


def make_subscriber(engine: Engine, settings: Settings, config: Config, city: str) -> int:
    """A confirmed subscriber of ``city`` who welcomes a visit (a lead); their id."""
    from outreach.subscriptions import SignUp, add_subscriber, note_interest

    with Session(engine) as s:
        signup = SignUp.clean(config, city, email=f"tilaaja@{city}-yritys.fi", company_name=city)
        sub = add_subscriber(s, settings, config, city, signup, None, confirmed=True,
                             consent_note="test")  # fmt: skip
        assert sub is not None
        note_interest(sub.subscriber, visit=True, now=datetime(2026, 11, 1, tzinfo=UTC))
        s.commit()
        return sub.subscriber_id


def make_story(
    session: Session,
    city: str,
    *,
    story_id: int | None = None,
    title: str = "Aurinkoa katolle",
    language: str = "fi",
    contact: str | None = "yhteys@yritys.fi",
    consent: bool = True,
) -> Story:
    """A submitted story of ``city`` (the city row must exist: sync the campaigns first)."""
    row = session.query(City).filter_by(slug=city).one()
    story = Story(
        city_id=row.id,
        company_name="Aurinko Oy",
        title=title,
        body="Asensimme **aurinkopaneelit** katolle.\n\n<script>alert(1)</script>",
        language=language,
        contact_email=contact,
        consent_to_publish=consent,
        status=StoryStatus.SUBMITTED,
    )
    if story_id is not None:
        story.id = story_id
    session.add(story)
    session.flush()
    return story
