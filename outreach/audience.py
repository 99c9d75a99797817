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

Suppressions are stored as SHA-256 of the lowercased address.
PostgreSQL computes it with ``sha256()``; on SQLite the connection gets an
``outreach_email_hash`` function (see :func:`register_sqlite_functions`,
called by the outbox before it runs the query and on every new SQLite
connection once this module is imported).
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, Select, and_, case, cast, event, exists, literal, or_, select
from sqlalchemy import String as SAString
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import GenericFunction

from outreach.campaigns import Audience
from outreach.errors import ConfigError
from outreach.models import Subscriber, Subscription, SubscriptionStatus, Suppression

_TOPIC = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_LIKE_ESCAPE = "\\"


def email_hash(email: str) -> str:
    """The suppression-list key of an address: SHA-256 hex of it, trimmed and lowercased."""
    return hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()


def _sqlite_email_hash(value: str | None) -> str | None:
    return None if value is None else email_hash(value)


class email_sha256(GenericFunction[str]):
    """SQL ``email_hash(address)``: the same value as :func:`email_hash`."""

    type = SAString()
    inherit_cache = True
    name = "outreach_email_hash"


@compiles(email_sha256, "postgresql")
def _pg_email_sha256(element: email_sha256, compiler: SQLCompiler, **kw: Any) -> str:
    arg = compiler.process(element.clauses, **kw)
    return f"encode(sha256(convert_to(lower(btrim({arg})), 'UTF8')), 'hex')"


def register_sqlite_functions(dbapi_connection: Any) -> None:
    """Give an sqlite3 connection the ``outreach_email_hash`` SQL function."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.create_function(
            "outreach_email_hash", 1, _sqlite_email_hash, deterministic=True
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


def audience_query(
    city_id: int, audience: Audience, languages: Sequence[str] = ("fi",)
) -> Select[Any]:
    """Rows of (subscriber_id, subscription_id, email, language) for one city.

    ``language`` is the subscriber's own language if it is one of the
    campaign's ``languages``, else the campaign's first language.
    """
    if not languages:
        raise ConfigError("an audience needs at least one campaign language")
    language = case(
        (Subscriber.language.in_(list(languages)), Subscriber.language),
        else_=literal(languages[0], SAString),
    )
    conditions: list[Any] = [
        Subscription.city_id == city_id,
        Subscription.status == SubscriptionStatus.CONFIRMED,
        ~exists().where(Suppression.email_hash == email_sha256(Subscriber.email)),
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


def eligible_clause(subscription_id: Any, email: Any) -> Any:
    """SQL truth of "this subscription may still be mailed" (confirmed, not suppressed)."""
    return and_(
        exists().where(
            Subscription.id == subscription_id,
            Subscription.status == SubscriptionStatus.CONFIRMED,
        ),
        ~exists().where(Suppression.email_hash == email_sha256(email)),
    )
