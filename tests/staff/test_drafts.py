"""Editing a draft and scheduling its send: the stage functions and the console routes."""

from __future__ import annotations

import copy
import threading
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner, Result
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
from outreach.settings import Settings, get_settings
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
        assert issue.snapshot["languages"]["sv"]["sections"][0]["reordered"] is True
        assert titles(issue, "sv") == titles(issue)
        drafts.move(s, issue, 1, 5, ED)  # past the end: last
        assert titles(issue)[-1] == "Aurinkopaneelit"
        drafts.pin(s, issue, 2, True, ED)
        assert [e["pinned"] for e in entries(issue) if e["id"] == 2] == [True]
        drafts.drop(s, issue, 3, ED)
        assert 3 not in [e["id"] for e in entries(issue, "sv")]
        left = s.scalars(select(IssueItem.item_id).where(IssueItem.issue_id == issue.id))
        assert sorted(left) == [1, 2]  # the dropped item is back in the pool
        assert issue.snapshot["dropped"] == [3]  # and a rebuild of this draft leaves it out
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


def test_a_hand_added_item_takes_only_an_https_link(
    engine: Engine, client: TestClient, cli: CliRunner, draft: Issue
) -> None:
    with Session(engine, expire_on_commit=False) as s:
        issue = s.get(Issue, draft.id)
        assert issue is not None
        for link in ("http://www.vantaa.fi/uutinen", "HTTP://www.vantaa.fi/", "javascript:x"):
            with pytest.raises(flow.Refused) as caught:
                drafts.add(s, issue, "news", "T", "", link, ED)
            assert caught.value.code == "bad_url"
    signed_in(engine, client, EDITOR, "editor", "vantaa")
    base = f"/staff/vantaa/issues/{draft.id}"
    form = {"csrf_token": editor_csrf(client, base), "edition": "fi", "section": "news",
            "title": "Oma"}  # fmt: skip
    refused = client.post(f"{base}/items?lang=fi", data={**form, "url": "http://www.vantaa.fi/"})
    assert "Anna verkko-osoite, joka alkaa https://." in refused.text
    result = cli.invoke(main, ["issue", "add-item", str(draft.id), "--section", "news",
                               "--title", "Oma", "--url", "http://www.vantaa.fi/"])  # fmt: skip
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"Error: issue {draft.id}: give a link that starts with https://"
    )
    with Session(engine) as s:
        unchanged = s.get(Issue, draft.id)
        assert unchanged is not None and "Oma" not in titles(unchanged)
    answer = client.post(f"{base}/items?lang=fi", data={**form, "url": "https://www.vantaa.fi/"},
                         follow_redirects=False)  # fmt: skip
    assert "done=saved" in answer.headers["location"]


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


def test_a_rebuild_applies_only_the_staffs_edits_to_current_data() -> None:
    def snap(entries: list[dict[str, Any]], intro: str = "", **extra: Any) -> dict[str, Any]:
        sections = [{"id": "news", "kind": "news", "entries": entries}]
        return {"languages": {"fi": {"intro": intro, "sections": sections, **extra}}}

    old = snap(
        [
            {"id": 5, "title": "Pinned", "url": "https://old.example/5", "pinned": True},
            {"id": -1, "title": "Manual", "manual": True, "pinned": True},
            {"id": 9, "title": "Pinned, not chosen again", "pinned": True},
            {"id": 10, "title": "Pinned, removed at the source", "pinned": True},
            {
                "id": 6,
                "title": "Edited",
                "summary": "Oma",
                "edited": True,
                "language": "fi",
                "fallback": False,
                "event_status": None,
            },
            {"id": 7, "title": "Gone"},
        ],
        intro="Oma johdanto",
        intro_html="<p>Oma johdanto</p>",
        intro_edited=True,
    )
    old["dropped"] = [11]
    new = snap(
        [
            {"id": 8, "title": "Fresh"},
            {
                "id": 6,
                "title": "Original",
                "summary": "Lähde",
                "event_status": "cancelled",
                "language": "sv",
                "fallback": True,
            },
            {"id": 5, "title": "P", "url": "https://new.example/5"},
        ]
    )
    now = {9: {"id": 9, "title": "Nine as it is now"}}  # 10: gone at its source
    carried = carry_edits(old, new, lambda item_id, lang: now.get(item_id))
    data = new["languages"]["fi"]
    got = data["sections"][0]["entries"]
    assert [(e["id"], e["title"], e.get("pinned")) for e in got] == [
        (5, "P", True),  # the pin and its place; the source's current title and link
        (-1, "Manual", True),
        (9, "Nine as it is now", True),
        (8, "Fresh", None),
        (6, "Edited", None),  # the staff's title and summary over the current item
    ]
    assert got[0]["url"] == "https://new.example/5"
    assert got[4] == {"id": 6, "title": "Edited", "summary": "Oma", "event_status": "cancelled",
                      "language": "fi", "fallback": False, "edited": True}  # fmt: skip
    assert data["intro"] == "Oma johdanto" and data["intro_edited"] is True
    assert new["dropped"] == [11]
    assert carried == {5: "news", 9: "news"}


