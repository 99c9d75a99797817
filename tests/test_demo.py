"""`outreach demo` end to end, as a user runs it: a subprocess in an empty folder."""

from __future__ import annotations

import email
import email.policy
import os
import re
import sqlite3
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def run_outreach(
    cwd: Path,
    *args: str,
    campaigns: Path = ROOT / "campaigns",
    env: dict[str, str] | None = None,
    lang: str = "C.UTF-8",
) -> subprocess.CompletedProcess[str]:
    extra = env or {}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OUTREACH_", "LC_"))}
    env["OUTREACH_CAMPAIGNS_DIR"] = str(campaigns)
    env["OUTREACH_TEMPLATES_DIR"] = str(ROOT / "templates")
    env["LANG"] = lang
    env.update(extra)
    return subprocess.run(
        [sys.executable, "-m", "outreach", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def read_outbox(outbox: Path) -> list[EmailMessage]:
    messages = []
    for path in sorted(outbox.glob("*.eml")):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        messages.append(msg)
    return messages


def test_demo_end_to_end(tmp_path: Path) -> None:
    first = run_outreach(tmp_path, "demo")
    assert first.returncode == 0, first.stderr
    assert "var/previews/" in first.stdout
    outbox = tmp_path / "var" / "outbox"
    messages = read_outbox(outbox)
    assert messages, "the demo sent nothing"
    previews = list((tmp_path / "var" / "previews").glob("*.html"))
    assert {p.name.split("-")[0] for p in previews} == {"vantaa", "kerava", "jarvenpaa"}
    assert any(p.name.endswith("-sv.html") for p in previews)

    unsubscribe_links: set[str] = set()
    languages: set[str] = set()
    for msg in messages:
        assert not msg.defects, msg.defects
        assert msg.get_content_type() == "multipart/alternative"
        parts = [p.get_content_type() for p in msg.iter_parts()]
        assert parts == ["text/plain", "text/html"]
        text = msg.get_body(("plain",))
        html = msg.get_body(("html",))
        assert text is not None and html is not None
        text_body, html_body = text.get_content(), html.get_content()
        assert "@@" not in text_body and "@@" not in html_body
        header = str(msg["List-Unsubscribe"])
        link = re.search(r"<(https?://[^>]+/unsubscribe/[^>]+)>", header)
        assert link, header
        assert link.group(1) in html_body and link.group(1) in text_body
        unsubscribe_links.add(link.group(1))
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        subject = str(msg["Subject"])
        lang = html_body.split('lang="', 1)[1][:2]
        languages.add(lang)
        if lang == "sv":
            assert "Klimatnytt" in subject and "december 2026" in subject
            assert "Avsluta prenumerationen" in html_body or "prenumeration" in html_body
        else:
            assert "joulukuu 2026" in subject or "ilmasto" in subject.lower()
    assert languages == {"fi", "sv"}
    assert len(unsubscribe_links) == len(messages), "unsubscribe links must be per recipient"

    second = run_outreach(tmp_path, "demo")
    assert second.returncode == 0, second.stderr
    assert len(read_outbox(outbox)) == len(messages), "the second run sent mail again"


def test_user_error_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "campaigns"
    bad.mkdir()
    (bad / "cities.yaml").write_text("cities: [unclosed\n")
    result = run_outreach(tmp_path, "campaigns", "list", campaigns=bad)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cities.yaml" in lines[0] and "Traceback" not in result.stderr


def test_demo_refuses_a_real_mail_server(tmp_path: Path) -> None:
    """The demo's example mail goes into files, never through a mail server the
    settings name; nothing is made."""
    env = {"OUTREACH_MAIL_URL": "smtp://127.0.0.1:1?starttls=false"}
    env["OUTREACH_BASE_URL"] = "https://uutiskirje.example.fi"
    result = run_outreach(tmp_path, "demo", env=env, lang="fi_FI.UTF-8")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Virhe: outreach demo lähettää esimerkkiviestinsä vain tiedostoihin (file://), "
        "memory:- tai console:-taustalle, ei smtp:-palvelimen kautta; aja se omassa "
        "kansiossaan ilman OUTREACH_MAIL_URL-asetusta"
    ]
    assert not (tmp_path / "var" / "outreach.db").exists()


def test_demo_clean_keeps_a_database_in_real_use(tmp_path: Path) -> None:
    """A database where someone else approved an issue is not the demo's: the demo
    refuses it, and --clean does not delete it."""
    assert run_outreach(tmp_path, "demo").returncode == 0
    db = tmp_path / "var" / "outreach.db"
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO issue_events (issue_id, action, actor, created_at) "
            "VALUES (1, 'approved', 'anna.virtanen@vantaa.fi', '2026-12-03 10:00:00')"
        )
    size = db.stat().st_size
    for args in (("demo",), ("demo", "--clean")):
        result = run_outreach(tmp_path, *args, lang="sv_FI.UTF-8")
        assert result.returncode == 1, result.stdout
        [line] = result.stderr.strip().splitlines()
        assert line == (
            f"Fel: {db} innehåller nummer eller prenumeranter som demon inte har skapat; "
            "outreach demo körs bara mot en egen databas: kör den i en egen mapp, utan "
            "OUTREACH_DATABASE_URL"
        )
    assert db.stat().st_size == size
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM issue_events WHERE actor <> 'demo'").fetchone()
