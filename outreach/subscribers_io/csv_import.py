"""CSV import from a city's CRM.

The import streams the file (constant memory apart from one hash per address
seen), finds columns by Finnish or English header names (or ``--map
col=field``), detects UTF-8, UTF-8 with BOM and cp1252, and sniffs ``,`` or
``;``. Every row is validated; the report lists imported, updated and skipped
rows with line numbers and reasons. Running the same file twice changes
nothing. Suppressed, erased, unsubscribed and bounced addresses are never
(re)subscribed.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from outreach.campaigns import Config
from outreach.errors import SubscriptionError
from outreach.l10n import gettext_for
from outreach.models import Subscriber, Subscription, SubscriptionStatus, Suppression
from outreach.settings import Settings
from outreach.subscriptions.base import (
    CONSENT_VERSION,
    SignUp,
    city_name,
    city_row,
    consent_text,
    record,
)
from outreach.subscriptions.core import mail_confirmation
from outreach.subscriptions.mail import Mailer
from outreach.tokens import new_salt
from outreach.validation import email_hash, suppression_key

FIELDS = (
    "email", "company_name", "business_id", "contact_name",
    "language", "topics", "size_class", "industry_code",
)  # fmt: skip
HEADER_ALIASES = {
    "email": ("email", "sähköposti", "sahkoposti", "e-mail", "emailaddress", "sähköpostiosoite",
              "epost", "e-post"),
    "company_name": ("company", "companyname", "yritys", "yrityksennimi", "organisaatio",
                     "organization", "företag"),
    "business_id": ("businessid", "y-tunnus", "ytunnus", "yritystunnus", "fo-nummer"),
    "contact_name": ("name", "nimi", "yhteyshenkilö", "yhteyshenkilo", "contact", "contactname",
                     "kontaktperson", "namn"),
    "language": ("language", "kieli", "språk", "lang"),
    "topics": ("topics", "aiheet", "aihe", "ämnen"),
    "size_class": ("size", "sizeclass", "koko", "kokoluokka", "storlek"),
    "industry_code": ("industry", "industrycode", "toimiala", "toimialakoodi", "tol", "bransch"),
}  # fmt: skip
BATCH = 500


def _key(header: str) -> str:
    return re.sub(r"[\s_]+", "", header.strip().lower())


ALIAS_INDEX = {_key(alias): name for name, aliases in HEADER_ALIASES.items() for alias in aliases}


@dataclass
class ImportReport:
    """Counts and per-line reasons of one import run."""

    file: str
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)
    mailed: int = 0
    encoding: str = "utf-8"
    delimiter: str = ","

    def summary(self, lang: str = "en") -> str:
        text = gettext_for(
            lang,
            "cli",
            "{file}: {imported} imported, {updated} updated, {unchanged} unchanged, "
            "{skipped} skipped, {mailed} confirmation mails ({encoding}, {delimiter})",
        )
        return text.format(
            file=self.file,
            imported=self.imported,
            updated=self.updated,
            unchanged=self.unchanged,
            skipped=len(self.skipped),
            mailed=self.mailed,
            encoding=self.encoding,
            delimiter=repr(self.delimiter),
        )

    def lines(self, lang: str = "en") -> Iterator[str]:
        yield self.summary(lang)
        skipped = gettext_for(lang, "cli", "line {line}: skipped: {reason}")
        for line, reason in self.skipped:
            yield skipped.format(line=line, reason=reason)


def detect_encoding(path: Path) -> str:
    """``utf-8-sig`` (BOM), ``utf-8`` when the whole file decodes, else ``cp1252``."""
    with path.open("rb") as fh:
        head = fh.read(3)
        if head == codecs.BOM_UTF8:
            return "utf-8-sig"
        fh.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            while chunk := fh.read(1 << 16):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "cp1252"
    return "utf-8"


def sniff_delimiter(first_line: str) -> str:
    return ";" if first_line.count(";") > first_line.count(",") else ","


def parse_mapping(pairs: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``["Sposti=email"]`` → ``{"sposti": "email"}`` (header key → field)."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        column, eq, name = pair.partition("=")
        if not eq or not column.strip() or name.strip() not in FIELDS:
            raise SubscriptionError(
                f"--map {pair!r}: expected COLUMN=FIELD with FIELD one of {', '.join(FIELDS)}"
            )
        mapping[_key(column)] = name.strip()
    return mapping


def resolve_columns(header: list[str], mapping: dict[str, str]) -> dict[int, str]:
    columns: dict[int, str] = {}
    for i, name in enumerate(header):
        key = _key(name)
        target = mapping.get(key) or ALIAS_INDEX.get(key)
        if target is not None and target not in columns.values():
            columns[i] = target
    if "email" not in columns.values():
        raise SubscriptionError(
            "no email column found (expected a header like sähköposti or email, or --map COL=email)"
        )
    return columns


def _topics(raw: str, config: Config, city_slug: str) -> list[str]:
    known = config.cities[city_slug].topics
    by_name = {t: t for t in known}
    for topic in known:
        for text in config.topics.get(topic, {}).values():
            by_name[text.strip().lower()] = topic
    out = []
    for part in re.split(r"[|,;/]", raw):
        part = part.strip()
        if not part:
            continue
        found = by_name.get(part) or by_name.get(part.lower())
        if found is None:
            raise SubscriptionError(f"unknown topic {part[:40]!r} (known: {', '.join(known)})")
        out.append(found)
    return out


def _apply(subscriber: Subscriber, signup: SignUp) -> bool:
    changed = False
    for name in ("company_name", "business_id", "contact_name", "size_class", "industry_code"):
        value = getattr(signup, name)
        if value is not None and getattr(subscriber, name) != value:
            setattr(subscriber, name, value)
            changed = True
    return changed


def import_csv(
    bind: Engine | Session,
    settings: Settings,
    config: Config,
    path: Path,
    city: str,
    *,
    mapping: dict[str, str] | None = None,
    confirmed: bool = False,
    consent_note: str | None = None,
    mailer: Mailer | None = None,
) -> ImportReport:
    """Import one CRM export into ``city``.

    Given an Engine, the import commits every few hundred rows in its own
    session; given a Session, it only flushes and the caller commits. Without a
    ``mailer`` no confirmation mail is sent (the rows stay pending).
    """
    city_slug = city
    if city_slug not in config.cities:
        raise SubscriptionError(
            f'no city "{city_slug}" (known: {", ".join(sorted(config.cities))})'
        )
    note = " ".join((consent_note or "").split())
    if confirmed and not note:
        raise SubscriptionError("--confirmed needs --consent-note stating the legal basis")
    if not path.is_file():
        raise SubscriptionError(f"{path}: no such file")
    encoding = detect_encoding(path)
    report = ImportReport(file=path.name, encoding=encoding)
    batch = _Batch(
        settings=settings,
        config=config,
        city_slug=city_slug,
        report=report,
        confirmed=confirmed,
        detail=f"{path.name}: {note}" if note else path.name,
        mailer=mailer,
        now=datetime.now(UTC),
    )
    seen: dict[bytes, int] = {}
    with path.open(encoding=encoding, newline="") as fh:
        first = fh.readline()
        report.delimiter = sniff_delimiter(first)
        header = next(csv.reader([first], delimiter=report.delimiter), [])
        columns = resolve_columns(header, mapping or {})
        reader = csv.reader(fh, delimiter=report.delimiter)
        owned = isinstance(bind, Engine)
        session = Session(bind, expire_on_commit=False) if isinstance(bind, Engine) else bind
        try:
            batch.city_id = city_row(session, config, city_slug).id
            for row in reader:
                line = reader.line_num + 1
                if not any(cell.strip() for cell in row):
                    continue
                values = {name: row[i] for i, name in columns.items() if i < len(row)}
                try:
                    signup = _signup(config, city_slug, values)
                except SubscriptionError as exc:
                    report.skipped.append((line, str(exc)))
                    continue
                digest = hashlib.sha256(signup.email.encode()).digest()[:12]
                if digest in seen:
                    report.skipped.append((line, f"duplicate of line {seen[digest]}"))
                    continue
                seen[digest] = line
                batch.rows.append((line, signup))
                if len(batch.rows) >= BATCH:
                    batch.flush(session)
                    if owned:
                        session.commit()
                        session.expunge_all()
            batch.flush(session)
            if owned:
                session.commit()
        except UnicodeDecodeError as exc:
            if owned:
                session.rollback()
            raise SubscriptionError(f"{path}: cannot decode as {encoding}: {exc.reason}") from exc
        except csv.Error as exc:
            if owned:
                session.rollback()
            raise SubscriptionError(f"{path}: line {reader.line_num}: bad CSV: {exc}") from exc
        finally:
            if owned:
                session.close()
    report.skipped.sort()
    return report


def _signup(config: Config, city_slug: str, values: dict[str, str]) -> SignUp:
    return SignUp.clean(
        config,
        city_slug,
        email=values.get("email", ""),
        topics=_topics(values.get("topics", ""), config, city_slug),
        language=values.get("language") or None,
        company_name=values.get("company_name"),
        business_id=values.get("business_id"),
        contact_name=values.get("contact_name"),
        size_class=values.get("size_class") or None,
        industry_code=values.get("industry_code"),
    )


@dataclass
class _Batch:
    """Up to BATCH validated rows, written with a handful of queries."""

    settings: Settings
    config: Config
    city_slug: str
    report: ImportReport
    confirmed: bool
    detail: str
    mailer: Mailer | None
    now: datetime
    city_id: int = 0
    rows: list[tuple[int, SignUp]] = field(default_factory=list)

    def flush(self, session: Session) -> None:
        if not self.rows:
            return
        rows, self.rows = self.rows, []
        report = self.report
        emails = [signup.email for _, signup in rows]
        key = suppression_key(self.settings)
        hashes = {email: email_hash(email, key) for email in emails}
        query = select(Suppression.email_hash, Suppression.reason)
        suppressed: dict[str, str] = {}
        for digest, reason in session.execute(
            query.where(Suppression.email_hash.in_(list(hashes.values())))
        ):
            suppressed[digest] = reason
        people = {
            p.email: p
            for p in session.scalars(select(Subscriber).where(Subscriber.email.in_(emails)))
        }
        subs = {
            s.subscriber_id: s
            for s in session.scalars(
                select(Subscription).where(
                    Subscription.city_id == self.city_id,
                    Subscription.subscriber_id.in_([p.id for p in people.values()]),
                )
            )
        }
        fresh: list[tuple[SignUp, Subscriber]] = []
        for line, signup in rows:
            why = suppressed.get(hashes[signup.email])
            if why is not None:
                report.skipped.append((line, f"address is on the suppression list ({why})"))
                continue
            person = people.get(signup.email)
            if person is None:
                person = Subscriber(email=signup.email, language=signup.language)
                _apply(person, signup)
                session.add(person)
                fresh.append((signup, person))
                continue
            changed = _apply(person, signup)
            sub = subs.get(person.id)
            if sub is None:
                fresh.append((signup, person))
                continue
            if sub.status in (SubscriptionStatus.UNSUBSCRIBED, SubscriptionStatus.BOUNCED):
                report.skipped.append((line, f"address {sub.status.value}; not re-subscribed"))
                continue
            if sorted(sub.topics) != signup.topics:
                sub.topics = list(signup.topics)
                changed = True
            if self.confirmed and sub.status == SubscriptionStatus.PENDING:
                self._confirm(session, sub)
                changed = True
            if changed:
                report.updated += 1
            else:
                report.unchanged += 1
        session.flush()
        mail_now = self.mailer is not None and not self.confirmed
        created = []
        for signup, person in fresh:
            sub = Subscription(
                subscriber_id=person.id,
                city_id=self.city_id,
                topics=list(signup.topics),
                status=SubscriptionStatus.PENDING,
                channel="import",
                token_salt=new_salt(),
                created_at=self.now,
                confirmation_sent_at=self.now if mail_now else None,
            )
            session.add(sub)
            created.append((signup, sub))
        session.flush()
        for signup, sub in created:
            name = city_name(self.config, self.city_slug, signup.language)
            record(session, sub, "given", "import", version=CONSENT_VERSION,
                   text=consent_text(name, signup.language), detail=self.detail,
                   now=self.now)  # fmt: skip
            report.imported += 1
            if self.confirmed:
                self._confirm(session, sub)
            elif self.mailer is not None:
                sent = mail_confirmation(
                    session, self.settings, self.config, sub, self.mailer, signup.language,
                    email=signup.email, city_slug=self.city_slug,
                )  # fmt: skip
                report.mailed += int(sent)
        session.flush()

    def _confirm(self, session: Session, sub: Subscription) -> None:
        sub.status = SubscriptionStatus.CONFIRMED
        sub.confirmed_at = self.now
        record(session, sub, "confirmed", "import", version=CONSENT_VERSION, detail=self.detail,
               now=self.now)  # fmt: skip
