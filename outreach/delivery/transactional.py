"""Sending a transactional mail that another stage described.

The subscriptions stage says what to send (a
:class:`~outreach.transactional.TransactionalMail`: template, recipient,
language, context); :func:`send_mail` renders it through the render stage
and hands it to the city's backend. The web and CLI faces wire the two by
passing :func:`confirmation_mailer` to the subscriptions functions that mail.
"""

from __future__ import annotations

from outreach.campaigns import Config
from outreach.delivery.backends.base import SendResult
from outreach.delivery.message import send_transactional
from outreach.errors import DeliveryError
from outreach.render import render_email
from outreach.settings import Settings
from outreach.subscriptions import ConfirmationMail, Mailer, confirmation_mail
from outreach.transactional import TransactionalMail


def send_mail(settings: Settings, config: Config, mail: TransactionalMail) -> SendResult:
    """Render ``mail`` and send it; the backend's answer."""
    rendered = render_email(
        settings, config, mail.city_slug, mail.lang, mail.template, dict(mail.context), mail.subject
    )
    return send_transactional(settings, config, mail.city_slug, mail.to, rendered)


def deliver(settings: Settings, config: Config, mail: TransactionalMail) -> None:
    """Send ``mail``; raise :class:`DeliveryError` if the backend did not accept it."""
    result = send_mail(settings, config, mail)
    if not result.ok:
        raise DeliveryError(
            f"{mail.what} to {mail.to} not sent ({result.status})", reply=result.reply
        )


def confirmation_mailer(settings: Settings, config: Config) -> Mailer:
    """The :data:`~outreach.subscriptions.Mailer` that really sends confirmation mails.

    It raises :class:`DeliveryError` when the backend does not accept a message,
    so the caller can release its once-a-day claim and let a later sign-up retry.
    """

    def mailer(mail: ConfirmationMail) -> None:
        deliver(settings, config, confirmation_mail(mail))

    return mailer
