"""Languages on the pages: only the city's on the preferences page; examples that hold."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from outreach.models import Subscriber, Subscription
from outreach.settings import Settings
from outreach.subscriptions import RecordingMailer, token_for
from outreach.validation import validate_business_id
from tests.web.conftest import TestClient, csrf_of
from tests.web.test_pages import local, sign_up

LANGUAGE_RADIO = re.compile(r'name="language" type="radio" value="(\w+)"')


def preferences_path(client: TestClient, mailer: RecordingMailer, engine: Engine) -> str:
    confirm = local(mailer.sent[-1].confirm_url)
    page = client.get(confirm)
    client.post(confirm, data={"csrf_token": csrf_of(page.text)})
    settings: Settings = client.app.state.outreach.settings  # type: ignore[attr-defined]
    with Session(engine) as s:
        sub = s.scalars(select(Subscription)).one()
        return f"/preferences/{token_for(settings, sub, 'preferences')}"


def test_preferences_offer_only_the_languages_the_city_sends(
    client: TestClient, mailer: RecordingMailer, engine: Engine
) -> None:
    sign_up(client, city="kerava")
    path = preferences_path(client, mailer, engine)
    page = client.get(path + "?lang=fi")
    assert page.status_code == 200
    # Kerava sends in Finnish only: no English or Swedish choice that would give Finnish
    assert LANGUAGE_RADIO.findall(page.text) == []
    assert '<input type="hidden" name="language" value="fi">' in page.text
    refused = client.post(
        path + "?lang=fi",
        data={"cities": ["kerava"], "language": "en", "csrf_token": csrf_of(page.text)},
    )
    assert refused.status_code == 400
    assert "Valitse jokin tarjolla olevista kielistä" in refused.text
    with Session(engine) as s:
        assert s.scalars(select(Subscriber.language)).one() == "fi"


def test_preferences_of_a_vantaa_reader_offer_finnish_and_swedish(
    client: TestClient, mailer: RecordingMailer, engine: Engine
) -> None:
    sign_up(client, city="vantaa", language="sv")
    page = client.get(preferences_path(client, mailer, engine) + "?lang=sv")
    assert LANGUAGE_RADIO.findall(page.text) == ["fi", "sv"]


@pytest.mark.parametrize("path", ["/vantaa/subscribe", "/vantaa/embed"])
@pytest.mark.parametrize("lang", ["fi", "sv", "en"])
def test_the_example_business_id_passes_its_own_check(
    client: TestClient, path: str, lang: str
) -> None:
    page = client.get(f"{path}?lang={lang}").text
    examples = re.findall(r"\b\d{7}-\d\b", page)
    assert examples
    for example in examples:
        assert validate_business_id(example) == example


def test_the_example_in_the_business_id_error_is_valid(client: TestClient) -> None:
    page = sign_up(client, business_id="7654321-0")
    assert page.startswith("400:")
    message = re.search(r'<span id="business_id-error" class="error">([^<]+)</span>', page)
    assert message is not None
    examples = re.findall(r"\b\d{7}-\d\b", message[1])
    assert examples
    for example in examples:
        assert validate_business_id(example) == example


def test_the_archive_page_honours_lang_and_says_it_varies(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    from datetime import UTC, datetime

    from outreach.campaigns import load, sync
    from outreach.models import Campaign, City, Issue, IssueStatus

    languages = {
        code: {
            "subject": f"Subject {code}",
            "preheader": "",
            "period_label": "joulukuu 2026",
            "title": f"Title {code}",
            "intro": "",
            "sections": [],
            "city": {
                "slug": "vantaa", "name": "Vantaa", "timezone": "Europe/Helsinki",
                "sender_name": "Vantaa", "sender_address": "ilmasto@vantaa.fi", "reply_to": None,
                "postal_address": "Asematie 7", "website": "https://www.vantaa.fi",
                "color": "#00587a", "logo_url": None, "logo_width": 160, "logo_height": 48,
            },
        }
        for code in ("fi", "sv")
    }  # fmt: skip
    snapshot = {
        "version": 1, "kind": "newsletter", "campaign": "vantaa-monthly", "city": "vantaa",
        "template": "newsletter", "period": "2026-12", "number": 1,
        "built_at": "2026-12-01T07:00:00+00:00", "languages": languages,
    }  # fmt: skip
    with Session(engine) as s:
        sync(s, load(settings.campaigns_path))
        vantaa = s.scalars(select(City).where(City.slug == "vantaa")).one()
        camp = Campaign(slug="vantaa-monthly", city_id=vantaa.id, kind="newsletter")
        s.add(camp)
        s.flush()
        issue = Issue(
            campaign_id=camp.id, period="2026-12", status=IssueStatus.SENT, snapshot=snapshot,
            sent_at=datetime(2026, 12, 1, 7, tzinfo=UTC),
        )  # fmt: skip
        s.add(issue)
        s.commit()
        issue_id = issue.id
    swedish = client.get(f"/vantaa/archive/{issue_id}?lang=sv")
    assert swedish.status_code == 200 and "Title sv" in swedish.text
    # a public page like the others: its content the main landmark, the city's links
    assert swedish.text.count("<main>") == 1 and "</main>" in swedish.text
    links = {
        text: href for href, text in re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', swedish.text)
    }
    assert links["Dataskyddsbeskrivning"] == "https://www.vantaa.fi/fi/tietosuoja"
    assert links["Tillgänglighetsutlåtande"] == (
        "https://outreach.example.fi/vantaa/accessibility?lang=sv"
    )
    assert links["Nyhetsbrevsarkiv"] == "https://outreach.example.fi/vantaa/archive?lang=sv"
    assert "Accept-Language" in swedish.headers["vary"]
    with Session(engine) as s:
        row = s.get(Issue, issue_id)
        assert row is not None
        row.snapshot = {**snapshot, "send_as": {"fi": "fi", "sv": None}}
        s.commit()
    skipped = client.get(f"/vantaa/archive/{issue_id}?lang=sv")
    assert "Title fi" in skipped.text  # Swedish was skipped: no empty page


@pytest.mark.parametrize(
    ("path", "lang", "expected"),
    [
        ("/vantaa/subscribe", "fi", "Vantaan ilmastouutiset yrityksille"),
        ("/jarvenpaa/subscribe", "fi", "Järvenpään ilmastouutiset yrityksille"),
        ("/vantaa/subscribe", "sv", "Vandas klimatnyheter för företag"),
        ("/kerava/archive", "fi", "Keravan uutiskirjearkisto"),
    ],
)
def test_city_names_in_running_text_are_inflected(
    client: TestClient, path: str, lang: str, expected: str
) -> None:
    page = client.get(f"{path}?lang={lang}").text
    assert expected in page


def test_confirm_and_unsubscribe_pages_have_no_city_in_brackets(
    client: TestClient, mailer: RecordingMailer, engine: Engine
) -> None:
    sign_up(client, city="vantaa")
    confirm = local(mailer.sent[-1].confirm_url)
    page = client.get(confirm + "?lang=fi").text
    assert "Vahvista, että haluat tilata Vantaan ilmastouutiset yrityksille." in page
    done = client.post(confirm + "?lang=fi", data={"csrf_token": csrf_of(page)}).text
    assert "Saat jatkossa Vantaan ilmastouutiset yrityksille." in done
    settings: Settings = client.app.state.outreach.settings  # type: ignore[attr-defined]
    with Session(engine) as s:
        sub = s.scalars(select(Subscription)).one()
        unsub = f"/unsubscribe/{token_for(settings, sub, 'unsubscribe')}?lang=fi"
    page = client.get(unsub).text
    assert "Vantaan ilmastouutiset" in page and "(Vantaa)" not in page
    left = client.post(unsub, data={"csrf_token": csrf_of(page)}).text
    assert "Et saa enää Vantaan ilmastouutisia." in left
