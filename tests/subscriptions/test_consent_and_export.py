"""Consent records name the link that confirmed; exports name their purpose and maker."""

from __future__ import annotations

import csv
import getpass
import hashlib
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from outreach import suppression
from outreach.campaigns import Config
from outreach.cli import main
from outreach.errors import SubscriptionError
from outreach.models import AuditEvent, ConsentRecord, Subscription, SubscriptionStatus
from outreach.settings import Settings
from outreach.subscriptions import (
    RecordingMailer,
    add_subscriber,
    confirm,
    export,
    show,
    subscribe,
    token_for,
    unsubscribe,
    update_preferences,
)
from outreach.suppression import SuppressionReason
from tests.subscriptions.conftest import signup


def test_the_confirmed_record_holds_a_hash_of_the_token_not_the_token(
    session: Session, settings: Settings, config: Config, mailer: RecordingMailer
) -> None:
    sub = subscribe(session, settings, config, "vantaa", signup(config), mailer).subscription
    assert sub is not None
    token = token_for(settings, sub, "confirm")
    confirm(session, settings, token)
    record = session.scalars(select(ConsentRecord).where(ConsentRecord.action == "confirmed")).one()
    assert record.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in (record.detail or "") and token not in (record.consent_text or "")
    shown = show(session, settings, "matti@yritys.fi")
    assert shown is not None
    assert shown["subscriptions"][0]["consent"][-1]["token_sha256"] == record.token_hash


def test_a_city_added_on_the_preferences_page_records_that_links_hash(
    session: Session, settings: Settings, config: Config, mailer: RecordingMailer
) -> None:
    sub = subscribe(session, settings, config, "vantaa", signup(config), mailer).subscription
    assert sub is not None
    confirm(session, settings, token_for(settings, sub, "confirm"))
    prefs = token_for(settings, sub, "preferences")
    update_preferences(
        session, settings, config, prefs, cities=["vantaa", "kerava"], topics=["climate"],
        language="fi", company_name=None, business_id=None, contact_name=None,
        size_class=None, industry_code=None, interested_in_visit=False,
    )  # fmt: skip
    hashes = [
        r.token_hash
        for r in session.scalars(select(ConsentRecord).where(ConsentRecord.action == "confirmed"))
    ]
    assert hashes[-1] == hashlib.sha256(prefs.encode()).hexdigest()


def test_signing_up_again_after_leaving_clears_the_old_confirmation(
    session: Session, settings: Settings, config: Config, mailer: RecordingMailer
) -> None:
    then = datetime.now(UTC) - timedelta(days=400)
    sub = subscribe(
        session, settings, config, "vantaa", signup(config), mailer, now=then
    ).subscription
    assert sub is not None
    confirm(session, settings, token_for(settings, sub, "confirm"), now=then)
    unsubscribe(session, settings, token_for(settings, sub, "unsubscribe"), now=then)
    again = subscribe(session, settings, config, "vantaa", signup(config), mailer).subscription
    assert again is sub and sub.status == SubscriptionStatus.PENDING
    assert sub.confirmed_at is None  # pending: nothing confirms this sign-up yet
    shown = show(session, settings, "matti@yritys.fi")
    assert shown is not None and shown["subscriptions"][0]["confirmed_at"] is None
    # the earlier confirmation stays where it belongs: the consent log
    assert [c["action"] for c in shown["subscriptions"][0]["consent"]].count("confirmed") == 1


# --- export purposes ----------------------------------------------------------------------


@pytest.fixture
def people(engine: Engine, settings: Settings, config: Config) -> None:
    """Kerava: one confirmed, one pending, one who left, one whose address bounced."""
    with Session(engine) as s:
        for email in ("ok@y.fi", "left@y.fi", "bounced@y.fi"):
            add_subscriber(s, settings, config, "kerava", signup(config, email, "kerava"), None,
                           confirmed=True, consent_note="contract")  # fmt: skip
        add_subscriber(s, settings, config, "kerava", signup(config, "wait@y.fi", "kerava"), None)
        for sub in s.scalars(select(Subscription)):
            if sub.subscriber.email == "left@y.fi":
                sub.status = SubscriptionStatus.UNSUBSCRIBED
        suppression.add(s, settings, "bounced@y.fi", SuppressionReason.HARD_BOUNCE, "550")
        s.commit()


