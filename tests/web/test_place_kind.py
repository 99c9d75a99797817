"""A place is a city or a municipality (``kind`` in ``cities.yaml``): the pages and
mails about one place call it what it is, and a page offering several words the mix
configured, in Finnish, Swedish and English.

Three deployments: the shipped cities alone (``cities``), the municipalities of
``tests/data/municipality/cities.yaml`` alone (``municipalities``), and both
(``mixed``).
"""

from __future__ import annotations

import html
import re
from email.message import EmailMessage
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from outreach.campaigns import load
from outreach.delivery.backends import memory
from outreach.settings import Settings
from outreach.subscriptions import SignUp, add_subscriber, token_for
from tests.conftest import DATA
from tests.web.conftest import TestClient, csrf_of

MUNICIPALITIES = DATA / "municipality" / "cities.yaml"
LANGS = ("fi", "sv", "en")
NAME = {"fi": "Tuusula", "sv": "Tusby", "en": "Tuusula"}


@pytest.fixture
def places(request: pytest.FixtureRequest) -> str:
    return str(getattr(request, "param", "mixed"))


@pytest.fixture
def settings(settings: Settings, places: str) -> Settings:
    """The test's copy of the campaigns folder with the places of ``places``."""
    root: Path = settings.campaigns_path
    shipped = yaml.safe_load((root / "cities.yaml").read_text())
    ours = yaml.safe_load(MUNICIPALITIES.read_text())
    if places == "municipalities":
        (root / "kerava-environmental-award.yaml").unlink()  # Kerava's: no city here
        (root / "cities.yaml").write_text(yaml.safe_dump(ours, allow_unicode=True))
    elif places == "mixed":
        both = {**shipped, "cities": shipped["cities"] + ours["cities"]}
        (root / "cities.yaml").write_text(yaml.safe_dump(both, allow_unicode=True))
    return settings


def text_of(page: str) -> str:
    return html.unescape(page)


# --- one place ------------------------------------------------------------------

SUBSCRIBE = {  # (a municipality's sign-up form, a city's)
    "fi": (
        "Tilaa kunnan ilmastouutiset yrityksille.",
        "Tilaa kaupungin ilmastouutiset yrityksille.",
    ),
    "sv": (
        "Prenumerera på kommunens klimatnyheter för företag.",
        "Prenumerera på stadens klimatnyheter för företag.",
    ),
    "en": (
        "Subscribe to the municipality's climate news for companies.",
        "Subscribe to the city's climate news for companies.",
    ),
}


@pytest.mark.parametrize("lang", LANGS)
def test_the_sign_up_form_calls_a_municipality_a_municipality(
    client: TestClient, lang: str
) -> None:
    municipality, city = SUBSCRIBE[lang]
    tuusula = text_of(client.get(f"/tuusula/subscribe?lang={lang}").text)
    vantaa = text_of(client.get(f"/vantaa/subscribe?lang={lang}").text)
    assert municipality in tuusula and city not in tuusula
    assert city in vantaa and municipality not in vantaa


RECEIPT = {  # (the thanks page, the receipt mail) of a municipality, then of a city
    "fi": (
        "Kunnan työntekijät lukevat sen ja ottavat sinuun yhteyttä",
        "Kunnan henkilökunta lukee sen ennen kuin mitään julkaistaan.",
        "Kaupungin työntekijät lukevat sen ja ottavat sinuun yhteyttä",
        "Kaupungin henkilökunta lukee sen ennen kuin mitään julkaistaan.",
    ),
    "sv": (
        "Kommunens personal läser den och kontaktar dig",
        "Kommunens personal läser den innan något publiceras.",
        "Stadens personal läser den och kontaktar dig",
        "Stadens personal läser den innan något publiceras.",
    ),
    "en": (
        "The municipality's staff will read it and contact you",
        "The municipality's staff read it before anything is published.",
        "The city's staff will read it and contact you",
        "The city's staff read it before anything is published.",
    ),
}


