"""The per-mailbox limit of confirmation mails, one claim at a time and a batch at once,
on SQLite and PostgreSQL (``db_url``).

An import claims each batch's mailboxes in a few statements
(:func:`claim_mailboxes`); the answers and the rows left behind must be the ones
one :func:`claim_mailbox` per row, in file order, gives.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from outreach.campaigns import Config
from outreach.db import create_db_engine, session_scope
from outreach.errors import DeliveryError
from outreach.models import MailboxLimit, Subscriber, Subscription
from outreach.settings import Settings
from outreach.subscriptions import ConfirmationMail, RecordingMailer, import_csv
from outreach.subscriptions.limits import (
    MAILS_PER_DAY,
    MIN_INTERVAL,
    WINDOW,
    claim_mailbox,
    claim_mailboxes,
    mailbox_hash,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

#: Earlier claims, (address, hours before NOW): ``full@`` has had its three mails
#: today; ``recent@`` one 30 minutes ago; ``old@`` three, but over 24 hours ago.
EARLIER = [
    ("full@yritys.fi", 5.0), ("full+a@yritys.fi", 3.0), ("FULL@yritys.fi", 1.5),
    ("recent@yritys.fi", 0.5),
    ("old@yritys.fi", 30.0), ("old@yritys.fi", 28.0), ("old@yritys.fi", 26.0),
    ("once@yritys.fi", 2.0),
]  # fmt: skip

#: One batch: variants of one Gmail mailbox, repeats, and the mailboxes above.
BATCH = [
    "maija.virtanen@gmail.com",
    "new@yritys.fi",
    "maijavirtanen+ilmasto@googlemail.com",  # the same mailbox: held back
    "full+b@yritys.fi",  # three today already
    "recent@yritys.fi",  # within MIN_INTERVAL of the last
    "old@yritys.fi",  # its window has passed: a new one starts
    "once@yritys.fi",  # one today, two hours ago: may have another
    "once+x@yritys.fi",  # ... but not two
    "new@yritys.fi",
    "pekka@paja.fi",
]
EXPECTED = [True, True, False, False, False, True, True, False, False, True]


def _earlier(session: Session, settings: Settings) -> None:
    for email, hours in EARLIER:
        claim_mailbox(session, settings, email, NOW - timedelta(hours=hours))


def _rows(session: Session, settings: Settings) -> dict[str, tuple[object, ...]]:
    """Per address of BATCH and EARLIER: its mailbox's row (count, window start, last)."""
    out = {}
    for email in {*BATCH, *(email for email, _ in EARLIER)}:
        digest = mailbox_hash(settings, email)
        row = session.scalars(select(MailboxLimit).where(MailboxLimit.mailbox_hash == digest)).one()
        out[email] = (row.window_count, row.window_start, row.last_sent_at)
    return out


def test_a_batch_claim_answers_as_one_claim_per_row(db_engine: Engine, settings: Settings) -> None:
    # two keys: two separate sets of rows in one table, one claimed per row, one at once
    other_key = SecretStr("one-by-one-" + "k" * 40)
    one_by_one = settings.model_copy(update={"secret_key": other_key})
    with Session(db_engine) as s:
        _earlier(s, settings)
        _earlier(s, one_by_one)
        s.commit()
    with Session(db_engine) as s:
        batch = claim_mailboxes(s, [mailbox_hash(settings, email) for email in BATCH], NOW)
        single = [claim_mailbox(s, one_by_one, email, NOW) for email in BATCH]
        s.commit()
    assert batch == single == EXPECTED
    with Session(db_engine) as s:
        rows = _rows(s, settings)
        assert rows == _rows(s, one_by_one)
    assert rows["full@yritys.fi"][0] == MAILS_PER_DAY
    assert rows["old@yritys.fi"][:2] == (1, NOW)  # a new 24-hour window
    assert rows["once@yritys.fi"][0] == 2 and rows["new@yritys.fi"] == (1, NOW, NOW)
    # an hour on, the mailboxes mailed now may have one more, the full one still none
    with Session(db_engine) as s:
        later = NOW + MIN_INTERVAL
        again = [mailbox_hash(settings, email) for email in ("new@yritys.fi", "full@yritys.fi")]
        assert claim_mailboxes(s, again, later) == [True, False]
        assert claim_mailboxes(s, [], later) == []


