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

Suppressed addresses are left out in SQL with
:func:`outreach.suppression.not_suppressed`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Select, and_, case, cast, literal, or_, select
from sqlalchemy import String as SAString

from outreach.campaigns import Audience
from outreach.errors import ConfigError
from outreach.models import Subscriber, Subscription, SubscriptionStatus
from outreach.suppression import not_suppressed

_TOPIC = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_LIKE_ESCAPE = "\\"


def _like_literal(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _topic_filter(topics: Sequence[str]) -> Any:
    for topic in topics:
        if not _TOPIC.match(topic):
            raise ConfigError(f"topic {topic!r}: expected letters, digits, '_', '.' or '-'")
    text = cast(Subscription.topics, SAString)
    return or_(*(text.like(f'%"{_like_literal(t)}"%', escape=_LIKE_ESCAPE) for t in topics))


def mailable(email: Any, key: bytes, *, correlate: Sequence[Any] = ()) -> Any:
    """SQL truth of "may be mailed now": a confirmed subscription, an address no
    suppression entry keeps from the subscription's city. For queries that join
    :class:`Subscription`; the audience is chosen by it, and every delivery is
    checked by it again just before hand-over. ``correlate``: see
    :func:`outreach.suppression.not_suppressed`."""
    return and_(
        Subscription.status == SubscriptionStatus.CONFIRMED,
        not_suppressed(email, key, Subscription.city_id, correlate=correlate),
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

    ``key`` is the suppression list's key (:func:`outreach.suppression.suppression_key`).

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
