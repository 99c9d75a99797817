"""The public pages used from outside: a real server on 127.0.0.1, its mail through
SMTP to an aiosmtpd sink, read as the people it goes to would read it."""

from __future__ import annotations

import email
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from outreach.campaigns import load, sync
from outreach.db import dispose_engines
from outreach.models import Campaign, Issue, IssueStatus, Story
from outreach.settings import Settings
from outreach.sources import decide_story, submit_story
from outreach.web import create_app
from tests.web.live import generous_limits
from tests.web.test_server import eventually, free_port, running

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Sink:
    """An aiosmtpd server on 127.0.0.1 keeping every message it is given."""

    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=default_policy)
        with self.lock:
            self.messages.append(message)  # type: ignore[arg-type]
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.messages if m["To"] == address]


@pytest.fixture
def sink() -> Iterator[Sink]:
    found = Sink(free_port())
    controller = Controller(found, hostname="127.0.0.1", port=found.port)
    controller.start()
    try:
        yield found
    finally:
        controller.stop()


@dataclass
class Site:
    url: str
    settings: Settings

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, follow_redirects=False)


#: A campaign of Vantaa's that goes out in Finnish and Swedish (the shipped test
#: campaigns have one of Kerava's, in Finnish only).
VANTAA_CAMPAIGN = """\
slug: vantaa-award
kind: announcement
city: vantaa
title: {fi: Vantaan ilmastopalkinto, sv: Vandas klimatpris}
languages: [fi, sv]
schedule: {month: 10, day: 1, hour: 9}
approval: manual
subject: {fi: Ehdota palkinnon saajaa, sv: Föreslå en pristagare}
body:
  fi: announcements/kerava-environmental-award.fi.md
  sv: announcements/kerava-environmental-award.fi.md
audience: {topics: [climate]}
"""


@pytest.fixture
def site(settings: Settings, engine: Engine, sink: Sink) -> Iterator[Site]:
    (settings.campaigns_path / "vantaa-award.yaml").write_text(VANTAA_CAMPAIGN)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    mail_url = f"smtp://127.0.0.1:{sink.port}?starttls=false"
    live = settings.model_copy(update={"base_url": url, "mail_url": mail_url})
    try:
        with running(create_app(live, rate_limiter=generous_limits()), port):
            yield Site(url, live)
    finally:
        dispose_engines()


def _submit(site: Site, **fields: str) -> httpx.Response:
    with site.client() as c:
        form = c.get("/stories/submit?lang=fi")
        token = CSRF.search(form.text)
        assert token is not None
        data = {
            "csrf_token": token[1], "city": "vantaa", "kind": "story",
            "company_name": "Aurinko Oy", "title": "Aurinkopaneelit katolle",
            "body": "Asensimme 200 paneelia.", "language": "fi", "consent_to_publish": "yes",
            **fields,
        }  # fmt: skip
        return c.post("/stories/submit?lang=fi", data=data)


def test_story_receipts_to_one_mailbox_are_capped(site: Site, sink: Sink, engine: Engine) -> None:
    """The form is open to anyone: sent again and again with someone else's address
    (a title of the sender's choosing in every receipt), the city mails that mailbox
    within the caps of confirmation mails, and the page says the same each time."""
    for n in range(4):
        title = f"Tilisi suljetaan, kirjaudu https://huijaus.example/{n}"
        address = "Uhri+tarina@firma.fi" if n % 2 else "uhri@firma.fi"
        answer = _submit(site, title=title, contact_email=address)
        assert answer.status_code == 200 and "Kiitos tarinastasi" in answer.text
    assert eventually(lambda: len(sink.to("uhri@firma.fi")) >= 1)
    with Session(engine) as s:
        assert len(s.scalars(select(Story)).all()) == 4  # every story is kept
    assert len(sink.to("uhri@firma.fi")) + len(sink.to("uhri+tarina@firma.fi")) == 1
    other = _submit(site, contact_email="toinen@firma.fi")
    assert other.status_code == 200
    assert eventually(lambda: len(sink.to("toinen@firma.fi")) == 1)
    receipt = sink.to("toinen@firma.fi")[0]
    assert receipt["Subject"] == "Saimme ilmastotarinasi"


def _sent(engine: Engine, settings: Settings, campaign: str, sent_at: datetime) -> int:
    """A sent issue of ``campaign`` (its web version is not read here)."""
    with Session(engine) as s:
        sync(s, load(settings.campaigns_path))
        camp = s.scalars(select(Campaign).where(Campaign.slug == campaign)).one()
        issue = Issue(campaign_id=camp.id, period="2026-12", status=IssueStatus.SENT,
                      sent_at=sent_at, snapshot={"languages": {}})  # fmt: skip
        s.add(issue)
        s.commit()
        return issue.id


def _archive_links(html: str) -> list[str]:
    return re.findall(r'<li><a href="/\w+/archive/\d+[^"]*"[^>]*>[^<]*</a>', html)


