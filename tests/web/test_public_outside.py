"""The public pages used from outside: a real server on 127.0.0.1, its mail through
SMTP to an aiosmtpd sink, read as the people it goes to would read it."""

from __future__ import annotations

import email
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from outreach.db import dispose_engines
from outreach.models import Story
from outreach.settings import Settings
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


@pytest.fixture
def site(settings: Settings, engine: Engine, sink: Sink) -> Iterator[Site]:
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