def _send_story(client: TestClient, city: str, lang: str, email: str) -> str:
    form = client.get(f"/stories/submit?city={city}&lang={lang}")
    data = {
        "city": city,
        "company_name": "Aurinko Oy",
        "title": "Aurinkopaneelit katolle",
        "body": "Asensimme 200 paneelia.",
        "contact_email": email,
        "language": "fi",
        "consent_to_publish": "yes",
        "csrf_token": csrf_of(form.text),
    }
    resp = client.post(f"/stories/submit?lang={lang}", data=data)
    assert resp.status_code == 200, resp.text
    return text_of(resp.text)


def _receipt(email: str) -> tuple[str, str]:
    """The plain text and the HTML of the receipt mailed to ``email``."""
    found = [m.message for m in memory.outbox if email in m.recipients]
    assert len(found) == 1
    message: EmailMessage = found[0]
    plain, rich = message.get_body(("plain",)), message.get_body(("html",))
    assert plain is not None and rich is not None
    return str(plain.get_content()), html.unescape(str(rich.get_content()))


@pytest.mark.parametrize("lang", LANGS)
def test_a_story_sent_to_a_municipality_is_received_in_its_words(
    client: TestClient, lang: str
) -> None:
    memory.clear()
    page_m, mail_m, page_c, mail_c = RECEIPT[lang]
    thanks = _send_story(client, "tuusula", lang, f"tuusula-{lang}@aurinko.fi")
    assert page_m in thanks and page_c not in thanks
    for part in _receipt(f"tuusula-{lang}@aurinko.fi"):
        assert mail_m in part and mail_c not in part
    thanks = _send_story(client, "vantaa", lang, f"vantaa-{lang}@aurinko.fi")
    assert page_c in thanks and page_m not in thanks
    for part in _receipt(f"vantaa-{lang}@aurinko.fi"):
        assert mail_c in part and mail_m not in part


TRANSLATED = {  # a story's translation by a municipality's staff, by a city's
    "fi": ("Kunnan käännös; alkuperäisen kieli on ruotsi.", "Kaupungin käännös;"),
    "sv": ("Översatt av kommunen; originalet är på finska.", "Översatt av staden;"),
    "en": (
        "Translated by the municipality; the original is in Finnish.",
        "Translated by the city;",
    ),
}


@pytest.mark.parametrize("lang", LANGS)
def test_a_story_translated_by_a_municipality_says_so(
    client: TestClient, engine: Engine, lang: str
) -> None:
    from outreach.models import Story
    from tests.web.test_showcase import publish

    municipality, city = TRANSLATED[lang]
    pages = {}
    for place in ("tuusula", "vantaa"):
        (story,) = publish(engine, place, 1)
        with Session(engine) as s:
            row = s.get(Story, story)
            assert row is not None
            row.language = "sv" if lang == "fi" else "fi"
            row.translations = {lang: {"title": "T", "body": "B"}}
            s.commit()
        pages[place] = text_of(client.get(f"/{place}/stories/{story}?lang={lang}").text)
    assert municipality in pages["tuusula"] and city not in pages["tuusula"]
    assert city in pages["vantaa"] and municipality not in pages["vantaa"]


# --- several places ---------------------------------------------------------------

#: The story form's place field: its label and its empty choice; the sentence on who
#: reads the story while no place is chosen; the error when none was.
STORY_FORM = {
    "cities": {
        "fi": ("Kaupunki", "Valitse kaupunki", "Kaupungin työntekijät lukevat jokaisen"),
        "sv": ("Stad", "Välj en stad", "Stadens personal läser varje"),
        "en": ("City", "Choose a city", "The city's staff read every"),
    },
    "municipalities": {
        "fi": ("Kunta", "Valitse kunta", "Kunnan työntekijät lukevat jokaisen"),
        "sv": ("Kommun", "Välj en kommun", "Kommunens personal läser varje"),
        "en": ("Municipality", "Choose a municipality", "The municipality's staff read every"),
    },
    "mixed": {
        "fi": (
            "Kaupunki tai kunta",
            "Valitse kaupunki tai kunta",
            "Kaupungin tai kunnan työntekijät lukevat jokaisen",
        ),
        "sv": (
            "Stad eller kommun",
            "Välj en stad eller kommun",
            "Stadens eller kommunens personal",
        ),
        "en": (
            "City or municipality",
            "Choose a city or municipality",
            "The city's or municipality's staff read every",
        ),
    },
}


