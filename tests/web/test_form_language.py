"""The sign-up form's language: the consent record keeps the wording the form showed,
in the page's language (which may differ from the newsletter's), and where it was
shown; a newsletter language the city does not send in is refused. A real server
on 127.0.0.1, posting what a browser posts: the form's action and its fields."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from outreach.settings import Settings
from outreach.subscriptions import show
from tests.web.live import LiveServer, live_server


@pytest.fixture
def live(settings: Settings, engine: Engine) -> Any:
    with live_server(settings) as server:
        yield server


def form_of(page: str) -> tuple[str, dict[str, Any], str]:
    """The form's action, its hidden fields and the consent wording it shows."""
    action = re.search(r'<form method="post" action="([^"]+)"', page)
    assert action is not None
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', page))
    consent = re.search(r'<label for="consent">(.*?)</label>', page, re.S)
    assert consent is not None
    return html.unescape(action[1]), hidden, html.unescape(consent[1])


def consent_given(live: LiveServer, engine: Engine, email: str) -> dict[str, Any]:
    """The consent record of ``email``'s sign-up, once it is written: its confirmation
    mail goes out after the commit."""
    assert live.wait_for_mail(email), "the sign-up was not recorded"
    with Session(engine) as s:
        data = show(s, live.settings, email)
    assert data is not None
    (sub,) = data["subscriptions"]
    (given,) = [c for c in sub["consent"] if c["action"] == "given"]
    return dict(given)


@pytest.mark.parametrize(
    ("path", "email", "words"),
    [
        ("/kerava/subscribe?lang=sv", "svensk@kerava-test.fi", "Jag godkänner att Kervo"),
        ("/vantaa/subscribe?lang=en", "english@vantaa-test.fi", "I agree that Vantaa"),
        ("/vantaa/embed?lang=en", "embedded@vantaa-test.fi", "I agree that Vantaa"),
        ("/vantaa/embed?lang=sv", "inbaddad@vantaa-test.fi", "Jag godkänner att Vanda"),
    ],
)
def test_the_consent_record_keeps_the_wording_the_form_showed(
    live: LiveServer, engine: Engine, path: str, email: str, words: str
) -> None:
    with httpx.Client(base_url=live.url) as browser:
        page = browser.get(path)
        action, hidden, shown = form_of(page.text)
        assert shown.startswith(words)
        data = {**hidden, "email": email, "topics": ["climate"], "consent": "v"}
        assert browser.post(action, data=data).status_code == 200
    given = consent_given(live, engine, email)
    assert given["consent_text"] == shown
    assert given["detail"] == live.url + path  # the form, in the language it was read in


def test_the_form_language_travels_with_the_post(live: LiveServer, engine: Engine) -> None:
    """A form read in Swedish (Accept-Language) and posted to its bare address by a
    browser now asking for Finnish is still the Swedish form."""
    with httpx.Client(base_url=live.url) as browser:
        page = browser.get("/kerava/subscribe", headers={"Accept-Language": "sv"})
        _, hidden, shown = form_of(page.text)
        assert shown.startswith("Jag godkänner att Kervo")
        data = {**hidden, "email": "svensk2@kerava-test.fi", "topics": ["climate"], "consent": "v"}
        done = browser.post("/kerava/subscribe", data=data, headers={"Accept-Language": "fi"})
        assert done.status_code == 200 and '<html lang="sv">' in done.text
    given = consent_given(live, engine, "svensk2@kerava-test.fi")
    assert given["consent_text"] == shown
    assert given["detail"] == live.url + "/kerava/subscribe?lang=sv"


def test_a_newsletter_language_the_city_does_not_send_in_is_refused(
    live: LiveServer, engine: Engine
) -> None:
    """Vantaa sends in Finnish and Swedish: a form posted with English is refused as the
    preferences page refuses it, and nothing is recorded or mailed."""
    fields = {"topics": ["climate"], "consent": "v"}
    with httpx.Client(base_url=live.url) as browser:
        for path, says in (
            ("/vantaa/subscribe?lang=fi", "Valitse jokin tarjolla olevista kielistä"),
            ("/vantaa/embed?lang=sv", "Välj ett av de språk som erbjuds"),
        ):
            action, hidden, _ = form_of(browser.get(path).text)
            data = {**hidden, **fields, "email": "add1@x.fi", "language": "en"}
            refused = browser.post(action, data=data)
            assert refused.status_code == 400 and says in refused.text
            assert 'href="#language"' in refused.text and '<fieldset id="language"' in refused.text
        action, hidden, _ = form_of(browser.get("/vantaa/subscribe?lang=fi").text)
        data = {**hidden, **fields, "email": "add2@x.fi", "language": "sv"}
        assert browser.post(action, data=data).status_code == 200
    assert live.wait_for_mail("add2@x.fi")  # the sign-ups before it would be done
    assert live.mails_to("add1@x.fi") == []
    with Session(engine) as s:
        assert show(s, live.settings, "add1@x.fi") is None