def test_archive_titles_links_and_feeds_in_one_language(
    site: Site, engine: Engine, settings: Settings
) -> None:
    """Read in Swedish, Kerava's Finnish-only issue is listed with its Finnish title
    and Finnish month, marked as Finnish; Vantaa's issue, which went out in Swedish
    too, links its Swedish web version from the page and from both feeds."""
    kerava = _sent(
        engine, settings, "kerava-environmental-award", datetime(2026, 12, 3, 12, tzinfo=UTC)
    )
    vantaa = _sent(engine, settings, "vantaa-award", datetime(2026, 12, 3, 12, tzinfo=UTC))
    with site.client() as c:
        page = c.get("/kerava/archive?lang=sv").text
        assert _archive_links(page) == [
            f'<li><a href="/kerava/archive/{kerava}?lang=fi" lang="fi" hreflang="fi">'
            "Keravan ympäristöpalkinto: joulukuu 2026</a>"
        ]
        rss = c.get("/kerava/archive.rss?lang=sv").text
        assert "<title>Keravan ympäristöpalkinto: joulukuu 2026</title>" in rss
        assert "december" not in rss and "<dc:language>fi</dc:language>" in rss
        english = c.get("/kerava/archive?lang=en").text
        assert "Keravan ympäristöpalkinto: joulukuu 2026" in english
        assert "December" not in english

        page = c.get("/vantaa/archive?lang=sv").text
        assert _archive_links(page) == [
            f'<li><a href="/vantaa/archive/{vantaa}?lang=sv">Vandas klimatpris: december 2026</a>'
        ]
        for kind in ("rss", "atom"):
            feed = c.get(f"/vantaa/archive.{kind}?lang=sv").text
            assert f"{site.url}/vantaa/archive/{vantaa}?lang=sv" in feed, feed
            assert f"{site.url}/vantaa/archive/{vantaa}?lang=fi" not in feed
            assert "Vandas klimatpris: december 2026" in feed
        assert '<entry xml:lang="sv">' in c.get("/vantaa/archive.atom?lang=sv").text
        finnish = c.get("/vantaa/archive.atom?lang=fi").text
        assert '<entry xml:lang="fi">' in finnish and "joulukuu 2026" in finnish


def test_archive_and_story_dates_are_helsinki_days(
    site: Site, engine: Engine, settings: Settings
) -> None:
    """An issue sent at 0.30 on New Year's Day in Helsinki (22.30 UTC the day before)
    is of 1.1.2027 and of the year 2027; a story approved at 1.15 on 3.3. is of 3.3."""
    issue = _sent(engine, settings, "vantaa-award", datetime(2026, 12, 31, 22, 30, tzinfo=UTC))
    with Session(engine) as s:
        story = submit_story(s, "vantaa", company="Yö Oy", title="Yötyö", body="Teksti.",
                             language="fi", consent=True)  # fmt: skip
        decide_story(s, story.id, True, "staff")
        story.decided_at = datetime(2026, 3, 2, 23, 15, tzinfo=UTC)  # 3.3. 1.15 EET
        s.commit()
        sid = story.id
    with site.client() as c:
        page = c.get("/vantaa/archive?lang=fi").text
        assert f"/vantaa/archive/{issue}?lang=fi" in page and "(pe 1.1.2027)" in page
        assert 'href="/vantaa/archive?lang=fi&amp;year=2027"' in page
        assert "year=2026" not in page
        assert f"/vantaa/archive/{issue}" in c.get("/vantaa/archive?lang=fi&year=2027").text
        assert f"/vantaa/archive/{issue}" not in c.get("/vantaa/archive?year=2026").text
        story_page = c.get(f"/vantaa/stories/{sid}?lang=sv").text
        assert '<time datetime="2026-03-03">3.3.2026</time>' in story_page
        for path in ("/vantaa/stories?lang=fi", "/vantaa/embed/stories.html?lang=fi"):
            assert '<time datetime="2026-03-03">3.3.2026</time>' in c.get(path).text


def test_story_form_names_the_field_in_error(site: Site) -> None:
    """A link the story's own check refuses is the link field's error, not the form's
    "a line break or too long"; every field in error is marked for assistive tech
    and described by its message, as on the sign-up form."""
    answer = _submit(site, link='https://aurinko.example.fi/"><script>x</script>')
    assert answer.status_code == 400
    assert "rivinvaihto tai liian pitkä" not in answer.text
    assert '<a href="#link">Anna verkko-osoite, joka alkaa https://.</a>' in answer.text
    assert 'id="link" name="link"' in answer.text
    field = re.search(r'<input id="link" [^>]*>', answer.text)
    assert field is not None and 'aria-invalid="true"' in field[0]
    assert 'aria-describedby="link-error"' in field[0]
    assert '<span id="link-error" class="error">Anna verkko-osoite' in answer.text
    unticked = _submit(site, consent_to_publish="", title="")
    assert unticked.status_code == 400
    for key in ("consent_to_publish", "title"):
        tag = re.search(rf'<(?:input|textarea) id="{key}" [^>]*>', unticked.text)
        assert tag is not None and f'aria-describedby="{key}-error"' in tag[0]
    body = re.search(r'<input id="company_name" [^>]*>', unticked.text)
    assert body is not None and "aria-invalid" not in body[0]
    fine = _submit(site, link="https://aurinko.example.fi/tarina?a=1&b=2")
    assert fine.status_code == 200


def test_untranslated_story_marks_the_reader_language_of_its_link(
    site: Site, engine: Engine, settings: Settings
) -> None:
    """A Finnish story read in English is marked Finnish; its "More about this at"
    link is English and says so, or a screen reader reads it with Finnish sounds."""
    with Session(engine) as s:
        sync(s, load(settings.campaigns_path))
        story = submit_story(s, "vantaa", company="Aurinko Oy", title="Aurinkoa",
                             body="Teksti.", language="fi", consent=True,
                             link="https://aurinko.example.fi/")  # fmt: skip
        decide_story(s, story.id, True, "staff")
        s.commit()
        sid = story.id
    with site.client() as c:
        page = c.get(f"/vantaa/stories/{sid}?lang=en").text
    assert '<article lang="fi">' in page
    assert '<p lang="en"><a href="https://aurinko.example.fi/" rel="noopener">More about' in page