@pytest.mark.parametrize("places", ["cities", "municipalities", "mixed"], indirect=True)
@pytest.mark.parametrize("lang", LANGS)
def test_the_story_form_words_the_places_it_offers(
    client: TestClient, places: str, lang: str
) -> None:
    label, choose, staff = STORY_FORM[places][lang]
    page = text_of(client.get(f"/stories/submit?lang={lang}").text)
    assert f'<label for="city">{label}</label>' in page
    assert f'<option value="">{choose}</option>' in page
    assert staff in page
    data = {"company_name": "Aurinko Oy", "title": "T", "body": "B", "consent_to_publish": "yes"}
    sent = client.post(f"/stories/submit?lang={lang}", data={**data, "csrf_token": csrf_of(page)})
    assert sent.status_code == 400
    assert f'<a href="#city">{choose}.</a>' in text_of(sent.text)


@pytest.mark.parametrize("lang", LANGS)
def test_the_story_form_of_a_chosen_municipality_speaks_of_it(
    client: TestClient, lang: str
) -> None:
    """Opened from a municipality's pages (``?city=``): who reads and publishes the story
    is the municipality, while the field still offers every place."""
    label, _, _ = STORY_FORM["mixed"][lang]
    _, _, staff = STORY_FORM["municipalities"][lang]
    publish = {
        "fi": "Kunta saa julkaista tämän tarinan",
        "sv": "Kommunen får publicera den här berättelsen",
        "en": "The municipality may publish this story",
    }[lang]
    page = text_of(client.get(f"/stories/submit?city=tuusula&lang={lang}").text)
    assert f'<label for="city">{label}</label>' in page
    assert staff in page and publish in page


#: The preferences page's list of places and its last word, the unsubscribe page's
#: "everything" choice and what the page says after it.
EVERY = {
    "cities": {
        "fi": (
            "Kaupungit",
            "poista valinta kaikista kaupungeista ja tallenna.",
            "Kaikkien kaupunkien kaikki uutiskirjeet",
            "Et saa enää uutiskirjeitä miltään kaupungilta.",
        ),
        "sv": (
            "Städer",
            "avmarkera alla städer och spara.",
            "Alla nyhetsbrev från alla städer",
            "Du får inte längre nyhetsbrev från någon stad.",
        ),
        "en": (
            "Cities",
            "untick every city and save.",
            "All newsletters from every city",
            "You will no longer receive newsletters from any city.",
        ),
    },
    "municipalities": {
        "fi": (
            "Kunnat",
            "poista valinta kaikista kunnista ja tallenna.",
            "Kaikkien kuntien kaikki uutiskirjeet",
            "Et saa enää uutiskirjeitä miltään kunnalta.",
        ),
        "sv": (
            "Kommuner",
            "avmarkera alla kommuner och spara.",
            "Alla nyhetsbrev från alla kommuner",
            "Du får inte längre nyhetsbrev från någon kommun.",
        ),
        "en": (
            "Municipalities",
            "untick every municipality and save.",
            "All newsletters from every municipality",
            "You will no longer receive newsletters from any municipality.",
        ),
    },
    "mixed": {
        "fi": (
            "Kaupungit ja kunnat",
            "poista valinta kaikista kaupungeista ja kunnista ja tallenna.",
            "Kaikkien kaupunkien ja kuntien kaikki uutiskirjeet",
            "Et saa enää uutiskirjeitä miltään kaupungilta tai kunnalta.",
        ),
        "sv": (
            "Städer och kommuner",
            "avmarkera alla städer och kommuner och spara.",
            "Alla nyhetsbrev från alla städer och kommuner",
            "Du får inte längre nyhetsbrev från någon stad eller kommun.",
        ),
        "en": (
            "Cities and municipalities",
            "untick every city and municipality and save.",
            "All newsletters from every city and municipality",
            "You will no longer receive newsletters from any city or municipality.",
        ),
    },
}


