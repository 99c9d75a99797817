"""A city's dashboard: its issues come from the database whatever the campaign files
say, an approved issue shows when it goes out, and sends in progress are the ones
actually sending or paused."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from outreach.campaigns import Config, load
from outreach.db import dispose_engines
from outreach.models import Issue, IssueStatus, StaffUser
from outreach.settings import Settings
from outreach.staff import sessions
from outreach.subscriptions import RecordingMailer
from outreach.web import create_app
from outreach.web.security import RateLimiter
from outreach.web.staff.guard import COOKIE
from tests.conftest import ROOT
from tests.staff.support import Clock, make_account, make_city_issue
from tests.web.conftest import TestClient

APPROVER = "ap@vantaa.fi"


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    root = tmp_path / "campaigns"
    shutil.copytree(ROOT / "campaigns", root)
    return settings.model_copy(update={"campaigns_dir": root})


@pytest.fixture
def config(settings: Settings) -> Config:
    return load(settings.campaigns_path, settings.templates_path)


@pytest.fixture
def console(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    """A client of an app started when the test asks for it (after the files changed)."""
    make_account(engine, APPROVER, "approver", "vantaa")
    with Session(engine) as s:
        user = s.query(StaffUser).filter_by(email=APPROVER).one()
        token = sessions.start(s, user, sessions.FULL, ip="127.0.0.1", now=Clock().now)
        s.commit()
    limiter = RateLimiter({"form": (10_000, 100.0), "staff": (10_000, 100.0)})
    app = create_app(settings, mailer=RecordingMailer(), rate_limiter=limiter, clock=Clock())
    with TestClient(app, base_url="https://testserver") as client:
        client.cookies.set(COOKIE, token)
        yield client
    dispose_engines()


def section(page: str, anchor: str) -> str:
    """The dashboard's part from the heading ``anchor`` to the next heading."""
    match = re.search(rf'<h2 id="{anchor}">(.*?)(?=<h2 )', page, re.S)
    assert match, f"no section {anchor}"
    return match.group(1)


def issue_of(engine: Engine, config: Config, period: str, status: IssueStatus) -> int:
    """An issue of Vantaa's monthly campaign in ``status``; an approved one is
    scheduled for Christmas Eve at 7.30 in Helsinki."""
    with Session(engine, expire_on_commit=False) as s:
        issue = s.get_one(Issue, make_city_issue(s, config, "vantaa-monthly", period=period).id)
        issue.status = status
        if status == IssueStatus.APPROVED:
            issue.scheduled_at = datetime(2026, 12, 24, 5, 30, tzinfo=UTC)
        s.commit()
        return issue.id


def test_a_broken_campaign_file_hides_none_of_its_issues_and_is_named(
    settings: Settings, engine: Engine, config: Config, request: pytest.FixtureRequest
) -> None:
    with Session(engine, expire_on_commit=False) as s:
        draft = make_city_issue(s, config, "vantaa-monthly", period="2027-01").id
        sending = make_city_issue(s, config, "vantaa-monthly", period="2026-12").id
        s.get_one(Issue, sending).status = IssueStatus.SENDING
        s.commit()
    path = settings.campaigns_path / "vantaa-monthly.yaml"
    path.write_text(path.read_text().replace("kind: news", "kind: nws", 1))
    client: TestClient = request.getfixturevalue("console")
    page = client.get("/staff/vantaa/?lang=fi").text
    assert f"/staff/vantaa/issues/{draft}?lang=fi" in section(page, "waiting")
    assert f"/staff/vantaa/issues/{sending}?lang=fi" in section(page, "sending")
    latest = section(page, "results")
    assert f"#{draft}</a>" in latest and f"#{sending}</a>" in latest
    warning = re.search(r'<div class="errors" role="alert" id="left-out">(.*?)</div>', page, re.S)
    assert warning, "no warning of the file left out"
    assert "vantaa-monthly.yaml" in warning.group(1)
    assert 'href="/staff/vantaa/campaigns?lang=fi#broken"' in warning.group(1)
    assert "vantaa-monthly.yaml" in client.get("/staff/vantaa/campaigns?lang=fi").text


