"""Every link a sent e-mail carries keeps working while cities.yaml or a campaign file
is broken: the issue's web version ("open in browser"), its counted links, unsubscribe,
preferences and confirm. What truly needs cities.yaml answers 503 with Retry-After,
never a 404 that tells readers and feed readers the page is gone."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from outreach.campaigns import load, sync
from outreach.db import dispose_engines
from outreach.issues import approve_issue, build_issue, set_status
from outreach.models import IssueStatus
from outreach.render import render_issue
from outreach.settings import Settings
from outreach.subscriptions import RecordingMailer, SignUp, add_subscriber, subscribe, token_for
from outreach.web import create_app
from outreach.web.security import RateLimiter
from tests.web.conftest import TestClient, edit_cities

NOW = datetime(2026, 10, 1, 6, 0, tzinfo=UTC)
SLUG = "kerava-environmental-award"


@dataclass
class Sent:
    issue_id: int
    counted: dict[str, str]  # the e-mail's counted links: path → destination
    unsubscribe: str
    preferences: str
    confirm: str


@pytest.fixture
def sent(engine: Engine, settings: Settings) -> Sent:
    """Kerava's award call, sent (with counted links), and a reader's emailed tokens."""
    config = load(settings.campaigns_path)
    with Session(engine, expire_on_commit=False) as s:
        sync(s, config)
        issue = build_issue(s, settings, config, SLUG, now=NOW).issue
        assert issue is not None
        approve_issue(s, issue.id, by="maija", now=NOW)
        set_status(s, issue, IssueStatus.SENDING)
        set_status(s, issue, IssueStatus.SENT)
        issue.sent_at = NOW
        links = render_issue(settings, config, issue, "fi").links
        base = settings.base_url_clean
        reader = add_subscriber(
            s, settings, config, "kerava",
            SignUp.clean(config, "kerava", email="lukija@yritys.fi"), None,
            confirmed=True, consent_note="test",
        )  # fmt: skip
        pending = subscribe(
            s, settings, config, "kerava", SignUp.clean(config, "kerava", email="uusi@yritys.fi"),
            None,
        ).subscription  # fmt: skip
        assert reader is not None and pending is not None
        s.commit()
        return Sent(
            issue.id,
            {url.removeprefix(base): to for url, to in links.items()},
            token_for(settings, reader, "unsubscribe"),
            token_for(settings, reader, "preferences"),
            token_for(settings, pending, "confirm"),
        )


@pytest.fixture
def restart(settings: Settings) -> Iterator[object]:
    """``outreach serve`` started again (after the test broke a file)."""

    def started() -> TestClient:
        limits = RateLimiter({"form": (10_000, 100.0), "unsubscribe": (10_000, 100.0)})
        app = create_app(settings, mailer=RecordingMailer(), rate_limiter=limits)
        return TestClient(app, base_url="https://testserver")

    yield started
    dispose_engines()


def emailed_links_work(client: TestClient, sent: Sent) -> None:
    page = client.get(f"/kerava/archive/{sent.issue_id}?lang=fi")
    assert page.status_code == 200, page.text
    assert "itsenäisyyspäivän juhlassa" in page.text
    # asked in a language the issue does not have: the one it went out in
    assert client.get(f"/kerava/archive/{sent.issue_id}?lang=sv").status_code == 200
    listing = client.get("/kerava/archive?lang=fi")
    assert listing.status_code == 200 and f"/kerava/archive/{sent.issue_id}" in listing.text
    assert "Keravan ympäristöpalkinto" in listing.text  # the campaign's title, not its slug
    for feed in ("rss", "atom"):
        answer = client.get(f"/kerava/archive.{feed}?lang=fi")
        assert answer.status_code == 200 and f"/kerava/archive/{sent.issue_id}" in answer.text
    assert client.get(f"/kerava/archive/{sent.issue_id + 1}").status_code == 404  # no such
    assert sent.counted
    for path, destination in sent.counted.items():
        hop = client.get(path, follow_redirects=False)
        assert hop.status_code == 302 and hop.headers["location"] == destination
    assert client.get(f"/unsubscribe/{sent.unsubscribe}").status_code == 200
    assert client.get(f"/preferences/{sent.preferences}").status_code == 200
    assert client.get(f"/confirm/{sent.confirm}").status_code == 200


def test_a_broken_cities_file_leaves_every_emailed_link_working(
    sent: Sent, settings: Settings, restart: object
) -> None:
    edit_cities(settings, "timezone: Europe/Helsinki", "timezone: Europe/Helsinky")
    with restart() as client:  # type: ignore[operator]
        emailed_links_work(client, sent)
        listing = client.get("/kerava/archive?lang=fi").text
        assert "Keravan" in listing  # the city's name from the database
        assert client.get("/nowhere/archive").status_code == 404  # the database knows no such
        # what needs the file: away for now, with when to try again
        for path in ("/kerava/subscribe", "/kerava/stories", "/kerava/theme.css",
                     "/kerava/accessibility", "/kerava/stories.rss"):  # fmt: skip
            answer = client.get(path, headers={"Accept-Language": "fi"})
            assert answer.status_code == 503, path
            assert int(answer.headers["retry-after"]) > 0, path
        assert "Sivu ei ole juuri nyt käytettävissä" in client.get("/kerava/stories?lang=fi").text


def test_a_broken_campaign_file_leaves_its_issues_links_working(
    sent: Sent, settings: Settings, restart: object
) -> None:
    (Path(settings.campaigns_path) / f"{SLUG}.yaml").write_text(f"slug: {SLUG}\nkind: [\n")
    with restart() as client:  # type: ignore[operator]
        emailed_links_work(client, sent)
        assert client.get("/kerava/subscribe").status_code == 200


def test_a_broken_city_entry_closes_that_city_only(
    sent: Sent, settings: Settings, restart: object
) -> None:
    """One city's error in cities.yaml: its pages answer as while the whole file is
    broken (emailed links work, the rest 503), and the other cities' pages stay open."""
    edit_cities(settings, 'branding: {color: "#1b5e3b"}', 'branding: {color: "#ffff00"}')
    with restart() as client:  # type: ignore[operator]
        emailed_links_work(client, sent)
        assert "Keravan" in client.get("/kerava/archive?lang=fi").text  # from the database
        # the preferences form would leave Kerava out: saving it would end the subscription
        page = client.get(f"/preferences/{sent.preferences}?lang=fi")
        assert page.status_code == 200 and 'name="cities"' not in page.text
        for path in ("/kerava/subscribe", "/kerava/stories", "/kerava/theme.css"):
            answer = client.get(path)
            assert answer.status_code == 503, path
            assert int(answer.headers["retry-after"]) > 0, path
        for path in ("/vantaa/subscribe", "/jarvenpaa/subscribe", "/vantaa/stories"):
            assert client.get(path).status_code == 200, path
        health = client.get("/healthz").json()
        assert "cities.yaml (kerava)" in health["campaigns"]["broken"]
