"""Sending a transactional mail that another stage described.

The subscriptions stage says what to send (a
:class:`~outreach.transactional.TransactionalMail`: template, recipient,
language, context); :func:`send_mail` renders it through the render stage
and hands it to the city's backend. The web and CLI faces wire the two by
passing :func:`confirmation_mailer` to the subscriptions functions that mail.

Confirmation mails are built as an issue's messages are
(:class:`~outreach.delivery.message.MessageTemplate`): the ``confirmation``
template is rendered once per city, language, subject and topics with the
placeholder :data:`CONFIRM_URL` where the link goes, and each mail is that
template filled with its link (HTML-escaped in the HTML part, quoted-printable
encoded like every value), its ``To`` and a Message-ID of its own. Within
:meth:`ConfirmationMailer.batch` (an import) the rendered templates are kept
and every mail goes over one backend connection, opened at the first mail
and closed at the end; a single call (a web sign-up) renders, fills, opens,
sends and closes, so no connection stays open between requests.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from outreach.campaigns import Config
from outreach.delivery.backends import MailBackend, get_backend
from outreach.delivery.backends.base import SendResult
from outreach.delivery.message import (
    MessageTemplate,
    Recipient,
    city_mail_url,
    city_signer,
    send_transactional,
)
from outreach.errors import DeliveryError, PermanentDeliveryError
from outreach.render import render_email
from outreach.settings import Settings
from outreach.subscriptions import ConfirmationMail, confirmation_mail
from outreach.transactional import TransactionalMail
from outreach.validation import without_addresses

#: Where a confirmation mail's link goes in its rendered template; filled per mail.
CONFIRM_URL = "@@CONFIRM_URL@@"
#: A rendered template is used this long, then rendered again, so that a mail's
#: ``Date`` header (the template's) is never more than this much before its send.
TEMPLATE_SECONDS = 60.0


def send_mail(settings: Settings, config: Config, mail: TransactionalMail) -> SendResult:
    """Render ``mail`` and send it; the backend's answer."""
    rendered = render_email(
        settings, config, mail.city_slug, mail.lang, mail.template, dict(mail.context), mail.subject
    )
    return send_transactional(settings, config, mail.city_slug, mail.to, rendered)


def _refused(mail: TransactionalMail, result: SendResult) -> DeliveryError:
    """The error of a mail the backend did not take. It names no address, in its
    message or its reply (a server's reply often quotes the recipient): callers
    log it, and erasing a person must not leave them in the logs."""
    reply = without_addresses(result.reply or "")[:200] or None
    why = f"{result.status}: {reply}" if reply else result.status
    return DeliveryError(f"{mail.what} not sent ({why})", reply=reply)


def deliver(settings: Settings, config: Config, mail: TransactionalMail) -> None:
    """Send ``mail``; raise :class:`DeliveryError` if the backend did not accept it."""
    result = send_mail(settings, config, mail)
    if not result.ok:
        raise _refused(mail, result)


TemplateKey = tuple[str, str, str, str, tuple[str, ...]]


class ConfirmationBatch:
    """Confirmation mails sent one after another over the same backends: a
    :data:`~outreach.subscriptions.Mailer` for one thread at a time.

    Each rendered template is kept (for :data:`TEMPLATE_SECONDS`) and each
    city's backend is opened at its first mail and kept until :meth:`close`.
    An SMTP backend reconnects by itself after the server drops the connection.
    """

    def __init__(self, settings: Settings, config: Config) -> None:
        self.settings = settings
        self.config = config
        self.templates: dict[TemplateKey, tuple[float, MessageTemplate]] = {}
        self.backends: dict[str, MailBackend] = {}

    def template(self, mail: ConfirmationMail) -> MessageTemplate:
        """The message of ``mail``'s city, language, subject and topics, with its link
        (and only that) left to fill."""
        key = (mail.city_slug, mail.lang, mail.subject, mail.city_name, tuple(mail.topics))
        now = time.monotonic()
        kept = self.templates.get(key)
        if kept is not None and now - kept[0] < TEMPLATE_SECONDS:
            return kept[1]
        what = confirmation_mail(replace(mail, confirm_url=CONFIRM_URL))
        rendered = render_email(
            self.settings, self.config, what.city_slug, what.lang, what.template,
            dict(what.context), what.subject,
        )  # fmt: skip
        city = self.config.cities[mail.city_slug]
        signer = city_signer(self.settings, city)
        template = MessageTemplate(
            city.sender, rendered.lang, rendered, dkim=signer, slots=(CONFIRM_URL,)
        )
        if len(self.templates) >= 256:  # topics combinations of a long import: keep it bounded
            self.templates.clear()
        self.templates[key] = (now, template)
        return template

    def _backend(self, city_slug: str) -> MailBackend:
        url = city_mail_url(self.settings, self.config, city_slug)
        backend = self.backends.get(url)
        if backend is None:
            # opened by its first send (SMTP: connects then), closed by close()
            backend = self.backends[url] = get_backend(url)
        return backend

    def send(self, mail: ConfirmationMail) -> SendResult:
        """Send ``mail``; the backend's answer (an invalid address is permanent)."""
        template = self.template(mail)
        try:
            message = template.fill(
                Recipient(
                    to=mail.to,
                    message_id=f"<{uuid.uuid4().hex}@{template.domain}>",
                    unsubscribe_url="",
                    preferences_url="",
                    values={CONFIRM_URL: mail.confirm_url},
                )
            )
        except PermanentDeliveryError as exc:
            return SendResult("permanent", str(exc))
        return self._backend(mail.city_slug).send_messages([message])[0]

    def __call__(self, mail: ConfirmationMail) -> None:
        result = self.send(mail)
        if not result.ok:
            raise _refused(confirmation_mail(mail), result)

    def close(self) -> None:
        backends, self.backends = self.backends, {}
        for backend in backends.values():
            backend.close()


class ConfirmationMailer:
    """The :data:`~outreach.subscriptions.Mailer` that really sends confirmation mails.

    A call sends one mail over a connection of its own; :meth:`batch` gives a
    mailer that sends many over one (see :func:`outreach.subscriptions.mail_batch`).
    Both raise :class:`DeliveryError` when the backend does not accept a message,
    so the caller can release its once-a-day claim and let a later sign-up retry.
    """

    def __init__(self, settings: Settings, config: Config) -> None:
        self.settings = settings
        self.config = config

    def __call__(self, mail: ConfirmationMail) -> None:
        with self.batch() as send:
            send(mail)

    @contextmanager
    def batch(self) -> Iterator[ConfirmationBatch]:
        """A mailer for one thread that keeps rendered templates and connections until
        the block ends; each call of the shared mailer (a web process's) gets its own."""
        batch = ConfirmationBatch(self.settings, self.config)
        try:
            yield batch
        finally:
            batch.close()


def confirmation_mailer(settings: Settings, config: Config) -> ConfirmationMailer:
    """The mailer of confirmation mails (:class:`ConfirmationMailer`)."""
    return ConfirmationMailer(settings, config)
