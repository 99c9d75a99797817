"""Who gets an issue: confirmed, unsuppressed subscriptions matching an audience.

:func:`audience_query` is one SELECT that runs unchanged on SQLite and
PostgreSQL, so the outbox can fix an issue's audience with a single
``INSERT … SELECT``; nothing is filtered in Python.

Topics are a JSON list on the subscription. They are matched with ``LIKE``
on the JSON text: ``'%"climate"%'``. That is exact, not approximate, because
topic names are restricted to ``[A-Za-z0-9_.-]`` (others raise ConfigError):
such a name serialises as itself between double quotes, and a double quote
inside any other JSON string is escaped as ``\\"``, so ``"climate"`` occurs in
the text only as a whole list element. It works on both engines and does
not depend on JSON1/JSONB operators.

Suppressions are stored as a keyed hash of the trimmed, lowercased address
(:func:`outreach.validation.email_hash`, keyed by
:func:`outreach.validation.suppression_key`), and the query compares in SQL
with :class:`email_hmac`: PostgreSQL computes the HMAC with ``sha256()``; on
SQLite the connection gets an ``outreach_email_hmac`` function (see
:func:`register_sqlite_functions`, called by the outbox before it runs the
query and on every new SQLite connection once this module is imported).
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Engine,
    LargeBinary,
    Select,
    and_,
    case,
    cast,
    event,
    exists,
    literal,
    or_,
    select,
)
from sqlalchemy import String as SAString
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import GenericFunction

from outreach.campaigns import Audience
from outreach.errors import ConfigError
from outreach.models import Subscriber, Subscription, SubscriptionStatus, Suppression
from outreach.validation import email_hash

_TOPIC = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_LIKE_ESCAPE = "\\"
_BLOCK = 64  # SHA-256's block size
# What str.strip() removes from an address that passed validation (no other
# whitespace can be in one); plain btrim() would remove spaces only.
_PG_WHITESPACE = "(' ' || chr(9) || chr(10) || chr(11) || chr(12) || chr(13))"


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


def _like_literal(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _topic_filter(topics: Sequence[str]) -> Any:
    for topic in topics:
        if not _TOPIC.match(topic):
            raise ConfigError(f"topic {topic!r}: expected letters, digits, '_', '.' or '-'")
    text = cast(Subscription.topics, SAString)
    return or_(*(text.like(f'%"{_like_literal(t)}"%', escape=_LIKE_ESCAPE) for t in topics))


def mailable(email: Any, key: bytes) -> Any:
    """SQL truth of "may be mailed now": a confirmed subscription, an unsuppressed
    address. For queries that join :class:`Subscription`; the audience is chosen
    by it, and every delivery is checked by it again just before hand-over."""
    return and_(
        Subscription.status == SubscriptionStatus.CONFIRMED,
        ~exists().where(Suppression.email_hash == email_hmac(email, key)),
    )


def _language_choice(
    languages: Sequence[str], send_as: Mapping[str, str | None] | None
) -> tuple[Any, Any]:
    """The SQL of the language each subscriber gets, and a condition leaving out the
    readers of a language that is skipped (``send_as`` maps it to None)."""
    if send_as is None or all(send_as.get(lang, lang) == lang for lang in languages):
        own = case(
            (Subscriber.language.in_(list(languages)), Subscriber.language),
            else_=literal(languages[0], SAString),
        )
        return own, literal(True)
    target = {lang: send_as.get(lang, lang) for lang in languages}
    default = target[languages[0]]  # readers of other languages get the first one's
    whens = [
        (Subscriber.language == lang, literal(to, SAString))
        for lang, to in target.items()
        if to is not None
    ]
    chosen: Any = case(*whens, else_=literal(default, SAString)) if whens else literal(default)
    served = [lang for lang, to in target.items() if to is not None]
    if default is None:
        return chosen, Subscriber.language.in_(served)
    skipped = [lang for lang, to in target.items() if to is None]
    return chosen, Subscriber.language.not_in(skipped) if skipped else literal(True)


def audience_query(
    city_id: int,
    audience: Audience,
    languages: Sequence[str] = ("fi",),
    *,
    key: bytes,
    send_as: Mapping[str, str | None] | None = None,
) -> Select[Any]:
    """Rows of (subscriber_id, subscription_id, email, language) for one city.

    ``key`` is the suppression list's key (:func:`outreach.validation.suppression_key`).

    ``language`` is the subscriber's own language if it is one of the
    campaign's ``languages``, else the campaign's first language. ``send_as``
    (an issue's, :mod:`outreach.issues.editions`) can send a language's readers
    another language's version, or leave them out when it maps them to None:
    a skipped language's readers never get another language silently.
    """
    if not languages:
        raise ConfigError("an audience needs at least one campaign language")
    language, served = _language_choice(languages, send_as)
    conditions: list[Any] = [
        Subscription.city_id == city_id,
        mailable(Subscriber.email, key),
        served,
    ]
    if audience.topics:
        conditions.append(_topic_filter(audience.topics))
    if audience.size_classes:
        conditions.append(Subscriber.size_class.in_(list(audience.size_classes)))
    if audience.industries:
        conditions.append(
            or_(
                *(
                    Subscriber.industry_code.like(_like_literal(p) + "%", escape=_LIKE_ESCAPE)
                    for p in audience.industries
                )
            )
        )
    return (
        select(
            Subscriber.id.label("subscriber_id"),
            Subscription.id.label("subscription_id"),
            Subscriber.email.label("email"),
            language.label("language"),
        )
        .join(Subscription, Subscription.subscriber_id == Subscriber.id)
        .where(and_(*conditions))
    )
