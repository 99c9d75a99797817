"""Writes an import's rows in batches: a handful of set-based statements per batch.

Per row the import does only what must be per row (the address and business
ID checks, the suppression hash); everything else is per batch: three
look-ups (suppression list, subscribers, this city's subscriptions), then one
multi-row ``INSERT … RETURNING`` each for new subscribers and subscriptions,
one multi-row ``INSERT`` of their consent records, and one ``UPDATE`` per
kind of change. A pending subscription of the city that never got its
confirmation mail (it failed, was held back by the mailbox's limit, or the
import before had ``--no-mail``) gets it now, its right taken as a sign-up
takes it. The rows written are the ones the single-row functions of the
subscriptions stage write (``record``, ``mail_confirmation``): the same
columns, consent version, consent text in the contact's language, detail and
time, which ``tests/subscriptions/test_import_records.py`` checks.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import Connection, Table, bindparam, select, update
from sqlalchemy.orm import Session

from outreach.campaigns import Config
from outreach.errors import OutreachError
from outreach.l10n import LANGUAGES
from outreach.models import (
    ConsentRecord,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    search_text_of,
)
from outreach.settings import Settings
from outreach.subscriptions.bulk import bulk_insert, next_ids, one_of
from outreach.subscriptions.consent import CONSENT_VERSION, consent_text
from outreach.subscriptions.import_report import ImportReport, Note
from outreach.subscriptions.limits import claim_mailboxes, release_mailbox
from outreach.subscriptions.mail import ConfirmationMail, Mailer, confirmation_subject
from outreach.subscriptions.signup import SignUp, city_name, city_row
from outreach.suppression import reasons_for_hashes, suppression_key
from outreach.tokens import make_token, new_salts
from outreach.validation import email_hash, mailbox_of

log = logging.getLogger(__name__)

PEOPLE = cast(Table, Subscriber.__table__)
SUBS = cast(Table, Subscription.__table__)
CONSENT = cast(Table, ConsentRecord.__table__)
Params = list[dict[str, Any]]


class Row(NamedTuple):
    """A row as the reader prepares it (:meth:`BatchWriter.row`)."""

    line: int
    signup: SignUp
    digest: str  # the address's suppression-list hash
    search_text: str | None  # the subscriber's, should the address be new
    mailbox: str  # :func:`mailbox_hash` of the address, when mail is sent ("" else)


Plan = tuple[list["_New"], dict[tuple[str, ...], Params], Params, list[int], list["_New"], "_Tally"]
DETAILS = ("company_name", "business_id", "contact_name", "size_class", "industry_code")
#: The details ``Subscriber.search_text`` is made of (after the address).
SEARCHED = ("company_name", "business_id", "contact_name")
LEFT = (SubscriptionStatus.UNSUBSCRIBED, SubscriptionStatus.BOUNCED)


def _search_text(email: str, details: Any) -> str | None:
    """``Subscriber.search_text`` of an address and its details (a mapping, or an object
    with them as attributes), as the ORM's flush hook makes it."""
    get = details.get if isinstance(details, Mapping) else lambda name: getattr(details, name)
    return search_text_of(email, *(get(name) for name in SEARCHED))


def _no_wait() -> None:
    return None


@dataclass
class _Tally:
    """A batch's counts, added to the report in file order (batches may be planned
    side by side)."""

    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: list[Note] = field(default_factory=list)

    def add_to(self, report: ImportReport) -> None:
        report.imported += self.imported
        report.updated += self.updated
        report.unchanged += self.unchanged
        report.skipped.extend(self.skipped)


@dataclass
class _New:
    """A subscription to create (and a subscriber, when ``person_id`` is None), or
    (``unsent``) a pending one of the city that never got its confirmation mail."""

    signup: SignUp
    person_id: int | None
    search_text: str | None  # a new subscriber's (None: an existing one)
    mailbox: str  # :func:`mailbox_hash` of the address, when a mail is sent
    sub_id: int = 0
    salt: str = ""
    unsent: bool = False


