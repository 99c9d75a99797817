"""The suppression list: addresses that must never be mailed again.

This module owns it. Every stage that writes, reads or filters on it goes
through the functions here: :func:`add` (a send that failed for good, an
erasure, staff), :func:`is_suppressed` (is an address on the list, and why),
:func:`not_suppressed` (the same question as a SQL condition, for the
audience and the re-check before hand-over) and :func:`erase` (the GDPR
erasure's entry, which also scrubs the detail of an older entry).

Addresses are kept as a keyed hash of the trimmed, lowercased address
(:func:`outreach.validation.email_hash` under :func:`suppression_key`), so a
copy of the database does not tell which addresses are on the list. SQL
computes the same value with :class:`email_hmac`: PostgreSQL with
``sha256()``; SQLite through an ``outreach_email_hmac`` function that every
new SQLite connection gets once this module is imported (and that
:func:`register_sqlite_functions` adds to a connection made otherwise).

An entry applies everywhere (``city_id`` NULL: a hard bounce, an erasure,
staff) or to one city (a complaint about that city's mail: the person may
still get another city's newsletter they subscribed to). Every question is
asked for a city: "may this city mail this address" is true unless an entry
applies everywhere or to that city. Without a city (``city_id=None``) only
the entries that apply everywhere count.

Reasons are a :class:`SuppressionReason`; the values stored in the
``suppressions.reason`` column are the enum's values (``bounce``,
``complaint``, ``unsubscribe``, ``erased``, ``manual``), unchanged from
before the enum existed.
"""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
from collections.abc import Callable, Sequence
from enum import StrEnum
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Engine,
    LargeBinary,
    Table,
    delete,
    event,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
)
from sqlalchemy import String as SAString
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import GenericFunction

from outreach.models import Suppression, utcnow
from outreach.settings import Settings
from outreach.validation import email_hash

SUPPRESSION_KEY_CONTEXT = b"outreach suppression list v1"
SUPPRESSIONS = cast(Table, Suppression.__table__)
_BLOCK = 64  # SHA-256's block size
# What str.strip() removes from an address that passed validation (no other
# whitespace can be in one); plain btrim() would remove spaces only.
_PG_WHITESPACE = "(' ' || chr(9) || chr(10) || chr(11) || chr(12) || chr(13))"


class SuppressionReason(StrEnum):
    """Why an address is on the list; the value is what the database stores."""

    HARD_BOUNCE = "bounce"
    COMPLAINT = "complaint"
    UNSUBSCRIBE = "unsubscribe"
    ERASURE = "erased"
    MANUAL = "manual"


def suppression_key(settings: Settings) -> bytes:
    """The key of the suppression list's hashes, derived from the signing secret.

    Keyed, so that whoever holds a copy of the database cannot find out which
    addresses are on the list by hashing a dictionary of addresses. It changes
    when ``OUTREACH_SECRET_KEY`` changes (which then also voids every link sent).
    """
    return hmac.new(settings.secret(), SUPPRESSION_KEY_CONTEXT, hashlib.sha256).digest()


def suppression_hash(settings: Settings, email: str) -> str:
    """The value ``email`` is kept under on the list."""
    return email_hash(email, suppression_key(settings))


def _dialect_insert(session: Session) -> Any:
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(SUPPRESSIONS)
    if name == "sqlite":
        return sqlite.insert(SUPPRESSIONS)
    return insert(SUPPRESSIONS)  # pragma: no cover - other engines are refused by outreach.db


