"""The subscriptions stage: sign-up, double opt-in, unsubscribe, preferences, GDPR.

Public API (other stages and the CLI/web layers import from here):

- :class:`SignUp` — validated subscriber data (``SignUp.clean(config, city, ...)``)
- :func:`subscribe`, :func:`confirm`, :func:`unsubscribe`, :func:`withdraw`,
  :func:`unsubscribe_email`, :func:`update_preferences`, :func:`current_preferences`
- :func:`suppressed_in` — may this city mail this address
- :func:`add_subscriber`, :func:`show`, :func:`show_json`, :func:`forget`,
  :func:`purge_pending`
- :func:`link` / :func:`token_for` — the emailed links of a subscription
  (purposes ``confirm``, ``unsubscribe``, ``preferences``), :func:`load_token`
- :func:`create_api_key`, :func:`verify_api_key`, :func:`revoke_api_key`
- :data:`Mailer`, :class:`ConfirmationMail`, :class:`RecordingMailer`;
  :func:`confirmation_mail`, :func:`export_link_mail` say what to send
  (delivery sends it)
"""

from outreach.subscriptions.apikeys import (
    create_api_key,
    list_api_keys,
    revoke_api_key,
    verify_api_key,
)
from outreach.subscriptions.base import (
    CONSENT_TEXT,
    CONSENT_VERSION,
    SignUp,
    city_row,
    consent_text,
    link,
    load_token,
    token_for,
)
from outreach.subscriptions.core import (
    Outcome,
    confirm,
    subscribe,
    suppressed_in,
    unsubscribe,
    unsubscribe_email,
    withdraw,
)
from outreach.subscriptions.mail import (
    ConfirmationMail,
    Mailer,
    RecordingMailer,
    confirmation_mail,
    export_link_mail,
)
from outreach.subscriptions.manage import (
    Preferences,
    add_subscriber,
    current_preferences,
    forget,
    purge_pending,
    show,
    show_json,
    update_preferences,
)

__all__ = [
    "CONSENT_TEXT",
    "CONSENT_VERSION",
    "ConfirmationMail",
    "Mailer",
    "Outcome",
    "Preferences",
    "RecordingMailer",
    "SignUp",
    "add_subscriber",
    "city_row",
    "confirm",
    "confirmation_mail",
    "consent_text",
    "create_api_key",
    "current_preferences",
    "export_link_mail",
    "forget",
    "link",
    "list_api_keys",
    "load_token",
    "purge_pending",
    "revoke_api_key",
    "show",
    "show_json",
    "subscribe",
    "suppressed_in",
    "token_for",
    "unsubscribe",
    "unsubscribe_email",
    "update_preferences",
    "verify_api_key",
    "withdraw",
]
