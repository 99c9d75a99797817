"""A console form refused for what was typed comes back with it, the error at its field.

No redirect that empties the form: the page again (422), every value typed
kept (never a password), each error beside its field with ``aria-invalid`` and
in the list at the top with a link to the field.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from markupsafe import escape
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from outreach.campaigns import Config, sync
from outreach.models import Issue, StaffTestAddress, Story, Subscriber
from outreach.settings import Settings
from tests.staff import test_workflow as wf
from tests.staff.support import PASSWORD, csrf_of, make_account, make_story
from tests.staff.test_drafts import approved, draft
from tests.staff.test_workflow import APPROVER, EDITOR, signed_in
from tests.web.conftest import TestClient

# the workflow tests' fixtures: Vantaa with approvers and four eyes, the memory outbox
_clean_outbox = wf._clean_outbox
app = wf.app
config = wf.config
settings = wf.settings
__all__ = ["draft"]


def refused_at(answer: Any, element: str, message: str) -> str:
    """The page came back (422) with ``message`` beside ``element`` and in the list."""
    assert answer.status_code == 422, answer.status_code
    html = str(answer.text)
    said = re.escape(str(escape(message)))
    assert re.search(rf'<span class="error field-error" id="{element}-err"[^>]*>{said}</span>',
                     html), f"{message!r} not beside #{element}"  # fmt: skip
    tag = html.split(f'id="{element}"')[1].split(">")[0]
    assert 'aria-invalid="true"' in tag and f'aria-describedby="{element}-err"' in tag
    assert re.search(rf'<div class="errors" role="alert" id="errors">.*<a href="#{element}">'
                     rf"{said}</a>", html, re.S), "not in the list at the top"  # fmt: skip
    return html


def value_of(html: str, element: str) -> str:
    """The value an input or a textarea shows."""
    found = re.search(rf'<textarea id="{element}"[^>]*>(.*?)</textarea>', html, re.S)
    if found:
        return found[1]
    found = re.search(rf'<input[^>]* id="{element}"[^>]*>', html)
    assert found, element
    got = re.search(r'value="([^"]*)"', found[0])
    return got[1] if got else ""


def post(client: TestClient, page: str, action: str, **data: Any) -> Any:
    token = csrf_of(client.get(page).text)
    return client.post(action, data={"csrf_token": token, **data}, follow_redirects=False)


def test_adding_a_subscriber_keeps_what_was_typed_and_names_each_bad_field(
    engine: Engine, client: TestClient
) -> None:
    signed_in(engine, client, EDITOR, "editor", "vantaa")
    page = "/staff/vantaa/subscribers/new?lang=fi"
    typed = {"email": "not-an-email", "company_name": "Aurinko Oy", "business_id": "1234567-8",
             "contact_name": "Aino Aurinko", "industry_code": "62010", "language": "sv",
             "size_class": "small", "topics": ["trainings"], "confirmed": "1",
             "consent_note": "Sopimus 12/2026"}  # fmt: skip
    answer = post(client, page, page, **typed)
    html = refused_at(answer, "n-email", "Anna kelvollinen sähköpostiosoite, kuten nimi@yritys.fi.")
    refused_at(answer, "n-bid", "Y-tunnuksessa on 7 numeroa, väliviiva ja oikea "
               "tarkistusnumero, kuten 0112038-9.")  # fmt: skip
    for element, value in (("n-email", "not-an-email"), ("n-company", "Aurinko Oy"),
                           ("n-bid", "1234567-8"), ("n-name", "Aino Aurinko"),
                           ("n-industry", "62010"), ("n-note", "Sopimus 12/2026")):  # fmt: skip
        assert value_of(html, element) == value
    assert '<option value="sv" selected>' in html and '<option value="small" selected>' in html
    assert 'value="trainings" checked' in html and 'value="climate" checked' not in html
    assert 'id="n-confirmed" name="confirmed" value="1" checked' in html
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Subscriber)) == 0
    # a bad business ID alone: the company and the ID stay
    again = post(client, page, page, email="aino@aurinko.fi", company_name="Aurinko Oy",
                 business_id="1234567-8")  # fmt: skip
    html = refused_at(again, "n-bid", "Y-tunnuksessa on 7 numeroa, väliviiva ja oikea "
                      "tarkistusnumero, kuten 0112038-9.")  # fmt: skip
    assert value_of(html, "n-company") == "Aurinko Oy" and value_of(html, "n-bid") == "1234567-8"
    assert 'id="n-email-err"' not in html


def test_the_other_subscriber_forms_keep_what_was_typed(
    engine: Engine, client: TestClient, settings: Settings, config: Config
) -> None:
    from tests.staff.support import make_subscriber

    sid = make_subscriber(engine, settings, config, "vantaa")
    signed_in(engine, client, APPROVER, "approver", "vantaa")
    one = f"/staff/vantaa/subscribers/{sid}"
    edited = post(client, one + "?lang=en", one + "/edit?lang=en", company_name="Uusi Oy",
                  business_id="123", contact_name="Eero", topics=["awards"])  # fmt: skip
    html = refused_at(edited, "e-business_id", "The business ID needs 7 digits, a hyphen and "
                      "the right check digit, like 0112038-9.")  # fmt: skip
    assert (
        value_of(html, "e-company_name") == "Uusi Oy" and value_of(html, "e-contact_name") == "Eero"
    )
    assert 'value="awards" checked' in html and 'value="climate" checked' not in html
    listing = "/staff/vantaa/subscribers"
    export = post(client, listing + "?lang=en", listing + "/export?lang=en", purpose="crm",
                  fmt="xlsx", status="unsubscribed")  # fmt: skip
    html = refused_at(export, "purpose", "Choose a purpose that allows the chosen status: only "
                      "a GDPR request exports people who left.")  # fmt: skip
    assert '<option value="xlsx" selected>' in html
    assert '<input type="hidden" name="status" value="unsubscribed">' in html
    upload = "/staff/vantaa/subscribers/import?lang=en"
    files = {"file": ("crm.csv", b"email\nuusi@yritys.fi\n", "text/csv")}
    token = csrf_of(client.get(upload).text)
    imported = client.post(upload, data={"csrf_token": token, "confirmed": "1"}, files=files)
    html = refused_at(imported, "i-note", "A confirmed addition needs a consent note stating "
                      "the legal basis.")  # fmt: skip
    assert 'id="i-confirmed" name="confirmed" value="1" checked' in html


def test_the_draft_editor_keeps_a_refused_item_and_introduction(
    engine: Engine, client: TestClient, draft: Issue
) -> None:
    signed_in(engine, client, EDITOR, "editor", "vantaa")
    base = f"/staff/vantaa/issues/{draft.id}"
    page = f"{base}/edit?lang=fi&edition=fi"
    long_summary = "Aurinkoa " * 222 + "x" * 3  # 2,001 characters
    assert len(long_summary) == 2001
    fields = {"edition": "fi", "section": "news", "title": "Kaupungin vinkki",
              "summary": long_summary, "url": "https://vantaa.fi/x"}  # fmt: skip
    added = post(client, page, f"{base}/items?lang=fi", **fields)
    html = refused_at(added, "add-summary", "Tiivistelmä saa olla enintään 2 000 merkkiä.")
    assert value_of(html, "add-title") == "Kaupungin vinkki"
    assert value_of(html, "add-summary") == long_summary
    assert value_of(html, "add-url") == "https://vantaa.fi/x"
    item = post(client, page, f"{base}/items/2/text?lang=fi", edition="fi", title="Pitkä " * 61,
                summary="Uusi tiivistelmä")  # fmt: skip
    html = refused_at(item, "title-2", "Kirjoita yksirivinen otsikko, enintään 300 merkkiä.")
    assert value_of(html, "title-2") == "Pitkä " * 61
    assert value_of(html, "summary-2") == "Uusi tiivistelmä"
    assert re.search(r'<li id="item-2">.*?<details open>', html, re.S)  # its form is open
    intro = post(client, page, f"{base}/intro?lang=fi", edition="fi", intro="Hei " * 1300)
    html = refused_at(intro, "intro", "Johdanto saa olla enintään 5 000 merkkiä.")
    assert value_of(html, "intro") == "Hei " * 1300
    with Session(engine) as s:
        issue = s.get(Issue, draft.id)
        assert issue is not None
        fi = issue.snapshot["languages"]["fi"]
        assert not fi.get("intro") and "Kaupungin vinkki" not in str(fi["sections"])


def test_the_issue_page_keeps_a_refused_test_list_subject_and_time(
    engine: Engine, client: TestClient, draft: Issue, settings: Settings, config: Config
) -> None:
    signed_in(engine, client, APPROVER, "approver", "vantaa")
    base = f"/staff/vantaa/issues/{draft.id}"
    listed = "not-an-email\ntesti@vantaa.fi"
    saved = post(client, f"{base}?lang=fi", "/staff/vantaa/test-addresses?lang=fi",
                 addresses=listed, issue=str(draft.id))  # fmt: skip
    html = refused_at(saved, "addresses", "”not-an-email” ei ole sähköpostiosoite: kirjoita "
                      "yksi osoite riville.")  # fmt: skip
    assert value_of(html, "addresses") == listed
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(StaffTestAddress)) == 0
    subject = post(client, f"{base}?lang=en", f"{base}/subject?lang=en", edition="sv",
                   subject="Vandas klimatnytt " * 12)  # fmt: skip
    html = refused_at(subject, "subject-sv", "Write a subject of one line, at most 200 characters.")
    assert value_of(html, "subject-sv") == "Vandas klimatnytt " * 12
    approved(engine, settings, config, draft)
    when = post(client, f"{base}?lang=en", f"{base}/schedule?lang=en", day="2026-11-30",
                time="09:00")  # fmt: skip
    html = refused_at(when, "send-day", "The time to send is in the past: give a later one.")
    assert value_of(html, "send-day") == "2026-11-30" and value_of(html, "send-time") == "09:00"


@pytest.fixture
def cities(engine: Engine, config: Config) -> None:
    with Session(engine) as s:
        sync(s, config)
        s.commit()


def test_the_story_forms_keep_what_was_typed(
    engine: Engine, cities: None, client: TestClient
) -> None:
    with Session(engine) as s:
        sid = make_story(s, "vantaa").id
        s.commit()
    signed_in(engine, client, EDITOR, "editor", "vantaa")
    page = f"/staff/vantaa/stories/{sid}?lang=fi"
    base = f"/staff/vantaa/stories/{sid}"
    reason = "Tarina ei kerro ilmastoteosta. " * 35  # over 1,000 characters
    rejected = post(client, page, f"{base}/reject?lang=fi", reason=reason)
    html = refused_at(rejected, "reason", "Kirjoita hylkäyksen syy, enintään 1 000 merkkiä.")
    assert value_of(html, "reason") == reason
    edited = post(client, page, f"{base}/edit?lang=fi", company="Aurinko Oy", title=" ",
                  body="Uusi **teksti**.", link="https://aurinko.fi")  # fmt: skip
    html = refused_at(edited, "title", "Täytä yritys (enintään 200 merkkiä) ja otsikko "
                      "(enintään 300).")  # fmt: skip
    assert (
        value_of(html, "company") == "Aurinko Oy" and value_of(html, "body") == "Uusi **teksti**."
    )
    assert value_of(html, "link") == "https://aurinko.fi"
    translated = post(client, page, f"{base}/translate?lang=fi", language="sv",
                      title="Sol på taket", body="", figures="120 MWh")  # fmt: skip
    html = refused_at(translated, "body-sv", "Kirjoita käännökselle sekä otsikko (enintään 300 "
                      "merkkiä) että teksti (enintään 5 000), tai tyhjennä kaikki kentät "
                      "poistaaksesi käännöksen.")  # fmt: skip
    assert (
        value_of(html, "title-sv") == "Sol på taket" and value_of(html, "figures-sv") == "120 MWh"
    )
    with Session(engine) as s:
        story = s.get(Story, sid)
        assert story is not None and story.status.value == "submitted" and not story.translations


def test_signing_in_while_throttled_keeps_the_address(engine: Engine, client: TestClient) -> None:
    make_account(engine, "eeva@kerava.fi", "editor", "kerava")

    def sign_in(password: str) -> Any:
        page = client.get("/staff/signin?lang=en")
        data = {"email": "eeva@kerava.fi", "password": password, "csrf_token": csrf_of(page.text)}
        return client.post("/staff/signin?lang=en", data=data, follow_redirects=False)

    for _ in range(4):
        sign_in("guess")
    waiting = sign_in(PASSWORD)
    assert waiting.status_code == 429 and "Too many failed tries" in waiting.text
    assert value_of(waiting.text, "email") == "eeva@kerava.fi"
    assert PASSWORD not in waiting.text and value_of(waiting.text, "password") == ""
