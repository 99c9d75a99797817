"""The audit log is append-only and shown per city; the staff and audit commands."""

from __future__ import annotations

import ast
import re
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session

from outreach.cli import main
from outreach.db import create_db_engine, upgrade
from outreach.models import AuditEvent, StaffUser
from outreach.settings import Settings
from outreach.staff import audit
from outreach.staff.secrets import verify_password
from tests.conftest import ROOT
from tests.staff.support import make_account
from tests.web.conftest import TestClient

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def _log(engine: Engine) -> None:
    with Session(engine) as s:
        audit.record(s, "issue.approve", "a@kerava.fi", city="kerava", ip="10.0.0.1",
                     issue_id=7, now=T0)  # fmt: skip
        audit.record(s, "story.reject", "v@vantaa.fi", city="vantaa", subscriber_id=3,
                     now=datetime(2026, 12, 1, 9, 0, tzinfo=UTC))  # fmt: skip
        s.commit()


def _refuses_change(engine: Engine) -> None:
    for statement in ("UPDATE audit_events SET actor = 'x'", "DELETE FROM audit_events"):
        with engine.connect() as conn, pytest.raises(DatabaseError, match="append-only"):
            conn.execute(text(statement))
    with Session(engine) as s:
        event = s.scalars(select(AuditEvent)).first()
        assert event is not None
        event.actor = "someone else"
        with pytest.raises(PermissionError, match="append-only"):
            s.flush()
        s.rollback()
        s.delete(s.scalars(select(AuditEvent)).first())
        with pytest.raises(PermissionError, match="append-only"):
            s.flush()


def test_the_audit_log_is_append_only_on_sqlite(engine: Engine, tmp_path: object) -> None:
    _log(engine)
    _refuses_change(engine)
    migrated = create_db_engine(f"sqlite:///{tmp_path}/migrated.db")
    upgrade(str(migrated.url))  # the migration's triggers, not only create_all's
    _log(migrated)
    _refuses_change(migrated)
    migrated.dispose()


@pytest.mark.postgres
def test_the_audit_log_is_append_only_on_postgres(pg_url: str) -> None:
    upgrade(pg_url)
    engine = create_db_engine(pg_url)
    try:
        _log(engine)
        _refuses_change(engine)
        with engine.connect() as conn, pytest.raises(DatabaseError, match="append-only"):
            conn.execute(text("TRUNCATE audit_events"))
    finally:
        engine.dispose()


def test_audit_pages_show_a_city_to_its_approver_and_everything_to_an_admin(
    client: TestClient, engine: Engine
) -> None:
    from outreach.staff import sessions

    _log(engine)
    make_account(engine, "ap@kerava.fi", "approver", "kerava")
    with Session(engine) as s:
        user = s.scalars(select(StaffUser)).one()
        token = sessions.start(s, user, sessions.FULL, ip=None,
                               now=datetime(2026, 12, 1, 8, 0, tzinfo=UTC))  # fmt: skip
        s.commit()
    headers = {"Cookie": f"outreach_staff={token}"}
    page = client.get("/staff/kerava/audit?lang=en", headers=headers)
    assert page.status_code == 200
    assert "issue.approve" in page.text and "Issue #7" in page.text and "10.0.0.1" in page.text
    assert "story.reject" not in page.text
    assert client.get("/staff/vantaa/audit", headers=headers).status_code == 404
    assert client.get("/staff/audit", headers=headers).status_code == 403


@pytest.mark.parametrize(
    ("role", "city", "links"),
    [("editor", "kerava", set()), ("approver", "kerava", {"/staff/kerava/audit"}),
     ("admin", None, {"/staff/kerava/audit", "/staff/audit"})],
)  # fmt: skip
def test_the_navigation_links_the_audit_logs_the_person_may_read(
    client: TestClient, engine: Engine, role: str, city: str | None, links: set[str]
) -> None:
    from outreach.staff import sessions

    make_account(engine, f"{role}@kerava.fi", role, city)
    with Session(engine) as s:
        user = s.scalars(select(StaffUser)).one()
        token = sessions.start(s, user, sessions.FULL, ip=None,
                               now=datetime(2026, 12, 1, 8, 0, tzinfo=UTC))  # fmt: skip
        s.commit()
    headers = {"Cookie": f"outreach_staff={token}"}
    for path in ("/staff/kerava/", "/staff/kerava/subscribers"):
        page = client.get(f"{path}?lang=fi", headers=headers).text
        nav = page[page.index('<nav aria-label="Hallinta">') :].split("</nav>")[0]
        assert set(re.findall(r'href="(/staff/(?:kerava/)?audit)\?lang=fi"', nav)) == links
        for link in links:
            assert client.get(f"{link}?lang=fi", headers=headers).status_code == 200
    if city is not None:  # the page without a city (the person's cities) links no city's log
        page = client.get("/staff/?lang=fi", headers=headers).text
        assert "/staff/kerava/audit" not in page


