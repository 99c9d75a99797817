"""Archive of sent issues, story submission, and the completeness of the catalogs."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from outreach.campaigns import load, sync
from outreach.models import Campaign, Issue, IssueStatus, Story, StoryStatus
from outreach.publish import archive
from outreach.settings import Settings
from tests.staff.test_l10n import _plural_entries, _plural_msgids
from tests.web.conftest import TestClient, csrf_of

WEB = Path(__file__).resolve().parents[2] / "outreach" / "web"
LOCALE = WEB.parent / "locale"


def _issues(engine: Engine, settings: Settings) -> tuple[int, int]:
    with Session(engine) as s:
        sync(s, load(settings.campaigns_path))
        camp = s.scalars(
            select(Campaign).where(Campaign.slug == "kerava-environmental-award")
        ).one()
        sent = Issue(
            campaign_id=camp.id,
            period="2026-10",
            status=IssueStatus.SENT,
            sent_at=datetime(2026, 10, 1, 6, tzinfo=UTC),
        )
        draft = Issue(campaign_id=camp.id, period="2027-10", status=IssueStatus.DRAFT)
        s.add_all([sent, draft])
        s.commit()
        return sent.id, draft.id


def test_archive_lists_only_published_issues(
    client: TestClient, engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent, draft = _issues(engine, settings)
    page = client.get("/kerava/archive")
    assert page.status_code == 200
    assert f"/kerava/archive/{sent}" in page.text and f"/kerava/archive/{draft}" not in page.text
    assert "lokakuu 2026" in page.text
    assert client.get(f"/kerava/archive/{draft}").status_code == 404
    assert client.get(f"/vantaa/archive/{sent}").status_code == 404  # another city's archive
    seen: list[Any] = []

    def render_web_version(settings: Settings, config: Any, issue: Issue, lang: str) -> str:
        seen.append((issue.id, lang))
        return "<html><body style='color:red'>web version</body></html>"

    # the issue rows here have no snapshot: the render stage's own tests cover its output
    monkeypatch.setattr(archive, "render_web_version", render_web_version)
    resp = client.get(f"/kerava/archive/{sent}?lang=sv")
    assert resp.status_code == 200 and "web version" in resp.text
    assert seen == [(sent, "fi")]  # Kerava's campaign is Finnish only
    assert "style-src 'self' 'unsafe-inline'" in resp.headers["content-security-policy"]


def test_story_submission(client: TestClient, engine: Engine) -> None:
    form = client.get("/stories/submit?city=vantaa&lang=sv")
    assert form.status_code == 200 and "Berätta" in form.text
    data = {
        "city": "vantaa",
        "company_name": "Aurinko Oy",
        "title": "Aurinkopaneelit katolle",
        "body": "Asensimme 200 paneelia.\r\nSähkölasku puolittui.",
        "link": "https://aurinko.example.fi/tarina",
        "contact_email": "Info@Aurinko.fi",
        "language": "fi",
        "csrf_token": csrf_of(form.text),
    }
    missing = client.post("/stories/submit", data={**data, "consent_to_publish": ""})
    assert missing.status_code == 400
    bad_link = client.post(
        "/stories/submit", data={**data, "link": "javascript:alert(1)", "consent_to_publish": "yes"}
    )
    assert bad_link.status_code == 400
    plain = client.post(
        "/stories/submit?lang=fi",
        data={**data, "link": "http://aurinko.example.fi/tarina", "consent_to_publish": "yes"},
    )
    assert plain.status_code == 400 and "Anna verkko-osoite, joka alkaa https://." in plain.text
    ok = client.post("/stories/submit?lang=fi", data={**data, "consent_to_publish": "yes"})
    assert ok.status_code == 200 and "Kiitos tarinastasi" in ok.text
    with Session(engine) as s:
        story = s.scalars(select(Story)).one()
        assert story.status == StoryStatus.SUBMITTED and story.contact_email == "info@aurinko.fi"
        assert story.body == "Asensimme 200 paneelia.\nSähkölasku puolittui."


def _msgids() -> set[str]:
    ids: set[str] = set()
    for path in (WEB / "templates").glob("*.html"):
        text = path.read_text()
        ids |= set(re.findall(r'_\("((?:[^"\\]|\\.)*)"', text))
        ids |= set(re.findall(r"_\('((?:[^'\\]|\\.)*)'", text))
        # a text that names the place: its plain entry is the city's wording
        ids |= set(re.findall(r'_k\([\w. ]+,\s*"((?:[^"\\]|\\.)*)"', text))
    for path in [*WEB.rglob("*.py"), WEB.parent / "publish" / "images.py"]:
        text = re.sub(r'"\s*\n\s*"', "", path.read_text())  # join implicit concatenation
        ids |= set(re.findall(r"StoryError\(\s*\"([^\"]+)\"", text))
        ids |= set(re.findall(r'errors\["\w+"\] = "([^"]+)"', text))
        for title, message in re.findall(r'PageError\(\s*\d+,\s*"([^"]+)",\s*"([^"]+)"', text):
            ids |= {title, message}
    return ids


@pytest.mark.parametrize("lang", ["fi", "sv"])
def test_catalogs_translate_every_message(lang: str) -> None:
    with (LOCALE / lang / "LC_MESSAGES" / "web.po").open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    translated = {m.id for m in catalog if m.id and m.string}
    missing = _msgids() - translated
    assert len(_msgids()) > 60
    assert not missing, missing


@pytest.mark.parametrize("lang", ["fi", "sv", "en"])
def test_messages_with_a_count_have_every_form(lang: str) -> None:
    found = _plural_msgids(sorted((WEB / "templates").glob("*.html")))
    assert len(found) >= 1
    assert found - _plural_entries(lang) == set()


def test_archive_by_year_and_search(client: TestClient, engine: Engine, settings: Settings) -> None:
    with Session(engine) as s:
        sync(s, load(settings.campaigns_path))
        camp = s.scalars(
            select(Campaign).where(Campaign.slug == "kerava-environmental-award")
        ).one()
        made = {}
        for period, sent, words in (
            ("2025-10", datetime(2025, 10, 1, 6, tzinfo=UTC), "Ehdota aurinkopaneeliyritystä"),
            ("2026-10", datetime(2026, 10, 1, 6, tzinfo=UTC), "Ehdota kiertotalousyritystä"),
        ):
            snapshot = {"languages": {"fi": {"intro": words}}}
            issue = Issue(campaign_id=camp.id, period=period, status=IssueStatus.SENT,
                          sent_at=sent, snapshot=snapshot)  # fmt: skip
            s.add(issue)
            s.flush()
            made[period] = issue.id
        s.commit()

    def listed(query: str) -> set[int]:
        page = client.get(f"/kerava/archive?lang=fi{query}")
        assert page.status_code == 200
        return {int(i) for i in re.findall(r'href="/kerava/archive/(\d+)\?', page.text)}

    assert listed("") == set(made.values())
    assert listed("&year=2025") == {made["2025-10"]}
    assert listed("&year=2026") == {made["2026-10"]}
    assert listed("&q=aurinkopaneeli") == {made["2025-10"]}
    assert listed("&q=ehdota+KIERTOTALOUS") == {made["2026-10"]}  # every word, any case
    assert listed("&q=aurinkopaneeli&year=2026") == set()
    page = client.get("/kerava/archive?lang=fi&year=2025").text
    assert '<span aria-current="page">2025</span>' in page
    assert 'href="/kerava/archive?lang=fi&amp;year=2026"' in page
    assert "Haulla ei löytynyt uutiskirjeitä." in client.get("/kerava/archive?lang=fi&q=xyz").text
