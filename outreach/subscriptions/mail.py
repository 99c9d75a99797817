"""The mails of the subscriptions stage: what to send, never how.

A sign-up's confirmation is a :class:`ConfirmationMail` handed to a
:data:`Mailer`; :func:`confirmation_mail` and :func:`export_link_mail` turn
what this stage knows into a :class:`~outreach.transactional.TransactionalMail`
(template, recipient, language, context). The delivery stage sends it
(:mod:`outreach.delivery.transactional`); the web and CLI faces pass its
mailer in, and tests pass a :class:`RecordingMailer`.

A mailer may also have a ``batch()`` method, a context manager giving a
mailer for many mails in a row (the delivery stage's keeps its rendered
templates and one connection for them); :func:`mail_batch` uses it where
there is one, so an import sends all its mails through one batch while a
plain function stays a mailer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Protocol

from outreach.l10n import gettext_for
from outreach.transactional import TransactionalMail


@dataclass(frozen=True)
class ConfirmationMail:
    """Everything the confirmation email needs, already localised."""

    to: str
    city_slug: str
    city_name: str
    lang: str
    confirm_url: str
    subject: str
    topics: list[str] = field(default_factory=list)


Mailer = Callable[[ConfirmationMail], None]


class BatchMailer(Protocol):
    """A :data:`Mailer` that can also send many mails as one batch."""

    def __call__(self, mail: ConfirmationMail) -> None: ...

    def batch(self) -> AbstractContextManager[Mailer]: ...


@contextmanager
def mail_batch(mailer: Mailer | None) -> Iterator[Mailer | None]:
    """``mailer``'s batch for the block where it has one (closed at its end), else
    ``mailer`` itself (a function, a :class:`RecordingMailer`, None)."""
    batch = getattr(mailer, "batch", None)
    if batch is None:
        yield mailer
        return
    with batch() as batched:
        yield batched


def confirmation_subject(city_name: str, lang: str) -> str:
    return gettext_for(lang, "web", "Confirm your subscription: {city} climate news").format(
        city=city_name
    )


def confirmation_mail(mail: ConfirmationMail) -> TransactionalMail:
    """What to send for ``mail``: the ``confirmation`` template and its context."""
    return TransactionalMail(
        template="confirmation",
        city_slug=mail.city_slug,
        to=mail.to,
        lang=mail.lang,
        subject=mail.subject,
        context={
            "confirm_url": mail.confirm_url,
            "city_name": mail.city_name,
            "topics": mail.topics,
        },
        what="confirmation mail",
    )


def export_link_mail(city_slug: str, to: str, lang: str, url: str) -> TransactionalMail:
    """The mail that gives the address a short-lived link to everything held about it."""
    return TransactionalMail(
        template="data_export",
        city_slug=city_slug,
        to=to,
        lang=lang,
        subject=gettext_for(lang, "web", "Your data held for the climate newsletter"),
        context={"export_url": url},
        what="data export link",
    )


class RecordingMailer:
    """A mailer that keeps what it was given (tests, ``--dry-run``)."""

    def __init__(self) -> None:
        self.sent: list[ConfirmationMail] = []

    def __call__(self, mail: ConfirmationMail) -> None:
        self.sent.append(mail)