def _emails(text: str) -> list[str]:
    return sorted(row["email"] for row in csv.DictReader(io.StringIO(text)))


def test_an_export_leaves_out_who_left_unless_the_purpose_needs_them(
    engine: Engine, settings: Settings, people: None
) -> None:
    out = io.StringIO()
    assert export(engine, settings, "kerava", out, purpose="crm", by="Liisa") == 2
    assert _emails(out.getvalue()) == ["ok@y.fi", "wait@y.fi"]
    everything = io.StringIO()
    export(engine, settings, "kerava", everything, purpose="gdpr-request", by="Liisa")
    assert _emails(everything.getvalue()) == ["bounced@y.fi", "left@y.fi", "ok@y.fi", "wait@y.fi"]
    with pytest.raises(SubscriptionError, match="only gdpr-request"):
        export(engine, settings, "kerava", io.StringIO(), purpose="crm", by="L",
               status="unsubscribed")  # fmt: skip
    with pytest.raises(SubscriptionError, match="unknown export purpose"):
        export(engine, settings, "kerava", io.StringIO(), purpose="fun", by="L")


def test_every_export_is_recorded_with_purpose_who_and_when(
    engine: Engine, settings: Settings, people: None
) -> None:
    at = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    export(engine, settings, "kerava", io.StringIO(), purpose="visits", by="Liisa L", now=at)
    with Session(engine) as s:
        event = s.scalars(select(AuditEvent)).one()
    assert (event.action, event.actor, event.city, event.purpose, event.created_at) == (
        "subscribers.export", "Liisa L", "kerava", "visits", at,
    )  # fmt: skip
    assert event.detail == {"format": "csv", "interested": True, "status": None, "rows": 0}


@pytest.fixture
def cli(settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("OUTREACH_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("OUTREACH_CAMPAIGNS_DIR", str(settings.campaigns_dir))
    assert settings.secret_key is not None  # the same key: the same suppression hashes
    monkeypatch.setenv("OUTREACH_SECRET_KEY", settings.secret_key.get_secret_value())
    monkeypatch.setenv("OUTREACH_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("OUTREACH_CLI_LANGUAGE", "en")
    return CliRunner()


def test_the_export_command_needs_a_purpose_and_records_the_user(
    cli: CliRunner, engine: Engine, people: None, tmp_path: Path
) -> None:
    missing = cli.invoke(main, ["subscribers", "export", "--city", "kerava"])
    assert missing.exit_code == 2 and "--purpose" in missing.output
    done = cli.invoke(main, ["subscribers", "export", "--city", "kerava", "--purpose", "crm"])
    assert done.exit_code == 0, done.output
    assert _emails(done.stdout) == ["ok@y.fi", "wait@y.fi"]
    named = cli.invoke(main, ["subscribers", "export", "--city", "kerava", "--purpose",
                              "gdpr-request", "--by", "Tietosuojavastaava",
                              "--out", str(tmp_path / "all.csv")])  # fmt: skip
    assert named.exit_code == 0, named.output
    refused = cli.invoke(main, ["subscribers", "export", "--city", "kerava", "--purpose", "crm",
                                "--status", "unsubscribed"])  # fmt: skip
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert len(refused.output.strip().splitlines()) == 1
    with Session(engine) as s:
        events = [(e.actor, e.purpose, e.detail["rows"]) for e in s.scalars(select(AuditEvent))]
    assert events == [(getpass.getuser(), "crm", 2), ("Tietosuojavastaava", "gdpr-request", 4)]