def add(
    session: Session,
    settings: Settings,
    email: str,
    reason: SuppressionReason,
    detail: str | None = None,
    *,
    city_id: int | None = None,
) -> None:
    """Put ``email`` on the list, everywhere or (``city_id``) for one city; a
    no-op if it has an entry of that scope already, whatever the reason."""
    session.execute(
        _dialect_insert(session)
        .values(
            email_hash=suppression_hash(settings, email),
            city_id=city_id,
            reason=SuppressionReason(reason).value,
            detail=detail,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing()  # either unique index: the address's entry of this scope
    )


def applies(city_id: Any) -> ColumnElement[bool]:
    """SQL truth of "the entry applies to ``city_id``" (an id, a column, or None
    for "everywhere"): it applies everywhere or to that city."""
    everywhere = SUPPRESSIONS.c.city_id.is_(None)
    return everywhere if city_id is None else or_(everywhere, SUPPRESSIONS.c.city_id == city_id)


def entry(
    session: Session, settings: Settings, email: str, *, city_id: int | None = None
) -> Suppression | None:
    """The entry that keeps ``city_id`` (None: every city) from mailing ``email``:
    the one that applies everywhere first; None if there is none."""
    digest = suppression_hash(settings, email)
    return session.scalar(
        select(Suppression)
        .where(Suppression.email_hash == digest, applies(city_id))
        .order_by(Suppression.city_id.is_not(None), Suppression.id)
        .limit(1)
    )


def entries(session: Session, settings: Settings, email: str) -> list[Suppression]:
    """Every entry of ``email``: the one that applies everywhere, then per city."""
    digest = suppression_hash(settings, email)
    return list(
        session.scalars(
            select(Suppression)
            .where(Suppression.email_hash == digest)
            .order_by(Suppression.city_id.is_not(None), Suppression.id)
        )
    )


def is_suppressed(
    session: Session, settings: Settings, email: str, *, city_id: int | None = None
) -> SuppressionReason | None:
    """Why city ``city_id`` may not mail ``email`` (None, the default: why no
    city may, so only entries that apply everywhere count), or None if it may."""
    row = entry(session, settings, email, city_id=city_id)
    return None if row is None else SuppressionReason(row.reason)


def reasons_for_hashes(
    conn: Connection,
    match: Callable[[Column[str]], ColumnElement[bool]],
    *,
    city_id: int | None,
) -> dict[str, SuppressionReason]:
    """By hash, why city ``city_id`` may not mail the listed hashes that ``match``
    (a condition on the hash column, e.g. a batch's ``IN``) selects; an entry
    that applies everywhere wins over a city's."""
    query = (
        select(SUPPRESSIONS.c.email_hash, SUPPRESSIONS.c.reason)
        .where(match(SUPPRESSIONS.c.email_hash), applies(city_id))
        .order_by(SUPPRESSIONS.c.city_id.is_(None))  # everywhere last: it overwrites
    )
    return {digest: SuppressionReason(why) for digest, why in conn.execute(query).all()}


def lift_erasure(session: Session, settings: Settings, email: str) -> None:
    """Take ``email`` off the list if it is there only because it was erased
    (the person has since confirmed a new subscription themselves)."""
    row = entry(session, settings, email)
    if row is not None and row.reason == SuppressionReason.ERASURE:
        session.delete(row)


def erase(session: Session, settings: Settings, email: str, detail: str | None) -> None:
    """The list's part of a GDPR erasure: the address stays suppressed everywhere
    (reason ``erased`` if it was not on the list everywhere), an older entry's
    detail is replaced, since a mail server's reply usually quotes the address,
    and the per-city entries go: the erased address is kept from every city."""
    digest = suppression_hash(settings, email)
    session.execute(
        delete(Suppression)
        .where(Suppression.email_hash == digest, Suppression.city_id.is_not(None))
        .execution_options(synchronize_session="fetch")
    )
    row = entry(session, settings, email)
    if row is None:
        session.add(
            Suppression(
                email_hash=digest,
                reason=SuppressionReason.ERASURE.value,
                detail=detail,
            )
        )
    else:
        row.detail = detail


def _hmac_pads(key: bytes) -> tuple[bytes, bytes]:
    """HMAC-SHA256's (K ⊕ ipad, K ⊕ opad) for ``key`` (RFC 2104), 64 bytes each."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    padded = key.ljust(_BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in padded), bytes(b ^ 0x5C for b in padded)


@lru_cache(maxsize=8)
def _key_from_hex(key_hex: str) -> bytes:
    return bytes.fromhex(key_hex)


def _sqlite_email_hmac(value: str | None, key_hex: str | None) -> str | None:
    if value is None or key_hex is None:
        return None
    return email_hash(value, _key_from_hex(key_hex))


class email_hmac(GenericFunction[str]):
    """SQL for :func:`outreach.validation.email_hash`: ``email_hmac(column, key)``.

    SQLite calls the registered ``outreach_email_hmac(email, key_hex)``.
    PostgreSQL computes HMAC-SHA256 with built-ins (no pgcrypto):
    ``sha256((K ⊕ opad) || sha256((K ⊕ ipad) || m))``, the two padded keys
    computed here and bound as bytea. The key travels as bind parameters (every
    form is bound; each dialect renders the ones it uses), so a cached
    statement never keeps an old key.
    """

    type = SAString()
    inherit_cache = True
    name = "outreach_email_hmac"

    def __init__(self, email: Any, key: bytes, **kw: Any) -> None:
        inner, outer = _hmac_pads(key)
        super().__init__(
            email,
            literal(key.hex(), SAString()),
            literal(inner, LargeBinary()),
            literal(outer, LargeBinary()),
            **kw,
        )


@compiles(email_hmac)
def _email_hmac(element: email_hmac, compiler: SQLCompiler, **kw: Any) -> str:
    email, key_hex, _inner, _outer = element.clauses.clauses
    return f"{element.name}({compiler.process(email, **kw)}, {compiler.process(key_hex, **kw)})"


@compiles(email_hmac, "postgresql")
def _pg_email_hmac(element: email_hmac, compiler: SQLCompiler, **kw: Any) -> str:
    email, _key_hex, inner, outer = (compiler.process(c, **kw) for c in element.clauses.clauses)
    message = f"convert_to(lower(btrim({email}, {_PG_WHITESPACE})), 'UTF8')"
    return f"encode(sha256({outer} || sha256({inner} || {message})), 'hex')"


def register_sqlite_functions(dbapi_connection: Any) -> None:
    """Give an sqlite3 connection the ``outreach_email_hmac`` SQL function."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.create_function(
            "outreach_email_hmac", 2, _sqlite_email_hmac, deterministic=True
        )


@event.listens_for(Engine, "connect")
def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    register_sqlite_functions(dbapi_connection)


def prepare_connection(session: Session) -> None:
    """Make sure a SQLite session's connection has the SQL functions of :func:`not_suppressed`."""
    if session.get_bind().dialect.name == "sqlite":
        register_sqlite_functions(session.connection().connection.driver_connection)


def not_suppressed(email: Any, key: bytes, city_id: Any, *, correlate: Sequence[Any] = ()) -> Any:
    """SQL truth of "city ``city_id`` may mail ``email``": no entry for ``email`` (a
    column) applies everywhere or to ``city_id`` (a column, e.g.
    ``Subscription.city_id``, an id, or None: only entries that apply
    everywhere count). ``key`` is :func:`suppression_key`'s. ``correlate``
    names the tables of ``email`` and ``city_id`` when the condition sits in a
    subquery nested deeper than the query that has them."""
    # An entry applies everywhere (city NULL) or to that city: read NULL as the city
    # asked about, so that the hash index is probed once per address and the hash
    # computed once (with the two cases as an OR, SQLite computed it for each).
    city = SUPPRESSIONS.c.city_id
    here = applies(None) if city_id is None else func.coalesce(city, city_id) == city_id
    found = exists().where(SUPPRESSIONS.c.email_hash == email_hmac(email, key), here)
    return ~(found.correlate(*correlate) if correlate else found)