def test_a_reordered_section_keeps_the_staffs_order_when_rebuilt() -> None:
    def snap(ids: list[int], **section: Any) -> dict[str, Any]:
        entries = [{"id": i, "title": f"v{i}"} for i in ids]
        return {"languages": {"fi": {"sections": [{"id": "news", "entries": entries,
                                                   **section}]}}}  # fmt: skip

    old = snap([3, 1, 2], reordered=True)  # staff moved 3 to the top
    new = snap([1, 4, 2, 3])  # the build's order, with a new item 4
    carry_edits(old, new, lambda item_id, lang: None)
    section = new["languages"]["fi"]["sections"][0]
    assert [e["id"] for e in section["entries"]] == [3, 4, 1, 2]
    assert section["reordered"] is True
    plain = snap([1, 4, 2, 3])
    carry_edits(snap([3, 1, 2]), plain, lambda item_id, lang: None)  # never reordered
    assert [e["id"] for e in plain["languages"]["fi"]["sections"][0]["entries"]] == [1, 4, 2, 3]


def editor_csrf(client: TestClient, base: str) -> str:
    return csrf_of(client.get(f"{base}/edit?lang=en").text)


def test_the_editor_page_reorders_drops_pins_and_writes_the_intro(
    engine: Engine, client: TestClient, draft: Issue
) -> None:
    signed_in(engine, client, EDITOR, "editor", "vantaa")
    base = f"/staff/vantaa/issues/{draft.id}"
    page = client.get(f"{base}/edit?lang=en&edition=sv")
    assert page.status_code == 200 and "Introduction (Swedish)" in page.text
    assert '<span aria-current="page">Swedish</span>' in page.text
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
    # the command line schedules against the real clock: a winter day next year
    year = datetime.now(UTC).year + 1
    when = f"{year}-01-15 09:00"

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
    assert "only an approved issue" in run("schedule", ref, when, code=1)
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
    assert f"will be sent at {when}" in run("schedule", ref, when)
    assert "in the past" in run("schedule", ref, "2020-01-01 09:00", code=1)
    with Session(engine) as s:
        issue = s.get(Issue, draft.id)
        assert issue is not None
        assert issue.scheduled_at == datetime(year, 1, 15, 7, 0, tzinfo=UTC)  # EET, UTC+2
    assert "cancelled" in run("schedule", ref, "--cancel")
    assert audited(engine, draft.id).count("issue.edit") == 6


def test_a_move_that_changes_nothing_is_refused_and_not_recorded(
    engine: Engine, draft: Issue
) -> None:
    with Session(engine, expire_on_commit=False) as s:
        issue = s.get(Issue, draft.id)
        assert issue is not None
        before = dict(issue.snapshot)
        for item, offset, code in ((1, -1, "already_first"), (3, 1, "already_last")):
            with pytest.raises(flow.Refused) as caught:
                drafts.move(s, issue, item, offset, ED)
            assert caught.value.code == code
        assert issue.snapshot == before
        assert [e.action for e in history(s, issue.id)] == ["built"]
    assert audited(engine, draft.id) == []


def test_the_cli_move_needs_one_direction_and_says_when_the_item_cannot_go_further(
    cli: CliRunner, engine: Engine, draft: Issue
) -> None:
    ref = str(draft.id)

    def run(*args: str) -> Result:
        return cli.invoke(main, ["issue", "move", ref, *args, "--by", "kaisa"])

    for args in (("2",), ("2", "--up", "--down")):
        usage = run(*args)
        assert usage.exit_code == 2 and "give one of --up and --down" in usage.output
    for args, edge in ((("1", "--up"), "first"), (("3", "--down"), "last")):
        refused = run(*args)
        assert refused.exit_code == 1
        assert refused.output == (
            f"Error: issue {draft.id}: the item is already {edge} in its section\n"
        )
    assert "item 2 moved" in run("2", "--down").output
    with Session(engine) as s:
        issue = s.get(Issue, draft.id)
        assert issue is not None
        assert titles(issue) == ["Aurinkopaneelit", "Pyöräparkit", "Lämpöpumput"]
        assert [e.detail for e in history(s, issue.id) if e.action == "edited"] == [
            "moved item 2 by 1"
        ]


