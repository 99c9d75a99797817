"""Editing a draft and scheduling its send: the stage functions and the console routes."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from outreach.campaigns import Config
from outreach.checks.flow import save_report
from outreach.checks.report import Report
from outreach.cli import main
from outreach.delivery.backends import memory
from outreach.issues import carry_edits, history
from outreach.models import AuditEvent, ContentItem, Issue, IssueItem, IssueStatus, SourceState
from outreach.scheduler import StagePipeline
from outreach.settings import Settings
from outreach.staff import drafts
from outreach.staff import workflow as flow
from outreach.staff.issue_view import issue_page, last_report, preview_of
from tests.staff import test_workflow as wf
from tests.staff.support import csrf_of, make_city_issue
from tests.staff.test_workflow import APPROVER, EDITOR, OTHER, signed_in, subscribe
from tests.web.conftest import TestClient

# the workflow tests' fixtures: Vantaa with approvers and four eyes, the memory outbox
_clean_outbox = wf._clean_outbox
app = wf.app
config = wf.config
settings = wf.settings

TITLES = ("Aurinkopaneelit", "Lämpöpumput", "Pyöräparkit")
ED = flow.Actor(EDITOR, "127.0.0.1")


def clean_report(session: Session, issue: Issue) -> None:
    """A stored report without findings for the issue as it is: approval skips the check."""
    save_report(session, issue, Report(issue.id, datetime.now(UTC), ["fi", "sv"]))


def entries(issue: Issue, lang: str = "fi") -> list[dict[str, Any]]:
    return list(issue.snapshot["languages"][lang]["sections"][0]["entries"])


def titles(issue: Issue, lang: str = "fi") -> list[str]:
    return [e["title"] for e in entries(issue, lang)]


def audited(engine: Engine, issue_id: int) -> list[str]:
    with Session(engine) as s:
        query = select(AuditEvent.action).where(AuditEvent.issue_id == issue_id)
        return list(s.scalars(query.order_by(AuditEvent.id)))


@pytest.fixture
def draft(engine: Engine, config: Config) -> Issue:
    with Session(engine, expire_on_commit=False) as s:
        issue = make_city_issue(s, config, "vantaa-monthly", titles=TITLES, by="outreach")
        source = SourceState(key="test-news", type="rss")
        s.add(source)
        s.flush()
        for i, title in enumerate(TITLES, start=1):
            s.add(ContentItem(id=i, source_id=source.id, kind="news", external_id=str(i),
                              title=title, fingerprint=str(i)))  # fmt: skip
        s.flush()
        for i in (1, 2, 3):
            s.add(IssueItem(issue_id=issue.id, item_id=i, section="news", lead=True))
        s.commit()
        return issue


def test_move_drop_pin_edit_add_and_intro_change_every_language(
    engine: Engine, draft: Issue, settings: Settings, config: Config
) -> None:
    with Session(engine, expire_on_commit=False) as s:
        issue = s.get(Issue, draft.id)
        assert issue is not None
        drafts.move(s, issue, 3, -1, ED)
        assert titles(issue) == ["Aurinkopaneelit", "Pyöräparkit", "Lämpöpumput"]
        assert titles(issue, "sv") == titles(issue)
        drafts.move(s, issue, 1, 5, ED)  # past the end: last
        assert titles(issue)[-1] == "Aurinkopaneelit"
        drafts.pin(s, issue, 2, True, ED)
        assert [e["pinned"] for e in entries(issue) if e["id"] == 2] == [True]
        drafts.drop(s, issue, 3, ED)
        assert 3 not in [e["id"] for e in entries(issue, "sv")]
        left = s.scalars(select(IssueItem.item_id).where(IssueItem.issue_id == issue.id))
        assert sorted(left) == [1, 2]  # the dropped item is back in the pool
        drafts.edit(s, issue, 1, "sv", "Solpaneler", "Kort  text.\r\n", ED)
        assert [e["title"] for e in entries(issue, "sv") if e["id"] == 1] == ["Solpaneler"]
        assert [e["title"] for e in entries(issue, "fi") if e["id"] == 1] == ["Aurinkopaneelit"]
        new_id = drafts.add(
            s, issue, "news", "Kaupungin vinkki", "Lue lisää.", "https://vantaa.fi/x", ED
        )
        assert new_id < 0 and titles(issue, "sv")[-1] == "Kaupungin vinkki"
        drafts.intro(
            s, issue, "fi", "Hei **kaikki**! [Lue](https://vantaa.fi)\n\n<script>x()</script>", ED
        )
        data = issue.snapshot["languages"]["fi"]
        assert "<strong>kaikki</strong>" in data["intro_html"]
        assert '<a href="https://vantaa.fi">' in data["intro_html"]
        assert "<script" not in data["intro_html"]
        s.commit()
        view = issue_page(s, settings, config, issue, check=False)
        assert [v.error for v in view.languages] == [None, None]
        page = preview_of(settings, config, issue, "fi", text=False)
        assert "<strong>kaikki</strong>" in page and "Kaupungin vinkki" in page
        assert "x()" not in page
        text = preview_of(settings, config, issue, "fi", text=True)
        assert "Hei **kaikki**!" in text
        # every edit made the editor the last editor and is in the history and audit log
        assert flow.last_editor(s, issue) == EDITOR
        assert [e.action for e in history(s, issue.id)].count("edited") == 7
    assert audited(engine, draft.id).count("issue.edit") == 7


def test_bad_edits_are_refused_with_a_code_and_change_nothing(engine: Engine, draft: Issue) -> None:
    with Session(engine, expire_on_commit=False) as s:
        issue = s.get(Issue, draft.id)
        assert issue is not None
        before = dict(issue.snapshot)
        cases = [
            (lambda: drafts.move(s, issue, 99, 1, ED), "no_item"),
            (lambda: drafts.edit(s, issue, 1, "fi", " ", "x", ED), "bad_title"),
            (lambda: drafts.edit(s, issue, 1, "fi", "x" * 301, "x", ED), "bad_title"),
            (lambda: drafts.add(s, issue, "news", "T", "", "javascript:alert(1)", ED), "bad_url"),
            (lambda: drafts.add(s, issue, "nope", "T", "", "", ED), "no_section"),
            (lambda: drafts.intro(s, issue, "fi", "x" * 5001, ED), "bad_intro"),
        ]
        for call, code in cases:
            with pytest.raises(flow.Refused) as caught:
                call()
            assert caught.value.code == code
        assert issue.snapshot == before
        assert [e.action for e in history(s, issue.id)] == ["built"]


def test_an_approved_issue_is_never_edited(
    engine: Engine, draft: Issue, settings: Settings, config: Config
) -> None:
    with Session(engine, expire_on_commit=False) as s:
        issue = s.get(Issue, draft.id)
        assert issue is not None
        clean_report(s, issue)
        flow.approve(s, settings, config, issue, flow.Actor(OTHER))
        s.commit()
        approved = issue.snapshot
        for call in (
            lambda: drafts.move(s, issue, 1, 1, ED),
            lambda: drafts.drop(s, issue, 1, ED),
            lambda: drafts.pin(s, issue, 1, True, ED),
            lambda: drafts.intro(s, issue, "fi", "Hei", ED),
        ):
            with pytest.raises(flow.Refused) as caught:
                call()
            assert caught.value.code == "not_draft"
        assert issue.snapshot == approved


def test_a_rebuild_keeps_pinned_and_manual_items_the_intro_and_edited_texts() -> None:
    def snap(entries: list[dict[str, Any]], intro: str = "", **extra: Any) -> dict[str, Any]:
        sections = [{"id": "news", "kind": "news", "entries": entries}]
        return {"languages": {"fi": {"intro": intro, "sections": sections, **extra}}}

    old = snap(
        [
            {"id": 5, "title": "Pinned", "pinned": True},
            {"id": -1, "title": "Manual", "manual": True, "pinned": True},
            {"id": 6, "title": "Edited", "edited": True},
            {"id": 7, "title": "Gone"},
        ],
        intro="Oma johdanto",
        intro_html="<p>Oma johdanto</p>",
        intro_edited=True,
    )
    new = snap(
        [{"id": 8, "title": "Fresh"}, {"id": 6, "title": "Original"}, {"id": 5, "title": "P"}]
    )
    carried = carry_edits(old, new)
    data = new["languages"]["fi"]
    assert [e["title"] for e in data["sections"][0]["entries"]] == [
        "Pinned",
        "Manual",
        "Fresh",
        "Edited",
    ]
    assert data["intro"] == "Oma johdanto" and data["intro_edited"] is True
    assert carried == {5: "news"}


def editor_csrf(client: TestClient, base: str) -> str:
    return csrf_of(client.get(f"{base}/edit?lang=en").text)


def test_the_editor_page_reorders_drops_pins_and_writes_the_intro(
    engine: Engine, client: TestClient, draft: Issue
) -> None:
    signed_in(engine, client, EDITOR, "editor", "vantaa")
    base = f"/staff/vantaa/issues/{draft.id}"
    page = client.get(f"{base}/edit?lang=en&edition=sv")
    assert page.status_code == 200 and "Introduction (sv)" in page.text
    token = editor_csrf(client, base)

    def post(path: str, **data: str) -> str:
        answer = client.post(base + path, data={"csrf_token": token, **data},
                             follow_redirects=False)  # fmt: skip
        assert answer.status_code == 303
        return str(answer.headers["location"])

    assert "done=saved" in post("/items/3/move", edition="fi", direction="up")
    assert "done=saved" in post("/items/1/drop", edition="fi")
    assert "done=saved" in post("/items/2/pin", edition="fi", pinned="yes")
    assert "done=saved" in post("/intro", edition="sv", intro="Hej *alla*")
    data = {"csrf_token": token, "edition": "fi", "section": "news", "title": "X", "url": "ftp://x"}
    refused = client.post(base + "/items", data=data)  # shown again, as typed
    assert refused.status_code == 422 and 'value="ftp://x"' in refused.text
    missing = client.post(base + "/intro", data={"edition": "fi", "intro": "x"})
    assert missing.status_code == 403  # no CSRF token
    with Session(engine) as s:
        issue = s.get(Issue, draft.id)
        assert issue is not None
        assert titles(issue) == ["Pyöräparkit", "Lämpöpumput"]
        assert issue.snapshot["languages"]["sv"]["intro_html"] == "<p>Hej <em>alla</em></p>"
    shown = client.get(f"{base}/edit?lang=en&edition=fi").text
    assert "pinned" in shown and "Move up: Lämpöpumput" in shown
    assert audited(engine, draft.id).count("issue.edit") == 4


def test_edits_after_approval_are_refused_with_a_clear_message(
    engine: Engine, client: TestClient, draft: Issue, settings: Settings, config: Config
) -> None:
    with Session(engine, expire_on_commit=False) as s:
        issue = s.get(Issue, draft.id)
        assert issue is not None
        clean_report(s, issue)
        flow.approve(s, settings, config, issue, flow.Actor(OTHER))
        s.commit()
    signed_in(engine, client, EDITOR, "editor", "vantaa")
    base = f"/staff/vantaa/issues/{draft.id}"
    token = editor_csrf(client, base)
    answer = client.post(
        f"{base}/items/1/drop?lang=en", data={"csrf_token": token, "edition": "fi"}
    )
    assert "Only a draft can be edited: an approved issue never changes." in answer.text


def test_the_issue_page_answers_with_the_last_report_and_checks_after(
    engine: Engine, client: TestClient, draft: Issue, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs: list[int] = []

    def run_checks(session: Session, settings: Settings, config: Config, issue: Issue,
                   now: datetime) -> Report:  # fmt: skip
        runs.append(issue.id)  # the check itself is tested in tests/checks
        return Report(issue.id, now, ["fi", "sv"])

    monkeypatch.setattr("outreach.staff.issue_view.run_checks", run_checks)
    signed_in(engine, client, EDITOR, "editor", "vantaa")
    base = f"/staff/vantaa/issues/{draft.id}"
    first = client.get(f"{base}?lang=en")  # no report yet: the page says a check runs
    assert "A new check runs now" in first.text
    with Session(engine) as s:  # the check ran after the answer (TestClient waits for it)
        issue = s.get(Issue, draft.id)
        assert issue is not None
        report, at, fresh = last_report(s, issue, datetime.now(UTC))
        assert report is not None and at is not None and fresh
    again = client.get(f"{base}?lang=en")
    assert "A new check runs now" not in again.text and "Checked " in again.text
    assert client.get(f"{base}/progress").json()["checked"] is True
    token = csrf_of(again.text)
    assert runs == [draft.id]
    answer = client.post(f"{base}/check", data={"csrf_token": token}, follow_redirects=False)
    assert "done=checking" in answer.headers["location"]
    assert runs == [draft.id, draft.id]  # on demand


def approved(engine: Engine, settings: Settings, config: Config, draft: Issue) -> None:
    with Session(engine, expire_on_commit=False) as s:
        issue = s.get(Issue, draft.id)
        assert issue is not None
        clean_report(s, issue)
        flow.approve(s, settings, config, issue, flow.Actor(OTHER))
        s.commit()


def test_a_scheduled_issue_goes_out_when_due_and_not_before(
    engine: Engine, draft: Issue, settings: Settings, config: Config
) -> None:
    approved(engine, settings, config, draft)
    subscribe(engine, "vantaa", ["yritys1@example.fi", "yritys2@example.fi"])
    now = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    when = drafts.local_moment("2026-12-02", "09:00", "Europe/Helsinki")
    assert when == datetime(2026, 12, 2, 7, 0, tzinfo=UTC)
    with Session(engine, expire_on_commit=False) as s:
        issue = s.get(Issue, draft.id)
        assert issue is not None
        with pytest.raises(flow.Refused, match="past"):
            drafts.schedule(s, config, issue, now - timedelta(minutes=1), flow.Actor(APPROVER), now)
        drafts.schedule(s, config, issue, when, flow.Actor(APPROVER), now)
        s.commit()

    def send_pass(moment: datetime) -> None:
        StagePipeline(settings, config=config, clock=lambda: moment).send_due(threading.Event())

    send_pass(when - timedelta(minutes=1))
    assert memory.outbox == []
    send_pass(when + timedelta(seconds=1))
    assert sorted(m.recipients[0] for m in memory.outbox) == [
        "yritys1@example.fi",
        "yritys2@example.fi",
    ]
    with Session(engine) as s:
        issue = s.get(Issue, draft.id)
        assert issue is not None and issue.status == IssueStatus.SENT
        assert [e.detail for e in history(s, issue.id) if e.action == "send"] == ["scheduled"]
    assert "issue.schedule" in audited(engine, draft.id)


def test_a_cancelled_schedule_keeps_the_issue_back_until_sent(
    engine: Engine, client: TestClient, draft: Issue, settings: Settings, config: Config
) -> None:
    approved(engine, settings, config, draft)
    subscribe(engine, "vantaa", ["yritys1@example.fi"])
    signed_in(engine, client, APPROVER, "approver", "vantaa")
    base = f"/staff/vantaa/issues/{draft.id}"
    token = csrf_of(client.get(f"{base}?lang=fi").text)

    def post(path: str, **data: str) -> str:
        answer = client.post(base + path, data={"csrf_token": token, **data},
                             follow_redirects=False)  # fmt: skip
        return str(answer.headers["location"])

    for day, time in (("huomenna", "9"), ("2026-11-30", "09:00")):  # bad_time, past
        data = {"csrf_token": token, "day": day, "time": time}
        refused = client.post(base + "/schedule", data=data)  # shown again, as typed
        assert refused.status_code == 422 and f'value="{day}"' in refused.text
    assert "done=scheduled" in post("/schedule", day="2026-12-24", time="07:30")
    page = client.get(f"{base}?lang=fi").text
    assert "ajastettu" in page and "24.12.2026 klo 7.30" in page
    assert "done=unscheduled" in post("/unschedule")
    assert "refused=not_scheduled" in post("/unschedule")
    later = datetime(2026, 12, 25, tzinfo=UTC)
    StagePipeline(settings, config=config, clock=lambda: later).send_due(threading.Event())
    assert memory.outbox == []  # kept back
    with Session(engine) as s:
        issue = s.get(Issue, draft.id)
        assert issue is not None and issue.kept_back and issue.status == IssueStatus.APPROVED
    assert "done=sending" in post("/send")
    assert [m.recipients[0] for m in memory.outbox] == ["yritys1@example.fi"]


@pytest.fixture
def cli(settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("OUTREACH_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("OUTREACH_CAMPAIGNS_DIR", str(settings.campaigns_dir))
    monkeypatch.setenv("OUTREACH_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("OUTREACH_MAIL_URL", "memory:")
    monkeypatch.setenv("OUTREACH_CLI_LANGUAGE", "en")
    return CliRunner()


def test_the_cli_edits_a_draft_and_schedules_with_the_same_functions(
    cli: CliRunner, engine: Engine, draft: Issue, settings: Settings, config: Config
) -> None:
    ref = str(draft.id)

    def run(*args: str, code: int = 0) -> str:
        result = cli.invoke(main, ["issue", *args, "--by", "kaisa"], input="Hei *kaikki*\n")
        assert result.exit_code == code, result.output
        return result.output

    assert "item 3 moved" in run("move", ref, "3", "--up")
    assert "item 2 pinned" in run("pin", ref, "2")
    assert "item 1 dropped" in run("drop", ref, "1")
    assert "edited" in run("edit-item", ref, "2", "--lang", "sv", "--title", "Värmepumpar")
    assert "added" in run("add-item", ref, "--section", "news", "--title", "Oma")
    assert "introduction (fi) saved" in run("intro", ref, "-", "--lang", "fi")
    assert "no such item" in run("drop", ref, "99", code=1)
    assert "only an approved issue" in run("schedule", ref, "2027-01-01 09:00", code=1)
    with Session(engine, expire_on_commit=False) as s:
        issue = s.get(Issue, draft.id)
        assert issue is not None
        assert titles(issue) == ["Pyöräparkit", "Lämpöpumput", "Oma"]
        assert titles(issue, "sv")[1] == "Värmepumpar"
        assert issue.snapshot["languages"]["fi"]["intro_html"] == "<p>Hei <em>kaikki</em></p>"
        assert flow.last_editor(s, issue) == "kaisa"
        clean_report(s, issue)
        flow.approve(s, settings, config, issue, flow.Actor(OTHER))
        s.commit()
    assert "only a draft" in run("drop", ref, "2", code=1)
    assert "will be sent at 2027-01-01 09:00" in run("schedule", ref, "2027-01-01 09:00")
    assert "in the past" in run("schedule", ref, "2020-01-01 09:00", code=1)
    with Session(engine) as s:
        issue = s.get(Issue, draft.id)
        assert issue is not None
        assert issue.scheduled_at == datetime(2027, 1, 1, 7, 0, tzinfo=UTC)
    assert "cancelled" in run("schedule", ref, "--cancel")
    assert audited(engine, draft.id).count("issue.edit") == 6
