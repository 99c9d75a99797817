"""A mail that cannot be sent is logged without the person's address (or link): erasing
someone must not leave them in the web process's logs. A real server on
127.0.0.1 mails through SMTP to a port where nothing listens."""

from __future__ import annotations

import logging
import re

import httpx
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from outreach.campaigns import load
from outreach.settings import Settings
from outreach.subscriptions import SignUp, add_subscriber, token_for
from outreach.web import create_app
from tests.web.conftest import csrf_of
from tests.web.live import generous_limits
from tests.web.test_server import eventually, free_port, running

ADDRESS = "logcheck.person@yritys.fi"


@pytest.fixture
def outage(settings: Settings) -> Settings:
    """The web app's settings, mailing to an SMTP port where nothing listens."""
    port = free_port()
    return settings.model_copy(
        update={
            "base_url": f"http://127.0.0.1:{free_port()}",
            "mail_url": f"smtp://127.0.0.1:{port}?starttls=false",
        }
    )


def _port(settings: Settings) -> int:
    return int(settings.base_url.rsplit(":", 1)[1])


def server_log(caplog: pytest.LogCaptureFixture) -> str:
    """What the web process logged (not the test's own HTTP client)."""
    return "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("httpx"))


def test_a_failed_confirmation_mail_is_logged_without_the_address(
    outage: Settings, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    app = create_app(outage, rate_limiter=generous_limits())
    with running(app, _port(outage)), httpx.Client(base_url=outage.base_url) as browser:
        token = csrf_of(browser.get("/jarvenpaa/subscribe?lang=fi").text)
        data = {"email": ADDRESS, "topics": ["climate"], "consent": "v", "csrf_token": token}
        assert browser.post("/jarvenpaa/subscribe?lang=fi", data=data).status_code == 200
        assert eventually(lambda: "confirmation mail for jarvenpaa not sent" in caplog.text)
    assert "not sent (temporary: cannot connect to 127.0.0.1" in server_log(caplog)
    assert ADDRESS not in server_log(caplog).lower()


def test_a_failed_data_export_mail_is_logged_without_the_address_or_link(
    outage: Settings, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    config = load(outage.campaigns_path)
    with Session(engine) as s:
        signup = SignUp.clean(config, "vantaa", email=ADDRESS, topics=["climate"])
        sub = add_subscriber(
            s, outage, config, "vantaa", signup, None, confirmed=True, consent_note="test"
        )
        assert sub is not None
        s.commit()
        token = token_for(outage, sub, "preferences")
    caplog.set_level(logging.INFO)
    app = create_app(outage, rate_limiter=generous_limits())
    with running(app, _port(outage)), httpx.Client(base_url=outage.base_url) as browser:
        page = browser.get(f"/preferences/{token}?lang=fi")
        data = {"lang": "fi", "csrf_token": csrf_of(page.text)}
        asked = browser.post(f"/preferences/{token}/data", data=data)
        # a link not sent gives its share of the mailbox's cap back: asking again tries again
        again = browser.post(f"/preferences/{token}/data", data=data)
    for answer in (asked, again):
        assert answer.status_code == 200 and "Linkkiä ei juuri nyt voitu lähettää" in answer.text
    logged = server_log(caplog)
    assert re.search(r"data export link for vantaa not sent: cannot connect to 127.0.0.1", logged)
    assert ADDRESS not in logged.lower() and token not in logged