@dataclass
class BatchWriter:
    """Collects validated rows and writes them a batch at a time (or only counts: dry run)."""

    settings: Settings
    config: Config
    city_slug: str
    report: ImportReport
    confirmed: bool
    detail: str
    mailer: Mailer | None
    now: datetime
    dry_run: bool = False
    city_id: int = 0
    _key: bytes = field(default=b"", repr=False)
    _texts: dict[str, str] = field(default_factory=dict, repr=False)
    _first_topic: list[str] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self._key = suppression_key(self.settings)
        self._first_topic = list(self.config.cities[self.city_slug].topics[:1])
        self._texts = {
            lang: consent_text(city_name(self.config, self.city_slug, lang), lang)
            for lang in LANGUAGES
        }

    @property
    def mails(self) -> bool:
        """Whether new subscriptions get their confirmation mail now."""
        return self.mailer is not None and not self.confirmed

    def start(self, session: Session) -> None:
        """The city's row (made from the campaign files when it is new)."""
        self.city_id = city_row(session, self.config, self.city_slug).id

    def row(self, line: int, signup: SignUp) -> Row:
        """What the writer needs of one row that is per row alone, made by the reader
        (a thread of its own) while the writer writes the batch before."""
        email = signup.email
        digest = email_hash(email, self._key)
        mailbox = ""
        if self.mails:
            # an address that is its own mailbox (most are) has its hash already:
            # the suppression-list hash, under the same key
            canonical = mailbox_of(email)
            mailbox = digest if canonical == email else email_hash(canonical, self._key)
        return Row(line, signup, digest, _search_text(email, signup), mailbox)

    def flush(
        self, session: Session, rows: list[Row], after: Callable[[], None] = _no_wait
    ) -> None:
        """Plan ``rows`` (one batch) and, unless a dry run, write them.

        ``after()`` returns once the batch before this one is committed (it raises
        if that one failed). What comes before it (the look-ups and the inserts of
        new rows) may run beside that batch, on another connection: the reader
        gives each address to one batch only, so the two touch different rows.
        Everything after it runs in file order: the updates (a subscriber's update
        raises the statistics' shared stamp), confirmations, mailbox claims, mails
        and the report's counts.
        """
        conn = session.connection()
        new, person_changes, topic_changes, confirms, to_mail, tally = self._plan(conn, rows)
        if not self.dry_run:
            self._insert(conn, new)
        after()
        tally.add_to(self.report)
        if self.dry_run:
            return
        for columns, params in person_changes.items():
            values: dict[str, Any] = {name: bindparam(f"v_{name}") for name in columns}
            stmt = update(PEOPLE).where(PEOPLE.c.id == bindparam("b_id")).values(values)
            conn.execute(stmt, params)
        if topic_changes:
            stmt = update(SUBS).where(SUBS.c.id == bindparam("b_id"))
            conn.execute(stmt.values(topics=bindparam("v_topics")), topic_changes)
        if confirms:
            stmt = update(SUBS).where(SUBS.c.id.in_(confirms))
            conn.execute(stmt.values(status=SubscriptionStatus.CONFIRMED, confirmed_at=self.now))
            self._records(conn, "confirmed", confirms, [None] * len(confirms))
        if self.mailer is not None and self.mails:
            self._mail(session, self._claim_unsent(conn, to_mail), self.mailer)

    def _claim_unsent(self, conn: Connection, items: list[_New]) -> list[_New]:
        """``items`` less the pending subscriptions whose mail someone else took meanwhile:
        the right to send each unsent one's mail is taken in one statement, as
        ``claim_confirmation`` takes it (a sign-up on the web may be sending it now)."""
        unsent = [item.sub_id for item in items if item.unsent]
        if not unsent:
            return items
        claim = (
            update(SUBS)
            .where(one_of(conn, SUBS.c.id, unsent))
            .where(SUBS.c.status == SubscriptionStatus.PENDING)
            .where(SUBS.c.confirmation_sent_at.is_(None))
            .values(confirmation_sent_at=self.now)
            .returning(SUBS.c.id)
        )
        claimed = set(conn.scalars(claim))
        return [item for item in items if not item.unsent or item.sub_id in claimed]

    def _plan(self, conn: Connection, rows: list[Row]) -> Plan:
        report = _Tally()
        hashes = [row.digest for row in rows]
        suppressed = reasons_for_hashes(
            conn, lambda column: one_of(conn, column, hashes), city_id=self.city_id
        )
        # the known subscribers and their subscription here, if any, in one query
        # (the join uses the unique (subscriber_id, city_id) index at any size)
        city = SUBS.c.city_id == self.city_id
        query = (
            select(PEOPLE.c.id, PEOPLE.c.email, *(PEOPLE.c[name] for name in DETAILS),
                   SUBS.c.id.label("sub_id"), SUBS.c.status, SUBS.c.topics,
                   SUBS.c.confirmation_sent_at, SUBS.c.token_salt)
            .outerjoin(SUBS, (SUBS.c.subscriber_id == PEOPLE.c.id) & city)
            .where(one_of(conn, PEOPLE.c.email, [row.signup.email for row in rows]))
        )  # fmt: skip
        people = {row.email: row for row in conn.execute(query)}
        new: list[_New] = []
        person_changes: dict[tuple[str, ...], Params] = defaultdict(list)
        topic_changes: Params = []
        confirms: list[int] = []
        to_mail: list[_New] = []  # in file order: the mailbox claims go row by row
        for line, signup, digest, search_text, mailbox in rows:
            why = suppressed.get(digest)
            if why is not None:
                report.skipped.append(Note.skip(line, "suppressed", signup.email, reason=why.value))
                continue
            person = people.get(signup.email)
            if person is None or person.sub_id is None:
                # a new subscription; the row named no topic: the city's first
                signup.topics = signup.topics or list(self._first_topic)
            if person is None:
                report.imported += 1
                new.append(_New(signup, None, search_text, mailbox))
                to_mail.append(new[-1])
                continue
            changes = {
                name: value
                for name in DETAILS
                if (value := getattr(signup, name)) is not None and person._mapping[name] != value
            }
            status = None if person.sub_id is None else SubscriptionStatus(person.status)
            if status in LEFT:
                report.skipped.append(Note.skip(line, str(status.value), ""))
                continue
            if changes:
                if any(name in changes for name in SEARCHED):
                    details = {**person._mapping, **changes}
                    changes["search_text"] = _search_text(signup.email, details)
                params = {f"v_{name}": value for name, value in changes.items()}
                person_changes[tuple(sorted(changes))].append({"b_id": person.id, **params})
            if status is None:
                report.imported += 1
                new.append(_New(signup, person.id, None, mailbox))
                to_mail.append(new[-1])
                continue
            confirm = self.confirmed and status == SubscriptionStatus.PENDING
            if (
                self.mails
                and status == SubscriptionStatus.PENDING
                and person.confirmation_sent_at is None
            ):
                # never mailed, or its mail failed or was held back: this run sends it
                to_mail.append(_New(signup, person.id, None, mailbox, person.sub_id,
                                    person.token_salt, unsent=True))  # fmt: skip
            # a row that names no topic leaves the subscription's own choice as it is
            new_topics = bool(signup.topics) and sorted(person.topics) != signup.topics
            if new_topics:
                topic_changes.append({"b_id": person.sub_id, "v_topics": list(signup.topics)})
            if confirm:
                confirms.append(person.sub_id)
            if changes or confirm or new_topics:
                report.updated += 1
            else:
                report.unchanged += 1
        return new, person_changes, topic_changes, confirms, to_mail, report

    def _insert(self, conn: Connection, new: list[_New]) -> None:
        """New subscribers, their subscriptions and the consent records, a statement each."""
        if not new:
            return
        fresh = {item.signup.email: item for item in new if item.person_id is None}
        # PostgreSQL hands out the new ids up front (one query), so COPY can carry them
        people_ids, sub_ids = next_ids(conn, (PEOPLE, len(fresh)), (SUBS, len(new)))
        if fresh:
            columns: tuple[str, ...] = (
                "email", "language", *DETAILS, "created_at", "updated_at", "search_text"
            )  # fmt: skip
            rows = [
                (item.signup.email, item.signup.language,
                 *(getattr(item.signup, name) for name in DETAILS), self.now, self.now,
                 item.search_text)
                for item in fresh.values()
            ]  # fmt: skip
            if people_ids is None:
                bulk_insert(conn, PEOPLE, columns, rows)
                query = select(PEOPLE.c.email, PEOPLE.c.id)
                for email, person_id in conn.execute(
                    query.where(one_of(conn, PEOPLE.c.email, fresh))
                ):
                    fresh[email].person_id = person_id
            else:
                for item, person_id in zip(fresh.values(), people_ids, strict=True):
                    item.person_id = person_id
                with_ids = [(i, *row) for i, row in zip(people_ids, rows, strict=True)]
                bulk_insert(conn, PEOPLE, ("id", *columns), with_ids)
        mail_now = self.mails
        status = SubscriptionStatus.CONFIRMED if self.confirmed else SubscriptionStatus.PENDING
        confirmed_at = self.now if self.confirmed else None
        sent_at = self.now if mail_now else None
        columns = ("subscriber_id", "city_id", "topics", "status", "channel", "token_salt",
                   "created_at", "confirmed_at", "confirmation_sent_at")  # fmt: skip
        rows = []
        for item, salt in zip(new, new_salts(len(new)), strict=True):
            item.salt = salt
            rows.append((item.person_id, self.city_id, list(item.signup.topics), status, "import",
                         item.salt, self.now, confirmed_at, sent_at))  # fmt: skip
        if sub_ids is None:
            bulk_insert(conn, SUBS, columns, rows)
            by_person = {item.person_id: item for item in new}
            found = select(SUBS.c.subscriber_id, SUBS.c.id, SUBS.c.city_id)
            for row in conn.execute(found.where(one_of(conn, SUBS.c.subscriber_id, by_person))):
                if row.city_id == self.city_id:
                    by_person[row.subscriber_id].sub_id = row.id
        else:
            for item, sub_id in zip(new, sub_ids, strict=True):
                item.sub_id = sub_id
            with_ids = [(i, *row) for i, row in zip(sub_ids, rows, strict=True)]
            bulk_insert(conn, SUBS, ("id", *columns), with_ids)
        ids = [item.sub_id for item in new]
        self._records(conn, "given", ids, [self._texts[item.signup.language] for item in new])
        if self.confirmed:
            self._records(conn, "confirmed", ids, [None] * len(ids))

    def _records(
        self, conn: Connection, action: str, sub_ids: list[int], texts: list[str | None]
    ) -> None:
        columns = ("subscription_id", "action", "channel", "consent_version", "consent_text",
                   "detail", "created_at")  # fmt: skip
        rows = [
            (sub_id, action, "import", CONSENT_VERSION, text, self.detail, self.now)
            for sub_id, text in zip(sub_ids, texts, strict=True)
        ]
        bulk_insert(conn, CONSENT, columns, rows)

    def _mail(self, session: Session, new: list[_New], mailer: Mailer) -> None:
        """The confirmation mail of every new subscription (and of every pending one that
        never got it), as ``mail_confirmation`` sends it, within the same per-mailbox
        limits: the batch's mailboxes are claimed at once (:func:`claim_mailboxes`),
        with the answers of one :func:`claim_mailbox` per row. A mail held back or not
        sent is counted in the report and left for the next run."""
        city = self.config.cities[self.city_slug]
        secret = self.settings.secret()
        base = f"{self.settings.base_url_clean}/confirm/"
        failed = []
        names = {lang: city_name(self.config, self.city_slug, lang) for lang in LANGUAGES}
        subjects = {lang: confirmation_subject(name, lang) for lang, name in names.items()}
        mailboxes = [item.mailbox for item in new]
        claims = claim_mailboxes(session, mailboxes, self.now)
        released: set[str] = set()  # mailboxes whose mail failed: free again for a later row
        for item, mailbox, claimed in zip(new, mailboxes, claims, strict=True):
            to = item.signup.email
            if not claimed and mailbox in released:
                # one row at a time, the claim given back would be taken again here
                claimed = claim_mailboxes(session, [mailbox], self.now)[0]
                released.discard(mailbox)
            if not claimed:
                log.info(
                    "confirmation mail for subscription %s held back: mailbox limit", item.sub_id
                )
                failed.append(item.sub_id)
                self.report.mail_held += 1
                continue
            lang = item.signup.language
            lang = lang if lang in city.name else city.languages[0]
            topics = [self.config.topics.get(t, {}).get(lang, t) for t in item.signup.topics]
            mail = ConfirmationMail(
                to=to,
                city_slug=self.city_slug,
                city_name=names[lang],
                lang=lang,
                confirm_url=base + make_token(secret, "confirm", item.sub_id, item.salt),
                subject=subjects[lang],
                topics=topics,
            )
            try:
                mailer(mail)
            except OutreachError as exc:
                # as mail_confirmation: let a later sign-up try again instead of in 24 hours
                log.warning("confirmation mail for subscription %s not sent: %s", item.sub_id, exc)
                release_mailbox(session, self.settings, to)
                released.add(mailbox)
                failed.append(item.sub_id)
                self.report.mail_failed += 1
            else:
                self.report.mailed += 1
        if failed:
            stmt = update(SUBS).where(SUBS.c.id.in_(failed)).values(confirmation_sent_at=None)
            session.connection().execute(stmt)
