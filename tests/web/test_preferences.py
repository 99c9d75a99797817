"""The preferences page: what it refuses, and "download my data"."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from httpx import Response
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from outreach.campaigns import load
from outreach.delivery.backends import memory
from outreach.l10n import format_datetime
from outreach.models import MailboxLimit, Subscriber, Subscription
from outreach.settings import Settings
from outreach.subscriptions import SignUp, add_subscriber, claim_export, token_for
from outreach.subscriptions.limits import claim_mailbox
from tests.web.conftest import TestClient, csrf_of

ADDRESS = "reader@yritys.fi"


@pytest.fixture
def prefs_path(settings: Settings, engine: Engine) -> str:
    """The preferences page of a confirmed Vantaa subscription (climate, trainings)."""
    config = load(settings.campaigns_path)
    with Session(engine) as s:
        signup = SignUp.clean(
            config, "vantaa", email=ADDRESS, topics=["climate", "trainings"],
            company_name="Vanha Oy",
        )  # fmt: skip
        sub = add_subscriber(s, settings, config, "vantaa", signup, None, confirmed=True,
                             consent_note="test")  # fmt: skip
        assert sub is not None
        s.commit()
        return f"/preferences/{token_for(settings, sub, 'preferences')}"


def ticked(page: str, name: str) -> list[str]:
    return re.findall(rf'name="{name}" type="checkbox" value="([^"]+)" checked', page)


def test_unticking_every_topic_is_refused_and_changes_nothing(
    client: TestClient, engine: Engine, prefs_path: str
) -> None:
    page = client.get(prefs_path + "?lang=fi")
    assert ticked(page.text, "topics") == ["climate", "trainings"]
    sent = {
        "cities": ["vantaa", "kerava"],
        "language": "sv",
        "company_name": "Uusi Oy",
        "csrf_token": csrf_of(page.text),
    }
    refused = client.post(prefs_path + "?lang=fi", data=sent)
    assert refused.status_code == 400
    assert "Valitse vähintään yksi aihe tai peru tilaus." in refused.text
    assert "Asetuksesi on tallennettu" not in refused.text
    # the unsubscribe link, and the form as the person sent it, to correct it
    unsubscribe = re.search(r'<a href="([^"]+/unsubscribe/[^"]+)">Peru tilaus</a>', refused.text)
    assert unsubscribe is not None
    assert client.get(unsubscribe[1].removeprefix("https://outreach.example.fi")).status_code == 200
    assert ticked(refused.text, "topics") == []
    assert ticked(refused.text, "cities") == ["vantaa", "kerava"]
    assert 'value="Uusi Oy"' in refused.text
    assert 'value="sv" checked' in refused.text
    with Session(engine) as s:  # nothing saved
        person = s.scalars(select(Subscriber)).one()
        assert (person.company_name, person.language) == ("Vanha Oy", "fi")
        (sub,) = s.scalars(select(Subscription)).all()
        assert (sub.city.slug, sub.topics) == ("vantaa", ["climate", "trainings"])
    swedish = client.post(prefs_path + "?lang=sv", data=sent)
    assert "Välj minst ett ämne eller avsluta prenumerationen." in swedish.text
    assert ">Avsluta prenumerationen</a>" in swedish.text


def test_one_topic_is_enough(client: TestClient, engine: Engine, prefs_path: str) -> None:
    page = client.get(prefs_path + "?lang=fi")
    data = {"cities": ["vantaa"], "topics": ["awards"], "csrf_token": csrf_of(page.text)}
    saved = client.post(prefs_path + "?lang=fi", data={**data, "language": "fi"})
    assert saved.status_code == 200 and "Asetuksesi on tallennettu" in saved.text
    with Session(engine) as s:
        assert s.scalars(select(Subscription.topics)).one() == ["awards"]


def ask_for_data(client: TestClient, prefs_path: str, lang: str = "fi") -> Response:
    page = client.get(f"{prefs_path}?lang={lang}")
    return client.post(f"{prefs_path}/data", data={"lang": lang, "csrf_token": csrf_of(page.text)})


def test_download_my_data_is_mailed_once_an_hour(
    client: TestClient, settings: Settings, engine: Engine, prefs_path: str
) -> None:
    memory.clear()
    first = ask_for_data(client, prefs_path)
    assert first.status_code == 200 and "Lähetimme linkin osoitteeseen" in first.text
    with Session(engine) as s:
        sent_at = s.scalars(select(MailboxLimit.last_sent_at)).one()
    assert sent_at is not None
    again = sent_at + timedelta(hours=1)
    if again.second or again.microsecond:  # to the minute, rounded up
        again = again.replace(second=0, microsecond=0) + timedelta(minutes=1)
    for lang, says in (
        ("fi", f"Voit pyytää sitä uudelleen {format_datetime(again, 'fi')} alkaen."),
        ("sv", f"Du kan be om den igen från {format_datetime(again, 'sv')}."),
        ("en", f"You can ask for it again from {format_datetime(again, 'en')}."),
    ):
        for _ in range(2):
            refused = ask_for_data(client, prefs_path, lang)
            assert refused.status_code == 429 and says in refused.text
    assert [m.recipients for m in memory.outbox] == [[ADDRESS]]  # one mail for seven asks
    # a link that is not the reader's answers as any bad link, cap or no cap
    page = client.get(f"{prefs_path}?lang=fi")
    tampered = prefs_path[:-1] + ("A" if prefs_path[-1] != "A" else "B")
    bad = client.post(f"{tampered}/data", data={"lang": "fi", "csrf_token": csrf_of(page.text)})
    assert bad.status_code == 404 and ADDRESS not in bad.text and "pyytää sitä" not in bad.text
    # the cap is the data link's own: the mailbox's confirmation mails are untouched
    with Session(engine) as s:
        assert claim_mailbox(s, settings, ADDRESS, datetime.now(UTC))
    memory.clear()


def test_the_data_link_cap_is_one_an_hour_and_three_a_day_per_mailbox(
    settings: Settings, engine: Engine
) -> None:
    start = datetime(2026, 12, 1, 8, 0, 30, tzinfo=UTC)
    variants = iter(["matti.m@gmail.com", "mattim+a@gmail.com", "m.a.t.t.i.m@googlemail.com"] * 9)
    answers: dict[float, datetime | None] = {}
    for minutes in (0, 10, 60, 120, 180, 1440, 1441, 1500):
        with Session(engine) as s:
            now = start + timedelta(minutes=minutes)
            answers[minutes] = claim_export(s, settings, next(variants), now)
            s.commit()
    assert answers == {
        0: None,
        10: start.replace(second=0) + timedelta(minutes=61),  # an hour after, rounded up
        60: None,
        120: None,
        180: start.replace(second=0) + timedelta(minutes=1441),  # the day's three are used
        1440: None,  # a new day
        1441: start.replace(second=0) + timedelta(minutes=1501),
        1500: None,
    }
