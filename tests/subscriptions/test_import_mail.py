"""An import's confirmation mails: one rendered template per city, language and
topics, filled per mail, all sent over one backend connection (aiosmtpd on
127.0.0.1, and the file backend), with the same content as a mail rendered on
its own; a refused mail releases its claims and the import goes on."""

from __future__ import annotations

import csv
import logging
import socket
import threading
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import lxml.html
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from outreach.campaigns import Config
from outreach.delivery import confirmation_mailer
from outreach.delivery.message import Recipient, build_transactional
from outreach.delivery.transactional import CONFIRM_URL, ConfirmationBatch
from outreach.models import MailboxLimit, Subscriber, Subscription, SubscriptionStatus
from outreach.render import render_email
from outreach.settings import Settings
from outreach.subscriptions import (
    ConfirmationMail,
    SignUp,
    add_subscriber,
    confirm,
    confirmation_mail,
    import_csv,
)
from outreach.subscriptions.limits import claim_mailbox


class Sink:
    """Counts connections; keeps every message; refuses the RCPT of listed addresses
    (550) and drops the connection at the RCPT of others (once each)."""

    def __init__(self) -> None:
        self.connections = 0
        self.port = 0
        self.messages: list[tuple[list[str], bytes]] = []
        self.refuse: set[str] = set()
        self.drop: set[str] = set()
        self.lock = threading.Lock()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.refuse:  # as Postfix answers, quoting the address
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        if address in self.drop:
            self.drop.discard(address)
            server.transport.close()
            return "250 OK"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages.append((list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 OK"


class CountingSMTP(SMTP):
    def connection_made(self, transport: Any) -> None:
        self.event_handler.connections += 1
        super().connection_made(transport)


class CountingController(Controller):
    def factory(self) -> SMTP:
        return CountingSMTP(self.handler, **self.SMTP_kwargs)


@pytest.fixture
def sink() -> Any:
    handler = Sink()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        handler.port = s.getsockname()[1]
    controller = CountingController(handler, hostname="127.0.0.1", port=handler.port)
    controller.start()
    handler.connections = 0  # start() opened one to check the server answers
    yield handler
    controller.stop()


@pytest.fixture
def settings(db_settings: Settings) -> Settings:
    """The subscriptions tests' settings (their campaigns) on each database."""
    return db_settings


@pytest.fixture
def engine(db_engine: Engine) -> Engine:
    return db_engine


def write_crm(path: Path, n: int) -> list[str]:
    """A CRM export of ``n`` rows as Excel saves one (cp1252, ";"), in three languages
    and with two sets of topics named as staff name them; the addresses."""
    emails = [f"contact.{i}@firma{i % 7}.fi" for i in range(n)]
    with path.open("w", encoding="cp1252", newline="") as fh:
        writer = csv.writer(fh, delimiter=";")
        writer.writerow(["Sähköposti", "Yritys", "Kieli", "Aiheet", "Suostumus"])
        for i, email in enumerate(emails):
            language = ("suomi", "ruotsi", "englanti")[i % 3]
            topics = "Ilmastotyö" if i % 2 else "Ilmastotyö|Koulutukset, kurssit ja webinaarit"
            writer.writerow([email, f"Firma {i} Oy", language, topics, "Kyllä"])
    return emails


def parsed(data: bytes) -> EmailMessage:
    msg = message_from_bytes(data, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def parts(msg: EmailMessage) -> tuple[str, str]:
    text, html = msg.get_body(("plain",)), msg.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def as_document(html: str) -> str:
    """``html`` parsed and serialised by lxml: the same document spelled one way."""
    return str(lxml.html.tostring(lxml.html.document_fromstring(html), encoding="unicode"))


def per_mail(settings: Settings, config: Config, mail: ConfirmationMail) -> EmailMessage:
    """The mail as it was built before templates were kept: rendered with its own
    link (Jinja, CSS inlining), then made into a message."""
    what = confirmation_mail(mail)
    rendered = render_email(
        settings, config, what.city_slug, what.lang, what.template, dict(what.context),
        what.subject,
    )  # fmt: skip
    sender = config.cities[mail.city_slug].sender
    return parsed(build_transactional(sender, mail.lang, mail.to, rendered).data)


def assert_same_mail(filled: EmailMessage, alone: EmailMessage, *, same_html: bool) -> None:
    """Same headers (but the Message-ID, the Date and the MIME boundary, each the
    build's own), the same text part, and the same HTML: as text where the link
    has only characters HTML escapes one way, else as a document."""
    ignore = {"message-id", "date", "content-type"}
    assert [(k, v) for k, v in filled.items() if k.lower() not in ignore] == [
        (k, v) for k, v in alone.items() if k.lower() not in ignore
    ]
    assert filled.get_content_type() == alone.get_content_type() == "multipart/alternative"
    text, html = parts(filled)
    alone_text, alone_html = parts(alone)
    assert text == alone_text
    if same_html:
        assert html == alone_html
    else:  # lxml spells a link with " ' ä or a space otherwise (in '…', with %C3%A4, …)
        assert html != alone_html
    assert as_document(html) == as_document(alone_html)


URLS = [
    ("https://outreach.example.fi/confirm/c1f.6a0b1c.Zm9vYmFyLV8", True),
    ("https://outreach.example.fi/a?x=1&y=2&z=<3>/confirm/c2.abc.X-_", True),
    ('https://outreach.example.fi/a?y="2"/confirm/c2.abc.X-_', False),
    ("https://outreach.example.fi/o'neil/ä ö/confirm/c3.abc.X", False),
]
ADDRESSES = ["matti.meikalainen@yritys.fi", "o'brien+news@firma.fi", "user@faß.de"]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("url", "same_html"), URLS)
@pytest.mark.parametrize("lang", ["fi", "sv", "en"])
def test_a_filled_confirmation_is_the_mail_rendered_on_its_own(
    settings: Settings, config: Config, url: str, same_html: bool, lang: str
) -> None:
    batch = ConfirmationBatch(settings, config)
    for to in ADDRESSES:
        mail = ConfirmationMail(
            to=to, city_slug="vantaa", city_name="Vantaa & Co <Oy>", lang=lang, confirm_url=url,
            subject="Vahvista tilaus: Vantaa", topics=["Ilmasto & energia", "Koulutukset"],
        )  # fmt: skip
        template = batch.template(mail)
        message = template.fill(Recipient(to, "<a@vantaa.fi>", "", "", values={CONFIRM_URL: url}))
        filled = parsed(message.data)
        assert_same_mail(filled, per_mail(settings, config, mail), same_html=same_html)
        text, html = parts(filled)
        # the link as it is in the text part
        assert any(line.endswith(f": {url}") for line in text.splitlines())
        # the HTML part's link, read by an HTML parser, is the link itself
        assert lxml.html.document_fromstring(html).xpath("//a[@class='button']/@href") == [url]
    assert len(batch.templates) == 1  # one rendering for the three recipients


def read_mails(sink: Sink) -> dict[str, EmailMessage]:
    found = {}
    for rcpts, data in sink.messages:
        assert len(rcpts) == 1
        found[rcpts[0]] = parsed(data)
    return found


def confirm_url_of(msg: EmailMessage) -> str:
    text, _ = parts(msg)
    return next(line.rsplit(" ", 1)[1] for line in text.splitlines() if "/confirm/" in line)


def over_smtp(settings: Settings, sink: Sink) -> Settings:
    """``settings`` with the mail going to ``sink``."""
    return settings.model_copy(update={"mail_url": f"smtp://127.0.0.1:{sink.port}?starttls=false"})


def import_file(settings: Settings, config: Config, engine: Engine, path: Path) -> Any:
    return import_csv(
        engine, settings, config, path, "vantaa", mailer=confirmation_mailer(settings, config)
    )


def test_an_import_sends_every_confirmation_over_one_smtp_connection(
    settings: Settings, config: Config, engine: Engine, sink: Sink, tmp_path: Path
) -> None:
    settings = over_smtp(settings, sink)
    emails = write_crm(tmp_path / "crm.csv", 300)
    report = import_file(settings, config, engine, tmp_path / "crm.csv")
    assert report.imported == 300 and report.mailed == 300
    assert sink.connections == 1
    mails = read_mails(sink)
    assert sorted(mails) == sorted(emails)
    with Session(engine, expire_on_commit=False) as session:
        query = select(Subscriber.email, Subscription).join(Subscription)
        subs: dict[str, Subscription] = {row[0]: row[1] for row in session.execute(query)}
        for email, msg in mails.items():
            assert msg["To"] == email
            token = confirm_url_of(msg).rsplit("/", 1)[1]
            # the link confirms this address's subscription and no other
            assert confirm(session, settings, token).id == subs[email].id
        session.commit()
        statuses = session.scalars(select(Subscription.status)).all()
        assert set(statuses) == {SubscriptionStatus.CONFIRMED}
    # each mail is the one rendered on its own, in its language and with its topics
    for email in (emails[0], emails[1], emails[2], emails[5]):
        msg = mails[email]
        lang = msg["Content-Language"]
        with Session(engine) as session:
            topics = session.scalars(
                select(Subscription.topics).join(Subscriber).where(Subscriber.email == email)
            ).one()
        name = config.cities["vantaa"].name[lang]
        alone = ConfirmationMail(
            to=email, city_slug="vantaa", city_name=name, lang=lang,
            confirm_url=confirm_url_of(msg), subject=msg["Subject"],
            topics=[config.topics.get(t, {}).get(lang, t) for t in topics],
        )  # fmt: skip
        assert_same_mail(msg, per_mail(settings, config, alone), same_html=True)
    assert len({msg["Message-ID"] for msg in mails.values()}) == 300


def test_refusals_and_a_dropped_connection_mid_import(
    settings: Settings, config: Config, engine: Engine, sink: Sink, tmp_path: Path
) -> None:
    settings = over_smtp(settings, sink)
    emails = write_crm(tmp_path / "crm.csv", 200)
    refused = {emails[3], emails[100], emails[199]}
    sink.refuse = set(refused)
    sink.drop = {emails[50]}  # the server goes away: that mail fails, the next reconnects
    report = import_file(settings, config, engine, tmp_path / "crm.csv")
    failed = refused | {emails[50]}
    assert report.imported == 200 and report.mailed == 200 - len(failed)
    assert sink.connections == 2
    assert sorted(read_mails(sink)) == sorted(set(emails) - failed)
    now = datetime.now(UTC)
    with Session(engine) as session:
        sent_at = dict(
            session.execute(
                select(Subscriber.email, Subscription.confirmation_sent_at).join(Subscription)
            ).all()
        )
        assert {e for e, at in sent_at.items() if at is None} == failed
        # the mailbox claim of a failed mail was given back; a sent one's holds
        for email in failed:
            assert claim_mailbox(session, settings, email, now)
        assert not claim_mailbox(session, settings, emails[4], now)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_refused_mails_are_logged_without_the_address(
    settings: Settings,
    config: Config,
    engine: Engine,
    sink: Sink,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The server's refusal quotes the address; neither the import's log lines nor
    ``subscribers add``'s carry it (erasing a person must not leave them in logs)."""
    settings = over_smtp(settings, sink)
    emails = write_crm(tmp_path / "crm.csv", 3)
    sink.refuse = {*emails, "added@firma.fi"}
    caplog.set_level(logging.INFO)
    report = import_file(settings, config, engine, tmp_path / "crm.csv")
    assert report.imported == 3 and report.mailed == 0
    with Session(engine) as session:
        signup = SignUp.clean(config, "vantaa", email="added@firma.fi")
        add_subscriber(
            session, settings, config, "vantaa", signup, confirmation_mailer(settings, config)
        )
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("outreach")]
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warned) == 4
    assert all("not sent (permanent: 550 5.1.1 <[email]>: Recipient" in m for m in warned)
    assert not any(address in line for address in sink.refuse for line in ours)


def test_a_rerun_after_a_mail_outage_sends_the_mails_that_did_not_go(
    settings: Settings, config: Config, engine: Engine, sink: Sink, tmp_path: Path
) -> None:
    """The report says how many confirmation mails could not be sent; running the same
    file again once the server is back sends them, and only them, once."""
    path = tmp_path / "crm.csv"
    path.write_text("Sähköposti;Yritys\neka@firma.fi;Eka Oy\ntoka@firma.fi;Toka Oy\n")
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    down = settings.model_copy(update={"mail_url": f"smtp://127.0.0.1:{closed}?starttls=false"})
    outage = import_file(down, config, engine, path)
    assert (outage.imported, outage.mailed, outage.mail_failed) == (2, 0, 2)
    assert list(outage.lines("en"))[1] == (
        "2 confirmation mails could not be sent: the mail server did not take them. The "
        "contacts stay pending; run the same command again later to send them"
    )
    assert list(outage.lines("fi"))[1].startswith("2 vahvistusviestiä ei voitu lähettää")
    assert list(outage.lines("sv"))[1].startswith("2 bekräftelsemeddelanden kunde inte skickas")
    up = over_smtp(settings, sink)
    rerun = import_file(up, config, engine, path)
    assert (rerun.imported, rerun.unchanged, rerun.mailed, rerun.mail_failed) == (0, 2, 2, 0)
    assert len(list(rerun.lines())) == 1  # the summary alone
    mails = read_mails(sink)
    assert sorted(mails) == ["eka@firma.fi", "toka@firma.fi"]
    with Session(engine) as session:
        sub = confirm(session, up, confirm_url_of(mails["eka@firma.fi"]).rsplit("/", 1)[1])
        assert sub.subscriber.email == "eka@firma.fi"
        session.commit()
    again = import_file(up, config, engine, path)  # each got its mail: nothing more goes out
    assert (again.unchanged, again.mailed) == (2, 0) and len(sink.messages) == 2


def test_a_rerun_keeps_to_the_mailbox_limit(
    settings: Settings, config: Config, engine: Engine, sink: Sink, tmp_path: Path
) -> None:
    """Two spellings of one mailbox: the second's mail is held back, counted, and sent
    by a run once the mailbox may have another (an hour later), not before."""
    path = tmp_path / "crm.csv"
    path.write_text("Sähköposti\nmaija.virtanen@gmail.com\nmaijavirtanen+uutiset@gmail.com\n")
    settings = over_smtp(settings, sink)
    first = import_file(settings, config, engine, path)
    assert (first.imported, first.mailed, first.mail_held) == (2, 1, 1)
    assert list(first.lines())[1].startswith("1 confirmation mail held back: the address has")
    assert list(first.lines("fi"))[1].startswith("1 vahvistusviesti jäi toistaiseksi")
    soon = import_file(settings, config, engine, path)
    assert (soon.mailed, soon.mail_held) == (0, 1) and len(sink.messages) == 1
    with Session(engine) as session:  # an hour and a minute later
        later = datetime.now(UTC) - timedelta(minutes=61)
        session.execute(update(MailboxLimit).values(last_sent_at=later))
        session.commit()
    hour = import_file(settings, config, engine, path)
    assert (hour.mailed, hour.mail_held) == (1, 0)
    assert [rcpts for rcpts, _ in sink.messages] == [
        ["maija.virtanen@gmail.com"],
        ["maijavirtanen+uutiset@gmail.com"],
    ]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_an_import_to_the_file_backend(
    settings: Settings, config: Config, engine: Engine, tmp_path: Path
) -> None:
    outbox = tmp_path / "outbox"
    settings = settings.model_copy(update={"mail_url": f"file://{outbox}"})
    emails = write_crm(tmp_path / "crm.csv", 120)
    report = import_file(settings, config, engine, tmp_path / "crm.csv")
    assert report.mailed == 120
    files = sorted(outbox.glob("*.eml"))
    assert len(files) == 120
    mails = {parsed(f.read_bytes())["To"]: parsed(f.read_bytes()) for f in files}
    assert sorted(mails) == sorted(emails)
    with Session(engine, expire_on_commit=False) as session:
        for msg in mails.values():
            assert confirm(session, settings, confirm_url_of(msg).rsplit("/", 1)[1])
        session.commit()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_single_mail_opens_and_closes_its_own_connection(
    settings: Settings, config: Config, sink: Sink
) -> None:
    """The web's sign-up mails one at a time and keeps no connection open between them."""
    settings = over_smtp(settings, sink)
    mailer = confirmation_mailer(settings, config)
    for i in range(2):
        mailer(
            ConfirmationMail(
                to=f"web{i}@firma.fi", city_slug="vantaa", city_name="Vantaa", lang="fi",
                confirm_url=f"https://outreach.example.fi/confirm/c{i}.a.b", subject="S",
            )
        )  # fmt: skip
    assert sink.connections == 2 and len(sink.messages) == 2
    assert not hasattr(mailer, "backends")  # nothing kept between calls
