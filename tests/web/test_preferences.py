"""The preferences page: what it refuses, and "download my data"."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from outreach.campaigns import load
from outreach.models import Subscriber, Subscription
from outreach.settings import Settings
from outreach.subscriptions import SignUp, add_subscriber, token_for
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