@pytest.mark.parametrize("places", ["cities", "municipalities", "mixed"], indirect=True)
@pytest.mark.parametrize("lang", LANGS)
def test_the_emailed_links_pages_word_every_place_offered(
    client: TestClient, settings: Settings, engine: Engine, places: str, lang: str
) -> None:
    config = load(settings.campaigns_path)
    city = "vantaa" if places == "cities" else "tuusula"
    with Session(engine) as s:
        sub = add_subscriber(
            s, settings, config, city, SignUp.clean(config, city, email="x@yritys.fi"),
            None, confirmed=True, consent_note="t",
        )  # fmt: skip
        assert sub is not None
        s.commit()
        prefs_path = f"/preferences/{token_for(settings, sub, 'preferences')}?lang={lang}"
        unsub_path = f"/unsubscribe/{token_for(settings, sub, 'unsubscribe')}?lang={lang}"
    legend, stop_all, everything, stopped = EVERY[places][lang]
    prefs = text_of(client.get(prefs_path).text)
    assert f"<legend>{legend}</legend>" in prefs and stop_all in prefs
    unsub = client.get(unsub_path)
    assert f'<label for="scope-all">{everything}</label>' in text_of(unsub.text)
    done = client.post(unsub_path, data={"scope": "all", "csrf_token": csrf_of(unsub.text)})
    assert done.status_code == 200 and stopped in text_of(done.text)


def test_a_place_of_an_unknown_kind_is_a_one_line_error(tmp_path: Path) -> None:
    from outreach.campaigns import collect

    root = tmp_path / "campaigns"
    root.mkdir()
    path = root / "cities.yaml"
    path.write_text(
        MUNICIPALITIES.read_text().replace("    kind: municipality", "    kind: town", 1)
    )
    config, errors = collect(root)
    assert config is not None and set(config.cities) == {"sipoo"}  # the rest loads
    assert len(errors) == 1 and "\n" not in errors[0]
    assert errors[0].startswith(f"{path}: cities.0.kind: ")
    assert "'city' or 'municipality'" in errors[0] and "'town'" in errors[0]
    path.write_text(MUNICIPALITIES.read_text())
    config, errors = collect(root)
    assert errors == [] and config is not None
    assert {c.kind for c in config.cities.values()} == {"municipality"}


CITY_WORDS = re.compile(r"\b(kaupun\w*|stad|stadens?|städer\w*|city|city's|cities)\b", re.I)


def _words(page: str) -> str:
    """What a reader sees of a page: its text, without markup, styles or addresses."""
    page = re.sub(r"<(style|script)\b.*?</\1>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


@pytest.mark.parametrize("places", ["municipalities"], indirect=True)
@pytest.mark.parametrize("lang", LANGS)
def test_nothing_a_municipality_s_reader_sees_calls_it_a_city(
    client: TestClient, settings: Settings, engine: Engine, places: str, lang: str
) -> None:
    """Every page of a subscription's life and of sending a story, and the mails, in a
    deployment of municipalities: no "kaupunki", "stad" or "city" anywhere."""
    from outreach.render import render_email
    from outreach.subscriptions import ConfirmationMail, confirmation_mail

    memory.clear()
    config = load(settings.campaigns_path)
    with Session(engine) as s:
        sub = add_subscriber(
            s, settings, config, "tuusula", SignUp.clean(config, "tuusula", email="y@yritys.fi"),
            None, confirmed=False, consent_note="t",
        )  # fmt: skip
        assert sub is not None
        s.commit()
        paths = [
            f"/{purpose}/{token_for(settings, sub, purpose)}?lang={lang}"
            for purpose in ("confirm", "preferences", "unsubscribe")
        ]
    paths += [f"/tuusula/subscribe?lang={lang}", f"/stories/submit?lang={lang}"]
    seen = {}
    for path in paths:
        page = client.get(path)
        assert page.status_code == 200 and NAME[lang] in page.text, path
        seen[path] = _words(page.text)
    seen["thanks"] = _words(_send_story(client, "tuusula", lang, f"t-{lang}@aurinko.fi"))
    seen["receipt"] = " ".join(_receipt(f"t-{lang}@aurinko.fi"))
    mail = confirmation_mail(
        ConfirmationMail("y@yritys.fi", "tuusula", "Tuusula", lang, "https://x/c", "S", ["T"])
    )
    confirm = render_email(settings, config, "tuusula", lang, mail.template, mail.context, "S")
    seen["confirmation mail"] = confirm.text + _words(confirm.html)
    found = {where: CITY_WORDS.findall(text) for where, text in seen.items()}
    assert {where: words for where, words in found.items() if words} == {}
