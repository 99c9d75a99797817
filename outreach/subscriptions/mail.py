"""The confirmation mail: one small seam between subscriptions and the mail stages.

:func:`send_confirmation` renders the ``confirmation`` email template through
the render stage and hands it to the delivery stage's transactional sender.
Callers take a :data:`Mailer` so tests and the web app can swap in a recorder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from outreach.campaigns import Config
from outreach.errors import DeliveryError
from outreach.l10n import gettext_for
from outreach.settings import Settings


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


def confirmation_subject(city_name: str, lang: str) -> str:
    return gettext_for(lang, "web", "Confirm your subscription: {city} climate news").format(
        city=city_name
    )


def send_confirmation(settings: Settings, config: Config, mail: ConfirmationMail) -> None:
    """Render and send one confirmation email (render + delivery stages).

    Raises :class:`DeliveryError` when the backend does not accept the message,
    so the caller can release its once-a-day claim and let a later sign-up retry.
    """
    # The mail stages sit above this one; the confirmation mail is the one place
    # subscriptions reach up to them, so the import stays inside this function.
    from outreach.delivery.message import send_transactional
    from outreach.render import render_email

    rendered = render_email(
        settings,
        config,
        mail.city_slug,
        mail.lang,
        "confirmation",
        {"confirm_url": mail.confirm_url, "city_name": mail.city_name, "topics": mail.topics},
        mail.subject,
    )
    result = send_transactional(settings, config, mail.city_slug, mail.to, rendered)
    if not result.ok:
        raise DeliveryError(
            f"confirmation mail to {mail.to} not sent ({result.status})", reply=result.reply
        )


def send_export_link(
    settings: Settings, config: Config, city_slug: str, to: str, lang: str, url: str
) -> None:
    """Mail the address a short-lived link to everything held about it."""
    from outreach.delivery.message import send_transactional
    from outreach.render import render_email

    subject = gettext_for(lang, "web", "Your data held for the climate newsletter")
    rendered = render_email(
        settings, config, city_slug, lang, "data_export", {"export_url": url}, subject
    )
    result = send_transactional(settings, config, city_slug, to, rendered)
    if not result.ok:
        raise DeliveryError(f"data export link to {to} not sent ({result.status})")


def default_mailer(settings: Settings, config: Config) -> Mailer:
    def mailer(mail: ConfirmationMail) -> None:
        send_confirmation(settings, config, mail)

    return mailer


class RecordingMailer:
    """A mailer that keeps what it was given (tests, ``--dry-run``)."""

    def __init__(self) -> None:
        self.sent: list[ConfirmationMail] = []

    def __call__(self, mail: ConfirmationMail) -> None:
        self.sent.append(mail)
