"""The suppression list's keyed hash in SQL: SQLite and PostgreSQL compute exactly
what Python computes, follow the key, and the delivery re-check honours it."""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, String, literal, select, update
from sqlalchemy.orm import Session

from outreach import suppression
from outreach.campaigns import Config
from outreach.delivery import send_issue
from outreach.delivery.backends import memory
from outreach.delivery.outbox import enqueue_issue
from outreach.models import Delivery, DeliveryStatus, Issue, Suppression
from outreach.settings import Settings
from outreach.suppression import SuppressionReason, email_hmac, suppression_key
from outreach.validation import email_hash, normalise_email
from tests.delivery.conftest import populate

ADDRESSES = [
    "matti@yritys.fi",
    "Matti.Meikalainen@Yritys.FI",
    normalise_email("Info@Ääkkönen-Yritys.fi"),  # ä in the domain: IDNA, so ASCII
    "  user@example.fi  ",
    "\tTab.User@Example.fi\n",
    "\r\n crlf@example.fi \x0b\x0c",
    "o'brien+news@sub.example.fi",
]


@pytest.fixture
def db(db_settings: Settings, db_engine: Engine) -> tuple[Settings, Engine]:
    """Settings and an engine on each database (``db_url``)."""
    return db_settings, db_engine


def test_idna_address_is_ascii() -> None:
    assert ADDRESSES[2] == "info@xn--kknen-yritys-fcba6y.fi"


def test_sql_gives_the_python_value(db: tuple[Settings, Engine]) -> None:
    settings, engine = db
    key = suppression_key(settings)
    with Session(engine) as s:
        for address in ADDRESSES:
            got = s.scalar(select(email_hmac(literal(address, String), key)))
            assert got == email_hash(address, key), repr(address)
        assert email_hash(ADDRESSES[3], key) == email_hash("user@example.fi", key)
        assert email_hash(ADDRESSES[1], key) == email_hash("matti.meikalainen@yritys.fi", key)


def test_sql_follows_the_key(db: tuple[Settings, Engine]) -> None:
    """The same statement with another key (a cached compiled form) gives another value."""
    _, engine = db
    address = "matti@yritys.fi"
    with Session(engine) as s:
        for key in (b"\x01" * 32, b"\x02" * 32, b"k" * 70):  # 70 bytes: hashed first, as HMAC does
            got = s.scalar(select(email_hmac(literal(address, String), key)))
            assert got == email_hash(address, key)
        values = {s.scalar(select(email_hmac(literal(address, String), k))) for k in (b"a", b"b")}
    assert len(values) == 2


def test_recheck_skips_a_subscriber_suppressed_after_enqueue(
    db: tuple[Settings, Engine], config: Config
) -> None:
    settings, engine = db
    with Session(engine, expire_on_commit=False) as s:
        issue_id, _, emails = populate(s, 5)
        assert enqueue_issue(s, settings, config, s.get(Issue, issue_id)) == 5
        s.execute(  # as typed: the SQL side trims and lowercases like Python
            update(Delivery)
            .where(Delivery.email == "user3@example.fi")
            .values(email=" User3@Example.FI ")
        )
        suppression.add(s, settings, "USER1@example.fi", SuppressionReason.COMPLAINT, None)
        suppression.add(s, settings, "user3@example.fi", SuppressionReason.MANUAL, None)
        s.commit()
    dry = send_issue(settings, config, issue_id, dry_run=True)
    assert (dry.sent, dry.skipped) == (3, 2)
    report = send_issue(settings, config, issue_id)
    assert (report.sent, report.skipped) == (3, 2)
    got = {m.recipients[0] for m in memory.outbox}
    assert got == set(emails) - {"user1@example.fi", "user3@example.fi"}
    with Session(engine) as s:
        skipped = s.scalars(
            select(Delivery.subscriber_id).where(Delivery.status == DeliveryStatus.SKIPPED)
        ).all()
    assert sorted(skipped) == [2, 4]


def test_a_hash_under_another_secret_does_not_suppress(
    db: tuple[Settings, Engine], config: Config
) -> None:
    settings, engine = db
    other = settings.model_copy(
        update={"secret_key": SecretStr("another-secret-0123456789abcdef-0123")}
    )
    with Session(engine, expire_on_commit=False) as s:
        issue_id, _, _ = populate(s, 3)
        enqueue_issue(s, settings, config, s.get(Issue, issue_id))
        suppression.add(s, other, "user1@example.fi", SuppressionReason.COMPLAINT, None)
        s.commit()
    report = send_issue(settings, config, issue_id)
    assert (report.sent, report.skipped) == (3, 0)


def test_reasons_are_stored_as_before_and_read_back_as_the_enum(
    db: tuple[Settings, Engine],
) -> None:
    settings, engine = db
    stored = {
        SuppressionReason.HARD_BOUNCE: "bounce",
        SuppressionReason.COMPLAINT: "complaint",
        SuppressionReason.UNSUBSCRIBE: "unsubscribe",
        SuppressionReason.ERASURE: "erased",
        SuppressionReason.MANUAL: "manual",
    }
    with Session(engine) as s:
        for n, reason in enumerate(stored):
            suppression.add(s, settings, f"user{n}@example.fi", reason, None)
        suppression.add(s, settings, "user0@example.fi", SuppressionReason.MANUAL, "again")
        s.commit()
        rows = dict(s.execute(select(Suppression.email_hash, Suppression.reason)).all())
        for n, reason in enumerate(stored):
            assert (
                rows[email_hash(f"user{n}@example.fi", suppression_key(settings))]
                == (stored[reason])
            )
            got = suppression.is_suppressed(s, settings, f" USER{n}@example.fi")
            assert got is reason
        assert suppression.is_suppressed(s, settings, "nobody@example.fi") is None
        assert suppression.entry(s, settings, "user0@example.fi").detail is None  # first wins