def test_a_file_left_out_is_its_campaigns_city_s_or_named_after_the_city(
    config: Config,
) -> None:
    from outreach.staff import left_out

    config.broken = {
        "monthly.yaml": ["…"],  # a campaign of Vantaa's in the database
        "vantaa-new.yaml": ["…"],  # not in the database: named after the city
        "vantaa-old.yaml": ["…"],  # Kerava's campaign in the database
        "vantaa-extra (console)": ["…"],
    }
    owners = {"monthly": "vantaa", "vantaa-old": "kerava", "vantaa-extra": "vantaa"}
    assert sorted(left_out(config, "vantaa", owners)) == [
        "monthly.yaml", "vantaa-extra (console)", "vantaa-new.yaml",
    ]  # fmt: skip
    assert sorted(left_out(config, "kerava", owners)) == ["vantaa-old.yaml"]


def test_a_whole_campaigns_folder_warns_of_nothing(console: TestClient) -> None:
    page = console.get("/staff/vantaa/?lang=en").text
    assert 'id="left-out"' not in page


@pytest.mark.parametrize(
    ("lang", "when"),
    [("fi", "to 24.12.2026 klo 7.30"), ("sv", "tors 24.12.2026 kl. 7.30"),
     ("en", "Thu 24.12.2026 at 7:30")],
)  # fmt: skip
def test_a_scheduled_issue_shows_its_send_time_and_is_not_a_send_in_progress(
    engine: Engine, config: Config, console: TestClient, lang: str, when: str
) -> None:
    approved = issue_of(engine, config, "2026-12", IssueStatus.APPROVED)
    page = console.get(f"/staff/vantaa/?lang={lang}").text
    assert f"/issues/{approved}?" not in section(page, "sending")
    listed = section(page, "approved")
    assert f"/staff/vantaa/issues/{approved}?lang={lang}" in listed and when in listed
    row = re.search(rf"#{approved}</a>.*?</tr>", section(page, "results"), re.S)
    assert row and when in row.group(0)


def test_sends_in_progress_are_the_ones_sending_or_paused(
    engine: Engine, config: Config, console: TestClient
) -> None:
    approved = issue_of(engine, config, "2026-12", IssueStatus.APPROVED)
    paused = issue_of(engine, config, "2026-11", IssueStatus.PAUSED)
    sending = issue_of(engine, config, "2026-10", IssueStatus.SENDING)
    unscheduled = issue_of(engine, config, "2026-09", IssueStatus.APPROVED)
    with Session(engine) as s:
        s.get_one(Issue, unscheduled).scheduled_at = None
        s.commit()
    page = console.get("/staff/vantaa/?lang=en").text
    in_progress = section(page, "sending")
    assert f"/issues/{paused}?" in in_progress and "(paused)" in in_progress
    assert f"/issues/{sending}?" in in_progress and "(sending)" in in_progress
    assert f"/issues/{approved}?" not in in_progress
    assert f"/issues/{unscheduled}?" not in in_progress
    waiting = section(page, "approved")
    assert f"/issues/{paused}?" not in waiting and f"/issues/{sending}?" not in waiting
    # the scheduled one first, then the one that goes with the next send round
    assert waiting.index(f"/issues/{approved}?") < waiting.index(f"/issues/{unscheduled}?")
    assert "with the next send round" in waiting


def test_a_missed_run_is_worded_in_the_readers_language(
    engine: Engine, config: Config, console: TestClient
) -> None:
    from outreach.campaigns import sync
    from outreach.models import Campaign

    with Session(engine) as s:
        sync(s, config)
        row = s.query(Campaign).filter_by(slug="vantaa-monthly").one()
        row.last_run_at, row.last_run_status = datetime(2026, 12, 1, 7, tzinfo=UTC), "missed"
        s.commit()
    runs = section(console.get("/staff/vantaa/?lang=fi").text, "next-runs")
    assert "ti 1.12.2026 klo 9.00 väliin jäänyt" in runs and "missed" not in runs
