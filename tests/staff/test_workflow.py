"""The issue workflow of the console: the page, the preview, and every action.

The app runs on a copy of the shipped campaigns in which Vantaa has approvers and
the four-eyes rule; mail goes to the ``memory:`` backend.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from outreach.campaigns import Config, load
from outreach.db import dispose_engines
from outreach.delivery.backends import memory
from outreach.models import (
    AuditEvent,
    City,
    Delivery,
    DeliveryStatus,
    Issue,
    IssueEvent,
    IssueReach,
    IssueStatus,
    StaffUser,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from outreach.settings import Settings
from outreach.staff import sessions
from outreach.staff import workflow as flow
from outreach.subscriptions import RecordingMailer
from outreach.web import create_app
from outreach.web.security import RateLimiter
from outreach.web.staff.guard import COOKIE
from tests.conftest import ROOT
from tests.staff.support import Clock, csrf_of, make_account, make_city_issue
from tests.web.conftest import TestClient

EDITOR = "toimittaja@vantaa.fi"
APPROVER = "hyvaksyja@vantaa.fi"
OTHER = "toinen@vantaa.fi"


def four_eyes_campaigns(root: Path) -> Path:
    """The shipped campaigns; Vantaa with approvers and ``approval: four_eyes``."""
    shutil.copytree(ROOT / "campaigns", root)
    cities = root / "cities.yaml"
    text = cities.read_text()
    marker = "    # approvers: [viestinta@vantaa.fi]\n"
    assert marker in text
    cities.write_text(
        text.replace(marker, "    approvers: [viestinta@vantaa.fi]\n    approval: four_eyes\n")
    )
    return root


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(
        update={"campaigns_dir": four_eyes_campaigns(tmp_path / "campaigns")}
    )


@pytest.fixture
def config(settings: Settings) -> Config:
    return load(settings.campaigns_path, settings.templates_path)


@pytest.fixture(autouse=True)
def _clean_outbox() -> Iterator[None]:
    memory.clear()
    yield
    memory.clear()


@pytest.fixture
def app(settings: Settings, engine: Engine, clock: Clock) -> Iterator[FastAPI]:
    limiter = RateLimiter({"form": (10_000, 100.0), "staff": (10_000, 100.0)})
    yield create_app(settings, mailer=RecordingMailer(), rate_limiter=limiter, clock=clock)
    dispose_engines()


def signed_in(engine: Engine, client: TestClient, email: str, role: str, city: str) -> None:
    make_account(engine, email, role, city)
    with Session(engine) as s:
        user = s.query(StaffUser).filter_by(email=email).one()
        token = sessions.start(s, user, sessions.FULL, ip="127.0.0.1", now=Clock().now)
        s.commit()
    client.cookies.set(COOKIE, token)


def post(client: TestClient, path: str, **fields: str) -> str:
    """POST a form of the issue page with its CSRF token; the page redirected to."""
    token = csrf_of(client.get(path.rsplit("/", 1)[0] + "?lang=en").text)
    answer = client.post(path, data={"csrf_token": token, **fields}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return str(answer.headers["location"])


def subscribe(engine: Engine, city: str, emails: list[str]) -> None:
    with Session(engine) as s:
        city_id = s.scalars(select(City.id).where(City.slug == city)).one()
        for i, email in enumerate(emails):
            sub = Subscriber(email=email, language="sv" if i % 2 else "fi", contact_name="")
            s.add(sub)
            s.flush()
            s.add(
                Subscription(
                    subscriber_id=sub.id,
                    city_id=city_id,
                    topics=["climate"],
                    status=SubscriptionStatus.CONFIRMED,
                    token_salt=f"s{i:030d}",
                )
            )
        s.commit()


def actions(engine: Engine, issue_id: int) -> list[str]:
    with Session(engine) as s:
        query = select(AuditEvent.action).where(AuditEvent.issue_id == issue_id)
        return list(s.scalars(query.order_by(AuditEvent.id)))


def test_the_issue_page_shows_each_language_and_its_preview(
    engine: Engine, client: TestClient, config: Config
) -> None:
    with Session(engine, expire_on_commit=False) as s:
        issue = make_city_issue(s, config, "vantaa-monthly", titles=["Aurinkopaneelit"])
    signed_in(engine, client, EDITOR, "editor", "vantaa")
    base = f"/staff/vantaa/issues/{issue.id}"
    page = client.get(f"{base}?lang=fi&edition=sv&width=phone")
    assert page.status_code == 200
    html = page.text
    for lang in ("fi", "sv"):
        assert issue.snapshot["languages"][lang]["subject"] in html
    assert "kt / 102 kt" in html  # the size against Gmail's clipping limit
    assert f'sandbox="" src="{base}/preview/sv?part=html"' in html
    assert 'class="preview phone"' in html
    assert "Ennakkotarkistus" in html  # the pre-flight check report is shown
    # the languages by their names in the page's language, the addresses by their codes
    assert '<tr><th scope="row">ruotsi</th>' in html and '<th scope="row">sv</th>' not in html
    assert '<span aria-current="page">ruotsi</span>' in html
    assert f'href="{base}?lang=fi&amp;edition=fi&amp;width=phone&amp;part=html">suomi</a>' in html
    assert 'title="Numeron esikatselu: ruotsi"' in html
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "frame-src 'self'" in page.headers["content-security-policy"]

    preview = client.get(f"{base}/preview/sv")
    assert preview.status_code == 200 and "Aurinkopaneelit" in preview.text
    assert "/unsubscribe/EXAMPLE-TOKEN" in preview.text  # filled as the send fills it
    assert "@@" not in preview.text
    assert "sandbox" in preview.headers["content-security-policy"]
    text = client.get(f"{base}/preview/fi?part=text")
    assert text.headers["content-type"].startswith("text/plain")
    assert "Aurinkopaneelit" in text.text and "<p>" not in text.text
    assert client.get(f"{base}/preview/en").status_code == 404  # not a language of it


def test_an_issue_of_another_city_is_not_found(
    engine: Engine, client: TestClient, config: Config
) -> None:
    with Session(engine, expire_on_commit=False) as s:
        vantaa = make_city_issue(s, config, "vantaa-monthly")
    make_account(engine, EDITOR, "editor", "kerava")  # the same person edits Kerava too
    signed_in(engine, client, EDITOR, "editor", "vantaa")
    for suffix in ("", "/preview/fi", "/progress"):
        assert client.get(f"/staff/kerava/issues/{vantaa.id}{suffix}").status_code == 404
    assert client.get(f"/staff/vantaa/issues/{vantaa.id}").status_code == 200


def test_four_eyes_refuses_the_builder_and_lets_another_approve(
    engine: Engine, settings: Settings, config: Config
) -> None:
    with Session(engine, expire_on_commit=False) as s:
        issue = make_city_issue(s, config, "vantaa-monthly", by=APPROVER)
        with pytest.raises(flow.Refused) as refused:
            flow.approve(s, settings, config, issue, flow.Actor(APPROVER.upper()),
                         override="kiire")  # fmt: skip
        assert refused.value.code == "four_eyes" and issue.status == IssueStatus.DRAFT
        outcome = flow.approve(s, settings, config, issue, flow.Actor(OTHER), override="kiire")
        assert outcome.issue is issue and issue.status == IssueStatus.APPROVED
        assert issue.approved_by == OTHER
        s.commit()
    assert actions(engine, issue.id) == ["issue.approve.refused", "issue.approve"]


def test_without_four_eyes_the_builder_may_approve(
    engine: Engine, settings: Settings, config: Config
) -> None:
    with Session(engine, expire_on_commit=False) as s:
        issue = make_city_issue(s, config, "kerava-monthly", by=APPROVER)
        outcome = flow.approve(s, settings, config, issue, flow.Actor(APPROVER), override="ok")
        assert outcome.issue is issue and issue.status == IssueStatus.APPROVED


def test_the_issue_page_says_sizes_and_findings_in_finnish_and_swedish(
    engine: Engine, client: TestClient, config: Config
) -> None:
    with Session(engine, expire_on_commit=False) as s:
        issue = make_city_issue(s, config, "vantaa-monthly", by=EDITOR)  # links to 127.0.0.1:9
    signed_in(engine, client, APPROVER, "approver", "vantaa")
    base = f"/staff/vantaa/issues/{issue.id}"
    assert "refused=check" in post(client, f"{base}/approve")  # the check ran and is stored
    fi = client.get(f"{base}?lang=fi").text
    assert re.search(r"<td>\d+,\d kt / 102 kt", fi) and not re.search(r"\d\.\d kt", fi)
    assert "Linkkiin ei saada yhteyttä: Osoite 127.0.0.1 (127.0.0.1) on paikallisessa" in fi
    assert "Linkki ei ole suojattu (http://); käytä sen https://-osoitetta" in fi
    sv = client.get(f"{base}?lang=sv").text
    assert re.search(r"<td>\d+,\d kB av 102 kB", sv) and not re.search(r"\d\.\d kB", sv)
    assert "En länk går inte att nå: Adressen 127.0.0.1 (127.0.0.1) finns i ett lokalt" in sv
    en = client.get(f"{base}?lang=en").text
    assert re.search(r"<td>\d+\.\d KB of 102 KB", en)
    for page in (fi, sv):
        assert "is not public" not in page and "not secure" not in page


def test_approval_is_blocked_by_check_errors_until_a_reason_is_given(
    engine: Engine, client: TestClient, config: Config
) -> None:
    with Session(engine, expire_on_commit=False) as s:
        issue = make_city_issue(s, config, "vantaa-monthly", by=EDITOR)
    signed_in(engine, client, APPROVER, "approver", "vantaa")
    base = f"/staff/vantaa/issues/{issue.id}"
    assert "refused=check" in post(client, f"{base}/approve")
    page = client.get(f"{base}?lang=en&refused=check")
    assert "The pre-flight check found errors" in page.text
    assert 'id="override"' in page.text
    assert "refused=check" in post(client, f"{base}/approve", override="   ")  # no reason
    assert "done=override" in post(client, f"{base}/approve", override="linkki korjataan")
    with Session(engine) as s:
        approved = s.get(Issue, issue.id)
        assert approved is not None and approved.status == IssueStatus.APPROVED
        events = s.scalars(select(IssueEvent.action).where(IssueEvent.issue_id == issue.id))
        assert "override" in list(events)
    assert actions(engine, issue.id) == [
        "issue.approve.refused",
        "issue.approve.refused",
        "issue.approve",
    ]


def test_the_builder_is_refused_in_the_console_under_four_eyes(
    engine: Engine, client: TestClient, config: Config
) -> None:
    with Session(engine, expire_on_commit=False) as s:
        issue = make_city_issue(s, config, "vantaa-monthly", by=APPROVER)
    signed_in(engine, client, APPROVER, "approver", "vantaa")
    base = f"/staff/vantaa/issues/{issue.id}"
    assert "refused=four_eyes" in post(client, f"{base}/approve", override="kiire")
    page = client.get(f"{base}?lang=sv&refused=four_eyes")
    assert "fyraögonsprincipen" in page.text


def test_a_test_goes_to_me_and_the_city_list_in_each_language_marked_test(
    engine: Engine, client: TestClient, config: Config
) -> None:
    with Session(engine, expire_on_commit=False) as s:
        issue = make_city_issue(s, config, "vantaa-monthly")
    signed_in(engine, client, EDITOR, "editor", "vantaa")
    base = f"/staff/vantaa/issues/{issue.id}"
    listed = "testi@vantaa.fi\nTESTI@vantaa.fi, kolmas@vantaa.fi"
    saved = post(client, "/staff/vantaa/test-addresses", addresses=listed, issue=str(issue.id))
    assert "done=addresses" in saved
    token = csrf_of(client.get(f"{base}?lang=en").text)
    refused = client.post("/staff/vantaa/test-addresses?lang=en", data={
        "csrf_token": token, "addresses": "ei osoite", "issue": str(issue.id)})  # fmt: skip
    assert refused.status_code == 422 and "“ei osoite” is not an e-mail address" in refused.text
    assert "done=test" in post(client, f"{base}/test", to_list="yes")
    got = sorted((m.recipients[0], str(m.message["Subject"])) for m in memory.outbox)
    subjects = {lang: issue.snapshot["languages"][lang]["subject"] for lang in ("fi", "sv")}
    assert got == sorted(
        (to, f"[TEST] {subjects[lang]}")
        for to in (EDITOR, "kolmas@vantaa.fi", "testi@vantaa.fi")
        for lang in ("fi", "sv")
    )
    assert actions(engine, issue.id) == ["issue.test"]


def test_the_preview_and_the_editor_open_in_the_readers_language(
    engine: Engine, client: TestClient, config: Config
) -> None:
    """A Swedish reader sees the Swedish edition first; a language the issue lacks
    falls back to its first, and an edition asked for is shown."""
    with Session(engine, expire_on_commit=False) as s:
        issue = make_city_issue(s, config, "vantaa-monthly")  # fi and sv
    signed_in(engine, client, EDITOR, "editor", "vantaa")
    base = f"/staff/vantaa/issues/{issue.id}"
    assert f'src="{base}/preview/sv?part=html"' in client.get(f"{base}?lang=sv").text
    assert f'src="{base}/preview/fi?part=html"' in client.get(f"{base}?lang=en").text
    asked = client.get(f"{base}?lang=sv&edition=fi").text
    assert f'src="{base}/preview/fi?part=html"' in asked
    editor = client.get(f"{base}/edit?lang=sv").text
    assert 'name="edition" value="sv"' in editor and 'name="edition" value="fi"' not in editor


def test_the_test_list_is_counted_in_the_form_of_its_number(
    engine: Engine, client: TestClient, config: Config
) -> None:
    with Session(engine, expire_on_commit=False) as s:
        issue = make_city_issue(s, config, "vantaa-monthly")
    signed_in(engine, client, EDITOR, "editor", "vantaa")
    base = f"/staff/vantaa/issues/{issue.id}"
    post(client, "/staff/vantaa/test-addresses", addresses="testi@vantaa.fi", issue=str(issue.id))
    one = {lang: client.get(f"{base}?lang={lang}").text for lang in ("fi", "sv", "en")}
    assert "Myös kaupungin testilistalle (1 osoite)" in one["fi"]
    assert "Även till stadens testlista (1 adress)" in one["sv"]
    assert "Also to the city&#39;s test list (1 address)" in one["en"]
    post(client, "/staff/vantaa/test-addresses", addresses="a@vantaa.fi\nb@vantaa.fi",
         issue=str(issue.id))  # fmt: skip
    assert "Även till stadens testlista (2 adresser)" in client.get(f"{base}?lang=sv").text


def test_request_approval_mails_the_city_approvers(
    engine: Engine, client: TestClient, config: Config
) -> None:
    with Session(engine, expire_on_commit=False) as s:
        issue = make_city_issue(s, config, "vantaa-monthly")
    signed_in(engine, client, EDITOR, "editor", "vantaa")
    assert "done=requested" in post(client, f"/staff/vantaa/issues/{issue.id}/request-approval")
    [mail] = memory.outbox
    assert mail.recipients == ["viestinta@vantaa.fi"]
    assert "Hyväksyntää pyydetään: vantaa-monthly/2026-12" in str(mail.message["Subject"])
    body = mail.message.get_body(("plain",))
    assert body is not None
    assert f"/staff/vantaa/issues/{issue.id}" in body.get_content()
    assert actions(engine, issue.id) == ["issue.request_approval"]


def test_send_now_runs_the_send_and_the_page_shows_the_results(
    engine: Engine, client: TestClient, config: Config, settings: Settings
) -> None:
    with Session(engine, expire_on_commit=False) as s:
        issue = make_city_issue(s, config, "vantaa-monthly", by=EDITOR)
        flow.approve(s, settings, config, issue, flow.Actor(OTHER), override="ok")
        s.commit()
    subscribe(engine, "vantaa", [f"yritys{i}@example.fi" for i in range(4)])
    signed_in(engine, client, APPROVER, "approver", "vantaa")
    base = f"/staff/vantaa/issues/{issue.id}"
    assert "done=sending" in post(client, f"{base}/send")  # the send runs after the answer
    assert sorted(m.recipients[0] for m in memory.outbox) == [
        f"yritys{i}@example.fi" for i in range(4)
    ]
    progress = client.get(f"{base}/progress").json()
    assert progress["counts"]["sent"] == 4 and progress["finished"] is True
    assert progress["status"] == "sent"
    page = client.get(f"{base}?lang=en")
    assert "Unsubscribed after this issue" in page.text
    assert "refused=state" in post(client, f"{base}/pause")  # a finished send
    assert "issue.send" in actions(engine, issue.id)
    with Session(engine) as s:
        sent = s.scalars(select(Delivery.status).where(Delivery.issue_id == issue.id))
        assert set(sent) == {DeliveryStatus.SENT}
        # settled: folded for the statistics at the end of the send, not on a page
        assert list(s.scalars(select(IssueReach.issue_id))) == [issue.id]


def test_pause_resume_cancel_and_discard_are_audited(
    engine: Engine, client: TestClient, config: Config, settings: Settings
) -> None:
    with Session(engine, expire_on_commit=False) as s:
        issue = make_city_issue(s, config, "vantaa-monthly", by=EDITOR)
        draft = make_city_issue(s, config, "vantaa-monthly", period="2027-01")
        flow.approve(s, settings, config, issue, flow.Actor(OTHER), override="ok")
        issue.status = IssueStatus.SENDING
        s.commit()
    signed_in(engine, client, APPROVER, "approver", "vantaa")
    base = f"/staff/vantaa/issues/{issue.id}"
    assert "done=pause" in post(client, f"{base}/pause")
    assert "done=cancel" in post(client, f"{base}/cancel")
    assert "refused=not_draft" in post(client, f"{base}/discard")
    assert "done=discarded" in post(client, f"/staff/vantaa/issues/{draft.id}/discard")
    with Session(engine) as s:
        assert s.get(Issue, issue.id).status == IssueStatus.CANCELLED  # type: ignore[union-attr]
        assert s.get(Issue, draft.id).status == IssueStatus.DISCARDED  # type: ignore[union-attr]
    assert actions(engine, issue.id)[-2:] == ["issue.pause", "issue.cancel"]
    assert actions(engine, draft.id) == ["issue.discard"]


def test_a_draft_subject_is_edited_and_the_editor_may_not_then_approve(
    engine: Engine, client: TestClient, config: Config, settings: Settings
) -> None:
    with Session(engine, expire_on_commit=False) as s:
        issue = make_city_issue(s, config, "vantaa-monthly", by="outreach")
    signed_in(engine, client, APPROVER, "approver", "vantaa")
    base = f"/staff/vantaa/issues/{issue.id}"
    token = csrf_of(client.get(f"{base}?lang=en").text)
    refused = client.post(f"{base}/subject", data={"csrf_token": token, "edition": "fi",
                                                  "subject": "  "})  # fmt: skip
    assert refused.status_code == 422 and 'aria-invalid="true"' in refused.text
    assert "done=edited" in post(
        client, f"{base}/subject", edition="sv", subject="Vandas  klimatnytt\nnu"
    )
    preview = client.get(f"{base}/preview/sv")
    assert "Vandas klimatnytt nu" in preview.text
    assert "refused=four_eyes" in post(client, f"{base}/approve", override="kiire")
    with Session(engine, expire_on_commit=False) as s:
        loaded = s.get(Issue, issue.id)
        assert loaded is not None
        assert loaded.snapshot["languages"]["sv"]["subject"] == "Vandas klimatnytt nu"
        assert flow.last_editor(s, loaded) == APPROVER
        flow.approve(s, settings, config, loaded, flow.Actor(OTHER), override="ok")
        s.commit()
    # an approved issue never changes
    assert "refused=not_draft" in post(client, f"{base}/subject", edition="fi", subject="Uusi")
    assert actions(engine, issue.id)[:2] == ["issue.edit", "issue.approve.refused"]


def test_a_subject_takes_the_campaigns_placeholders_with_the_issues_values(
    engine: Engine, client: TestClient, config: Config
) -> None:
    with Session(engine, expire_on_commit=False) as s:
        issue = make_city_issue(s, config, "vantaa-monthly", by="outreach")
    signed_in(engine, client, EDITOR, "editor", "vantaa")
    base = f"/staff/vantaa/issues/{issue.id}"
    named = "{{ issue.period_label }}, {{ issue.number }}, {{ issue.period }}, {{ city.name }}"
    assert named in client.get(f"{base}?lang=en").text  # the hint beside the form
    for subject, code in (
        ("Uutiset {{ issue.periodlabel }}", "subject_placeholder"),
        ("Uutiset {{ kaupunki }}", "subject_placeholder"),
        ("Uutiset {{ issue.period_label", "subject_template"),
        ("{% for x in issue %}x{% endfor %}", "subject_template"),
    ):
        assert f"refused={code}" in post(client, f"{base}/subject", edition="fi", subject=subject)
    shown = client.get(f"{base}?lang=fi&refused=subject_placeholder").text
    assert f"Otsikossa on paikanpitäjä, jota ei ole. Käytettävissä ovat {named}." in shown
    for lang, subject in (
        ("fi", "Ilmastouutiset {{ issue.period_label }}"),
        ("sv", "Nr {{ issue.number }}: {{ city.name|upper }}"),
    ):
        assert "done=edited" in post(client, f"{base}/subject", edition=lang, subject=subject)
    with Session(engine) as s:
        loaded = s.get(Issue, issue.id)
        assert loaded is not None
        subjects = {lang: data["subject"] for lang, data in loaded.snapshot["languages"].items()}
    assert subjects == {"fi": "Ilmastouutiset joulukuu 2026", "sv": "Nr 1: VANDA"}
    assert "Ilmastouutiset joulukuu 2026" in client.get(f"{base}/preview/fi").text
    assert actions(engine, issue.id) == ["issue.edit", "issue.edit"]  # refusals change nothing
