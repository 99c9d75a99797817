"""The subscriptions stage: sign-up, double opt-in, unsubscribe, preferences, GDPR,
and subscribers in and out in bulk (CSV import from a CRM, CSV / JSON export).

Public API (other stages and the CLI/web layers import from here):

- :class:`SignUp` — validated subscriber data (``SignUp.clean(config, city, ...)``);
  :data:`SUBSCRIBER_FIELDS` / :data:`DETAIL_FIELDS`, the one list of a
  subscriber's fields; :func:`clean_text`, :func:`city_name`, :func:`city_texts`,
  :func:`city_row`
- :func:`subscribe`, :func:`confirm`, :func:`unsubscribe`, :func:`withdraw`,
  :func:`unsubscribe_email`, :func:`update_preferences`, :func:`current_preferences`,
  :func:`release_confirmation`
- :func:`add_subscriber`, :func:`show`, :func:`show_json`, :func:`forget`,
  :func:`purge_pending`
- :func:`link` / :func:`token_for` — the emailed links of a subscription
  (purposes ``confirm``, ``unsubscribe``, ``preferences``), :func:`load_token`;
  :func:`spend_token` makes a one-time token single-use
- :func:`create_api_key`, :func:`verify_api_key`, :func:`revoke_api_key`
- :data:`Mailer`, :class:`ConfirmationMail`, :class:`RecordingMailer`;
  :func:`confirmation_mail`, :func:`export_link_mail` say what to send
  (delivery sends it)
- :func:`import_csv` (``outreach subscribers import``), its :class:`ImportReport`
  and :func:`parse_share` (``--max-skipped``); :mod:`.import_values` says what
  Finnish, Swedish and English headers and values mean
- :func:`export` (``outreach subscribers export --purpose``), :data:`PURPOSES`,
  :func:`safe_cell`
"""

from outreach.subscriptions.apikeys import (
    create_api_key,
    list_api_keys,
    revoke_api_key,
    verify_api_key,
)
from outreach.subscriptions.consent import CONSENT_TEXT, CONSENT_VERSION, consent_text
from outreach.subscriptions.core import (
    Outcome,
    confirm,
    release_confirmation,
    subscribe,
    unsubscribe,
    unsubscribe_email,
    withdraw,
)
from outreach.subscriptions.csv_import import (
    detect_encoding,
    import_csv,
    parse_mapping,
    resolve_columns,
    sniff_delimiter,
)
from outreach.subscriptions.export import (
    EXPORT_FIELDS,
    PURPOSES,
    export,
    export_rows,
    safe_cell,
)
from outreach.subscriptions.import_report import ImportAborted, ImportReport, Note, parse_share
from outreach.subscriptions.import_values import FIELDS
from outreach.subscriptions.limits import spend_token
from outreach.subscriptions.links import link, load_token, token_for
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
from outreach.subscriptions.signup import (
    DETAIL_FIELDS,
    SUBSCRIBER_FIELDS,
    SignUp,
    city_name,
    city_row,
    city_texts,
    clean_text,
)

__all__ = [
    "CONSENT_TEXT",
    "CONSENT_VERSION",
    "DETAIL_FIELDS",
    "EXPORT_FIELDS",
    "FIELDS",
    "PURPOSES",
    "SUBSCRIBER_FIELDS",
    "ConfirmationMail",
    "ImportAborted",
    "ImportReport",
    "Mailer",
    "Note",
    "Outcome",
    "Preferences",
    "RecordingMailer",
    "SignUp",
    "add_subscriber",
    "city_name",
    "city_row",
    "city_texts",
    "clean_text",
    "confirm",
    "confirmation_mail",
    "consent_text",
    "create_api_key",
    "current_preferences",
    "detect_encoding",
    "export",
    "export_link_mail",
    "export_rows",
    "forget",
    "import_csv",
    "link",
    "list_api_keys",
    "load_token",
    "parse_mapping",
    "parse_share",
    "purge_pending",
    "release_confirmation",
    "resolve_columns",
    "revoke_api_key",
    "safe_cell",
    "show",
    "show_json",
    "sniff_delimiter",
    "spend_token",
    "subscribe",
    "token_for",
    "unsubscribe",
    "unsubscribe_email",
    "update_preferences",
    "verify_api_key",
    "withdraw",
]
