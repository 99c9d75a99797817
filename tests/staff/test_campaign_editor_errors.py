"""The campaign editor's errors: every one at once, each in the reader's language.

One submit (Save or Check) shows every error of the form, each beside its field
and in the list at the top; the subject's unknown placeholder and what "Try this
source" found are said in Finnish, Swedish or English, not in the validator's or
the fetcher's English.
"""

from __future__ import annotations

import contextlib
import http.server
import threading
import time
from collections.abc import Iterator

import pytest
from markupsafe import escape
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from outreach.campaigns import console, load
from outreach.settings import Settings
from outreach.sources import fetch_error, status_word
from outreach.staff import authoring
from tests.staff.support import csrf_of
from tests.staff.test_campaigns_console import CAMPAIGNS, TEMPLATES, editor_fields, signed_in
from tests.web.conftest import TestClient

UNKNOWN = {
    "fi": "Tuntematon nimi {{ issue.period_lable }}; käytettävissä: {{ city.name }}, "
    "{{ issue.number }}, {{ issue.period }}, {{ issue.period_label }}.",
    "sv": "Okänt namn {{ issue.period_lable }}; du kan använda: {{ city.name }}, "
    "{{ issue.number }}, {{ issue.period }}, {{ issue.period_label }}.",
    "en": "Unknown name {{ issue.period_lable }}; you can use: {{ city.name }}, "
    "{{ issue.number }}, {{ issue.period }}, {{ issue.period_label }}.",
}


def shown_beside(html: str, element: str, message: str) -> None:
    """``message`` is the error of the field ``element``, tied to it and linked from the list."""
    assert f'<span class="error field-error" id="{element}-err">{escape(message)}</span>' in html
    tag = html.split(f'id="{element}"')[1].split(">")[0]
    assert 'aria-invalid="true"' in tag and f'aria-describedby="{element}-err' in tag
    assert f'<a href="#{element}">' in html


@pytest.mark.parametrize("action", ["save", "check"])
def test_one_submit_shows_every_error_at_once(
    engine: Engine, client: TestClient, action: str
) -> None:
    signed_in(engine, client, "toimittaja@vantaa.fi", "editor", "vantaa")
    token = csrf_of(client.get("/staff/vantaa/campaigns/new?lang=fi").text)
    fields = {
        **editor_fields(token, "ftp://bad"), "slug": "Vantaa Kampanja!",
        "languages": ["fi", "sv"], "subject_fi": "Uutiset {{ issue.period_lable }}", "hour": "25",
    }  # fmt: skip
    page = client.post("/staff/vantaa/campaigns/new?lang=fi", data={**fields, "action": action})
    assert page.status_code == (422 if action == "save" else 200)
    html = page.text
    # the form's own error (the hour), the schema's (the short name) and the
    # cross-checks (the Swedish subject, the source's address, the placeholder)
    shown_beside(html, "f-sk", "Odotettiin kellonaikaa, esim. 9.00.")
    shown_beside(html, "f-slug", "Käytä pieniä kirjaimia a–z, numeroita ja yhdysviivoja.")
    shown_beside(html, "f-subject-sv", "Teksti puuttuu kielellä ruotsi.")
    shown_beside(html, "f-subject-fi", UNKNOWN["fi"])
    shown_beside(html, "f-sections-0-sources-0-url",
                 "Odotettiin osoitetta, joka alkaa https:// tai http://.")  # fmt: skip
    assert "dict object" not in html and "has no attribute" not in html
    assert 'value="Vantaa Kampanja!"' in html  # what was typed stays
    with Session(engine) as s:
        assert console.rows(s, "vantaa") == []  # nothing written


@pytest.mark.parametrize("lang", ["fi", "sv", "en"])
def test_an_unknown_placeholder_is_named_in_the_readers_language(
    engine: Engine, client: TestClient, lang: str
) -> None:
    signed_in(engine, client, "toimittaja@kerava.fi", "editor", "kerava")
    token = csrf_of(client.get(f"/staff/kerava/campaigns/new?lang={lang}").text)
    fields = {**editor_fields(token, "https://www.kerava.fi/feed/"),
              "subject_fi": "Uutiset {{ issue.period_lable }}", "action": "check"}  # fmt: skip
    page = client.post(f"/staff/kerava/campaigns/new?lang={lang}", data=fields)
    shown_beside(page.text, "f-subject-fi", UNKNOWN[lang])