def _import(
    engine: Engine, settings: Settings, config: Config, path: Path, mailer: object
) -> dict[str, datetime | None]:
    report = import_csv(engine, settings, config, path, "vantaa", mailer=mailer)  # type: ignore[arg-type]
    assert report.imported == len(BATCH) - 1  # new@ twice: one subscriber
    with Session(engine) as s:
        query = select(Subscriber.email, Subscription.confirmation_sent_at).join(Subscription)
        return dict(s.execute(query).all())


def test_an_import_mails_each_mailbox_within_its_limit(
    db_engine: Engine, settings: Settings, config: Config, tmp_path: Path
) -> None:
    with Session(db_engine) as s:
        now = datetime.now(UTC)
        for email, hours in EARLIER:  # earlier sign-ups, relative to the import's time
            claim_mailbox(s, settings, email, now - timedelta(hours=hours))
        s.commit()
    path = tmp_path / "crm.csv"
    path.write_text("email;company\n" + "".join(f"{email};Oy\n" for email in BATCH))
    mailer = RecordingMailer()
    sent = _import(db_engine, settings, config, path, mailer)
    mailed = [email for email, ok in zip(BATCH, EXPECTED, strict=True) if ok]
    assert [mail.to for mail in mailer.sent] == mailed
    # the rows held back are not marked as mailed: a later sign-up may send the link
    assert {email for email, when in sent.items() if when is not None} == set(mailed)
    with Session(db_engine) as s:
        rows = _rows(s, settings)
    assert rows["maija.virtanen@gmail.com"][0] == rows["new@yritys.fi"][0] == 1
    assert rows["full@yritys.fi"][0] == MAILS_PER_DAY and rows["old@yritys.fi"][0] == 1


def test_a_failed_mail_frees_its_mailbox_for_the_next_row(
    db_engine: Engine, settings: Settings, config: Config, tmp_path: Path
) -> None:
    """As one claim per row would: the first variant's mail fails and its claim is given
    back, so the next variant of that mailbox in the same batch gets the mail."""
    sent: list[str] = []

    def mailer(mail: ConfirmationMail) -> None:
        if mail.to == "maija.virtanen@gmail.com":
            raise DeliveryError("451 try again later")
        sent.append(mail.to)

    path = tmp_path / "crm.csv"
    path.write_text("email;company\n" + "".join(f"{email};Oy\n" for email in BATCH))
    result = _import(db_engine, settings, config, path, mailer)
    assert sent == ["new@yritys.fi", "maijavirtanen+ilmasto@googlemail.com",
                    "full+b@yritys.fi", "recent@yritys.fi", "old@yritys.fi", "once@yritys.fi",
                    "pekka@paja.fi"]  # fmt: skip
    assert result["maija.virtanen@gmail.com"] is None
    assert result["maijavirtanen+ilmasto@googlemail.com"] is not None
    with Session(db_engine) as s:
        assert _rows(s, settings)["maija.virtanen@gmail.com"][0] == 1


def test_concurrent_batch_claims_grant_each_mailbox_once(
    db_url: str, db_engine: Engine, settings: Settings
) -> None:
    """Separate engines stand for separate import processes claiming overlapping batches
    (in different orders, half of the mailboxes known already): each mailbox is granted
    to exactly one of them."""
    emails = [f"person{i}@yritys.fi" for i in range(300)]
    with Session(db_engine) as s:
        claim_mailboxes(s, [mailbox_hash(settings, e) for e in emails[::2]], NOW - WINDOW)
        s.commit()
    engines = [create_db_engine(db_url) for _ in range(4)]

    def one(i: int) -> list[str]:
        batch = emails[i * 50 :] + emails[: i * 50]  # the same mailboxes, another order
        with session_scope(engines[i]) as session:
            answers = claim_mailboxes(session, [mailbox_hash(settings, e) for e in batch], NOW)
        return [email for email, ok in zip(batch, answers, strict=True) if ok]

    with ThreadPoolExecutor(max_workers=4) as pool:
        granted = [email for got in pool.map(one, range(4)) for email in got]
    for engine in engines:
        engine.dispose()
    assert sorted(granted) == sorted(emails)