def test_the_editor_page_words_a_move_past_the_end(
    engine: Engine, client: TestClient, draft: Issue
) -> None:
    signed_in(engine, client, EDITOR, "editor", "vantaa")
    base = f"/staff/vantaa/issues/{draft.id}"
    token = editor_csrf(client, base)
    answer = client.post(
        f"{base}/items/1/move?lang=en",
        data={"csrf_token": token, "edition": "fi", "direction": "up"},
    )
    assert "The item is already first in its section." in answer.text


def test_a_language_the_issue_lacks_is_named_as_such(
    cli: CliRunner, engine: Engine, draft: Issue, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = str(draft.id)
    expected = "de is not a language of this issue (fi, sv)"
    commands = [
        ["issue", "edit-item", ref, "1", "--lang", "de", "--title", "x"],
        ["issue", "intro", ref, "-", "--lang", "de"],
        ["issue", "preview", ref, "--lang", "de"],
        ["issue", "send", ref, "--test-to", "staff@vantaa.fi", "--lang", "de"],
    ]
    for args in commands:
        result = cli.invoke(main, args, input="x\n")
        assert result.exit_code == 1 and result.output == f"Error: {expected}\n", args
    monkeypatch.setenv("OUTREACH_CLI_LANGUAGE", "fi")
    get_settings.cache_clear()
    finnish = cli.invoke(main, commands[1], input="x\n")
    assert finnish.output == "Virhe: de ei ole tämän numeron kieliä (fi, sv)\n"
    with Session(engine, expire_on_commit=False) as s:
        issue = s.get(Issue, draft.id)
        assert issue is not None
        assert [e.action for e in history(s, issue.id)] == ["built"]
        for call in (
            lambda: drafts.edit(s, issue, 1, "de", "x", "", ED),
            lambda: drafts.intro(s, issue, "de", "x", ED),
        ):
            with pytest.raises(flow.Refused) as caught:
                call()
            assert caught.value.code == "no_language"


def test_issue_show_lists_each_item_with_its_id_for_the_editing_commands(
    cli: CliRunner, engine: Engine, draft: Issue, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Session(engine, expire_on_commit=False) as s:
        issue = s.get(Issue, draft.id)
        assert issue is not None
        drafts.pin(s, issue, 2, True, ED)
        drafts.add(s, issue, "news", "Kaupungin vinkki", "", "", ED)
        snapshot = copy.deepcopy(issue.snapshot)
        for data in snapshot["languages"].values():
            event = data["sections"][0]["entries"][2]
            assert event["id"] == 3
            event.update(starts_at="2026-12-09T07:00:00+00:00", ends_at="2026-12-09T09:00:00+00:00",
                         event_status="cancelled")  # fmt: skip
        issue.snapshot = snapshot
        section = snapshot["languages"]["fi"]["sections"][0]["title"]
        s.commit()

    def show() -> list[str]:
        get_settings.cache_clear()
        result = cli.invoke(main, ["issue", "show", str(draft.id)])
        assert result.exit_code == 0, result.output
        return result.output.splitlines()

    lines = show()
    assert f"    fi: 4 items ({section} 4)" in lines  # the counts are still there
    fi = lines.index(f"    fi: 4 items ({section} 4)")
    assert lines[fi + 1 : fi + 6] == [
        f"      {section}:",
        "           1  Aurinkopaneelit",
        "           2  Lämpöpumput [pinned]",
        "           3  Pyöräparkit (Wed 9.12.2026 at 9:00–11:00) [cancelled]",
        "          -1  Kaupungin vinkki [pinned, added by hand]",
    ]
    assert lines[fi + 6].startswith("    sv: 4 items")
    hint = "the number before a title is the item's id for `outreach issue move|drop|pin|edit-item"
    assert f"  {hint} {draft.id} ITEM`" in lines
    monkeypatch.setenv("OUTREACH_CLI_LANGUAGE", "fi")
    finnish = show()
    assert "           2  Lämpöpumput [kiinnitetty]" in finnish
    assert "           3  Pyöräparkit (ke 9.12.2026 klo 9.00–11.00) [peruttu]" in finnish
    monkeypatch.setenv("OUTREACH_CLI_LANGUAGE", "sv")
    assert "          -1  Kaupungin vinkki [fäst, tillagd för hand]" in show()


def test_the_cli_names_an_item_added_by_hand_by_its_negative_id(
    cli: CliRunner, engine: Engine, draft: Issue
) -> None:
    ref = str(draft.id)

    def run(*args: str) -> Result:
        return cli.invoke(main, ["issue", *args, "--by", "kaisa"])

    assert "item -1 added" in run("add-item", ref, "--section", "news", "--title", "Oma").output
    for args in (
        ("pin", ref, "-1", "--unpin"),
        ("edit-item", ref, "-1", "--lang", "sv", "--title", "Eget"),
        ("move", ref, "-1", "--up"),
    ):
        result = run(*args)
        assert result.exit_code == 0, result.output
    with Session(engine) as s:
        issue = s.get(Issue, draft.id)
        assert issue is not None
        assert titles(issue, "sv")[2:] == ["Eget", "Pyöräparkit"]
    assert "item -1 dropped" in run("drop", ref, "-1").output
    assert run("drop", ref, "1", "--bye", "x").exit_code == 2  # a misspelt option is still one


def _last_sunday(year: int, month: int) -> date:
    """The day of the clock change in the EU: the last Sunday of March or October."""
    last = date(year, month, 31)
    return last - timedelta(days=(last.weekday() - 6) % 7)


def test_a_time_the_clocks_skip_is_refused_and_a_repeated_one_is_its_first(
    engine: Engine, client: TestClient, cli: CliRunner, draft: Issue, settings: Settings,
    config: Config,
) -> None:  # fmt: skip
    helsinki = "Europe/Helsinki"
    for time in ("03:00", "03:30", "03:59"):  # 2027-03-28: 3.00 → 4.00, summer time starts
        with pytest.raises(flow.Refused, match="no_such_time"):
            drafts.local_moment("2027-03-28", time, helsinki)
    # 2027-10-31: 4.00 → 3.00, the hour from 3.00 happens twice; the first (summer time) counts
    for day, time, utc in (
        ("2027-03-28", "02:59", datetime(2027, 3, 28, 0, 59, tzinfo=UTC)),
        ("2027-03-28", "04:00", datetime(2027, 3, 28, 1, 0, tzinfo=UTC)),
        ("2027-10-31", "03:30", datetime(2027, 10, 31, 0, 30, tzinfo=UTC)),
        ("2027-10-31", "04:30", datetime(2027, 10, 31, 2, 30, tzinfo=UTC)),
    ):
        assert drafts.local_moment(day, time, helsinki) == utc
    # the console and the command line schedule against the real clock: next year's
    # changes (the last Sundays of March and October)
    year = datetime.now(UTC).year + 1
    spring, autumn = _last_sunday(year, 3), _last_sunday(year, 10)
    approved(engine, settings, config, draft)
    signed_in(engine, client, APPROVER, "approver", "vantaa")
    base = f"/staff/vantaa/issues/{draft.id}"
    token = csrf_of(client.get(f"{base}?lang=fi").text)
    answer = client.post(f"{base}/schedule?lang=fi", data={"csrf_token": token,
                         "day": spring.isoformat(), "time": "03:30"})  # fmt: skip
    said = "Tätä kellonaikaa ei ole sinä päivänä: kelloja siirretään tunti eteenpäin kesäaikaan."
    assert said in answer.text
    result = cli.invoke(main, ["issue", "schedule", str(draft.id), f"{spring} 03:30"])
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"Error: issue {draft.id}: that time does not exist on that day: the clocks go forward "
        "an hour for summer time; give another"
    )
    with Session(engine) as s:
        issue = s.get(Issue, draft.id)
        assert issue is not None and issue.scheduled_at is None
    assert "issue.schedule" not in audited(engine, draft.id)
    twice = {"csrf_token": token, "day": autumn.isoformat(), "time": "03:30"}
    later = client.post(f"{base}/schedule?lang=fi", data=twice, follow_redirects=False)
    assert "done=scheduled" in later.headers["location"]
    with Session(engine) as s:
        issue = s.get(Issue, draft.id)
        assert issue is not None
        assert issue.scheduled_at == datetime(year, 10, autumn.day, 0, 30, tzinfo=UTC)