def test_every_error_of_a_document_at_once_in_the_stage() -> None:
    config = load(CAMPAIGNS, TEMPLATES)
    document = {
        "slug": "Vantaa Kampanja!", "kind": "newsletter", "city": "vantaa",
        "languages": ["fi", "sv"], "schedule": {"day": "1st tue", "hour": 9},
        "subject": {"fi": "Uutiset {{ issue.period_lable }}"},
        "sections": [{"id": "news", "kind": "news", "title": {"fi": "Uutiset", "sv": "Nyheter"},
                      "max_items": 0, "sources": [{"type": "rss", "url": "ftp://bad"}]}],
    }  # fmt: skip
    camp, errors, _ = console.check_document(config, document)
    assert camp is None
    paths = [line.partition(": ")[0] for line in errors]
    assert paths == ["slug", "sections.0.max_items", "subject", "subject.fi",
                     "sections.0.sources.0.url"]  # fmt: skip
    # a required value missing: the schema's errors alone, as before
    _, errors, _ = console.check_document(config, {**document, "sections": []})
    assert [line.partition(": ")[0] for line in errors] == ["slug", "sections"]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"fetch_allowed_hosts": ["127.0.0.1"], "fetch_retries": 0})


@pytest.mark.parametrize(
    ("lang", "status", "said"),
    [
        ("fi", "Tila: epäonnistui.", "Osoite 127.0.0.2 (127.0.0.2) on paikallisessa tai "
         "yksityisessä verkossa, joten sitä ei haeta."),
        ("sv", "Status: misslyckades.", "Adressen 127.0.0.2 (127.0.0.2) finns i ett lokalt "
         "eller privat nätverk och hämtas därför inte."),
        ("en", "Status: failed.", "The address 127.0.0.2 (127.0.0.2) is in a local or private "
         "network, so it is not fetched."),
    ],
)  # fmt: skip
def test_try_a_source_says_why_in_the_readers_language(
    engine: Engine, client: TestClient, lang: str, status: str, said: str
) -> None:
    signed_in(engine, client, "toimittaja@kerava.fi", "editor", "kerava")
    token = csrf_of(client.get(f"/staff/kerava/campaigns/new?lang={lang}").text)
    fields = {**editor_fields(token, "http://127.0.0.2:9/feed.xml"), "op": "try:0.0"}
    html = client.post(f"/staff/kerava/campaigns/new?lang={lang}", data=fields).text
    trial = html.split('id="trial"')[1].split("</div>")[0]
    assert status in trial and said in trial
    assert "is not public" not in trial and "OUTREACH_FETCH_ALLOWED_HOSTS if" not in trial


@pytest.fixture(scope="module")
def odd_server() -> Iterator[str]:
    """A server that answers slowly, with 404, with a web page and with too much."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/slow":
                time.sleep(3)
            code = 404 if self.path == "/missing" else 200
            body = b"x" * 5000 if self.path == "/big" else b"<html><p>Kerava</p></html>"
            self.send_response(code)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            if code == 200:
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)  # the fetcher may stop reading at its limit

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("path", "fi", "sv"),
    [
        ("/slow", "Palvelin ei vastannut ajoissa.", "Servern svarade inte i tid."),
        ("/missing", "Palvelin vastasi HTTP-tilalla 404.", "Servern svarade med HTTP-status 404."),
        ("/page", "Osoitteesta ei saa RSS- tai Atom-syötettä (se voi olla verkkosivu).",
         "Adressen ger inget RSS- eller Atom-flöde (den kan vara en webbsida)."),
        ("/big", "Vastaus on liian suuri: yli 1 kt.", "Svaret är för stort: över 1 kB."),
    ],
)  # fmt: skip
def test_the_common_fetch_errors_are_said_in_finnish_and_swedish(
    settings: Settings, odd_server: str, path: str, fi: str, sv: str
) -> None:
    config = load(CAMPAIGNS, TEMPLATES)
    tight = settings.model_copy(update={"fetch_read_timeout": 1.0, "fetch_max_bytes": 1024})
    section = {"id": "news", "kind": "news", "title": {"fi": "Uutiset"},
               "sources": [{"type": "rss", "url": odd_server + path}]}  # fmt: skip
    view = authoring.try_section_source(tight, config, "kerava", section)
    assert view.status == "error" and view.error
    assert fetch_error(view.error, "fi") == fi
    assert fetch_error(view.error, "sv") == sv
    assert status_word(view.status, "fi") == "epäonnistui"


def test_an_unknown_fetch_error_keeps_its_detail_after_a_localised_lead() -> None:
    said = fetch_error("http://x.fi/feed: cannot parse: ValueError", "fi")
    assert said == "Haku ei onnistunut: http://x.fi/feed: cannot parse: ValueError"
    assert fetch_error(None, "fi") is None