def audit_actions() -> set[str]:
    """Every action the code records: its string constants named like one, and the
    actions it makes from the campaign states and the send controls."""
    from outreach.campaigns.console import STATES
    from outreach.staff.workflow import CONTROLS

    named = re.compile(r"^(staff|issue|subscribers?|leads?|story|campaign|source)\.[a-z_.]+$")
    found = {f"campaign.{state}" for state in STATES} | {f"issue.{c}" for c in CONTROLS}
    for folder in ("staff", "cli", "subscriptions", "web/staff"):
        for path in (ROOT / "outreach" / folder).glob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                value = node.value if isinstance(node, ast.Constant) else None
                if isinstance(value, str) and named.match(value) and not value.endswith(".html"):
                    found.add(value)
    return found


def test_every_audit_action_is_worded_on_the_audit_page() -> None:
    words = (ROOT / "outreach/web/templates/staff/_audit_words.html").read_text()
    worded = set(re.findall(r'"([a-z_.]+)": _\(', words))
    actions = audit_actions()
    assert {"staff.signin", "issue.approve", "campaign.paused", "issue.pause"} <= actions
    assert actions - worded == set()


def test_the_audit_log_speaks_the_readers_language(client: TestClient, engine: Engine) -> None:
    from outreach.staff import sessions

    _log(engine)
    with Session(engine) as s:
        audit.record(s, "subscribers.export", "a@kerava.fi", city="kerava", purpose="crm",
                     detail={"format": "csv", "rows": 12}, now=T0)  # fmt: skip
        s.commit()
    make_account(engine, "boss@vantaa.fi", "admin", None)
    with Session(engine) as s:
        user = s.scalars(select(StaffUser)).one()
        token = sessions.start(s, user, sessions.FULL, ip=None,
                               now=datetime(2026, 12, 1, 8, 0, tzinfo=UTC))  # fmt: skip
        s.commit()
    page = client.get("/staff/audit?lang=sv", headers={"Cookie": f"outreach_staff={token}"})
    rows = {
        re.sub(r"<[^>]+>", "|", row) for row in re.findall(r"<tr><td>(.*?)</tr>", page.text, re.S)
    }
    texts = {tuple(t.strip() for t in row.split("|") if t.strip()) for row in rows}
    assert any("Numret godkänt" in t and "issue.approve" in t and "Kervo" in t
               and "Nummer 7" in t for t in texts), texts  # fmt: skip
    assert any("Berättelsen avvisad" in t and "Prenumerant 3" in t for t in texts)
    assert any("syfte: stadens kundregister (CRM), format=csv, rows=12" in t for t in texts)


@pytest.fixture
def cli(settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("OUTREACH_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("OUTREACH_CAMPAIGNS_DIR", str(settings.campaigns_dir))
    monkeypatch.setenv("OUTREACH_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("OUTREACH_CLI_LANGUAGE", "en")
    return CliRunner()


def test_staff_commands_add_list_reset_disable(cli: CliRunner, engine: Engine) -> None:
    added = cli.invoke(main, ["staff", "add", "Eeva@Kerava.fi", "--city", "kerava",
                              "--role", "editor", "--by", "boss"])  # fmt: skip
    assert added.exit_code == 0, added.output
    password = added.output.splitlines()[-1].strip()
    with Session(engine) as s:
        user = s.scalars(select(StaffUser)).one()
        assert user.email == "eeva@kerava.fi" and user.password_hash is not None
        assert user.password_hash.startswith("$argon2id$") and password not in user.password_hash
        assert verify_password(user.password_hash, password)
    more = cli.invoke(main, ["staff", "add", "eeva@kerava.fi", "--city", "vantaa",
                             "--role", "approver"])  # fmt: skip
    assert more.exit_code == 0 and "now approver in vantaa" in more.output
    listed = cli.invoke(main, ["staff", "list"])
    assert "eeva@kerava.fi: editor kerava, approver vantaa; second factor none" in listed.output
    reset = cli.invoke(main, ["staff", "reset", "eeva@kerava.fi", "--totp"])
    new = reset.output.splitlines()[1].strip()
    assert reset.exit_code == 0 and new != password
    assert cli.invoke(main, ["staff", "disable", "eeva@kerava.fi"]).exit_code == 0
    assert "disabled" in cli.invoke(main, ["staff", "list", "--city", "kerava"]).output
    bad = cli.invoke(main, ["staff", "add", "x@kerava.fi", "--city", "espoo", "--role", "editor"])
    assert bad.exit_code == 1 and len(bad.output.strip().splitlines()) == 1
    assert "unknown city 'espoo'" in bad.output
    no_city = cli.invoke(main, ["staff", "add", "x@kerava.fi", "--role", "editor"])
    assert no_city.exit_code == 1 and "needs --city" in no_city.output
    log = cli.invoke(main, ["audit", "--actor", "boss"])
    assert "staff.add" in log.output and "eeva@kerava.fi" in log.output
    assert "staff.grant" not in log.output  # made by another actor


def test_audit_command_filters(cli: CliRunner, engine: Engine) -> None:
    _log(engine)
    kerava = cli.invoke(main, ["audit", "--city", "kerava"])
    assert "issue.approve" in kerava.output and "story.reject" not in kerava.output
    recent = cli.invoke(main, ["audit", "--since", "2026-11-15"])
    assert "story.reject" in recent.output and "issue.approve" not in recent.output
    wrong = cli.invoke(main, ["audit", "--since", "15.11.2026"])
    assert wrong.exit_code == 1 and "2026-12-01" in wrong.output
