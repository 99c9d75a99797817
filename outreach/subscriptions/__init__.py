"""The subscriptions stage: sign-up, double opt-in, unsubscribe, preferences, GDPR,
and subscribers in and out in bulk (CSV import from a CRM, CSV / JSON export).

Public API (other stages and the CLI/web layers import from here):

- :class:`SignUp` — validated subscriber data (``SignUp.clean(config, city, ...)``);
  :data:`SUBSCRIBER_FIELDS` / :data:`DETAIL_FIELDS`, the one list of a
  subscriber's fields; :func:`clean_text`, :func:`city_name`, :func:`city_texts`,
  :func:`city_row`; :func:`offered_language` (:class:`LanguageNotOffered`): may a
  city's subscriber choose this newsletter language
- :func:`subscribe`, :func:`confirm`, :func:`unsubscribe`, :func:`withdraw`,
  :func:`unsubscribe_email`, :func:`update_preferences` (:class:`NoTopicChosen`),
  :func:`current_preferences`,
  :func:`release_confirmation`
- :func:`suppressed_in` — may this city mail this address
- :func:`add_subscriber`, :func:`show`, :func:`show_json`, :func:`forget`,
  :func:`purge_pending`
- :func:`link` / :func:`token_for` — the emailed links of a subscription
  (purposes ``confirm``, ``unsubscribe``, ``preferences``), :func:`load_token`;
  :func:`spend_token` makes a one-time token single-use; :func:`claim_export` and
  :func:`release_export`: the per-mailbox cap of "download my data" links,
  :func:`claim_receipt` and :func:`release_receipt` that of story receipts
- :func:`create_api_key`, :func:`verify_api_key`, :func:`revoke_api_key`
- :data:`Mailer`, :class:`ConfirmationMail`, :class:`RecordingMailer`; a
  :class:`BatchMailer` and :func:`mail_batch` (many mails through one batch);
  :func:`confirmation_mail`, :func:`export_link_mail` say what to send
  (delivery sends it)
- :func:`import_csv` (``outreach subscribers import``), its :class:`ImportReport`,
  :class:`ImportRefused` (a file or option refused before anything is written)
  and :func:`parse_share` (``--max-skipped``); :mod:`.import_file` reads what a
  file is (encoding, delimiter, columns), :mod:`.import_values` what Finnish,
  Swedish and English headers and values mean
- :func:`export` (``outreach subscribers export --purpose``), :data:`PURPOSES`,
  :func:`safe_cell`, :func:`check_purpose`; :func:`write_xlsx`
- the staff console's and ``outreach subscribers list|leads``'s queries:
  :func:`search` (:class:`Filters`, keyset :class:`Page`), :func:`person`,
  :func:`city_subscription`, :func:`rows_of`; :func:`edit_subscriber`;
  :func:`leads`, :func:`mark_contacted`, :func:`note_interest`, :func:`write_leads_csv`
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
    suppressed_in,
    unsubscribe,
    unsubscribe_email,
    withdraw,
)
from outreach.subscriptions.csv_import import import_csv
from outreach.subscriptions.directory import (
    CHANNELS,
    Filters,
    Page,
    Person,
    city_subscription,
    person,
    rows_of,
    search,
)
from outreach.subscriptions.edit import edit_subscriber
from outreach.subscriptions.export import (
    EXPORT_FIELDS,
    PURPOSES,
    check_purpose,
    export,
    export_rows,
    safe_cell,
)
from outreach.subscriptions.import_file import (
    parse_mapping,
    resolve_columns,
    scan_file,
    sniff_delimiter,
)
from outreach.subscriptions.import_report import (
    ImportAborted,
    ImportRefused,
    ImportReport,
    Note,
    parse_share,
)
from outreach.subscriptions.import_values import FIELDS
from outreach.subscriptions.leads import (
    LEAD_FIELDS,
    Lead,
    leads,
    mark_contacted,
    note_interest,
    write_leads_csv,
)
from outreach.subscriptions.limits import (
    claim_export,
    claim_receipt,
    release_export,
    release_receipt,
    spend_token,
)
from outreach.subscriptions.links import link, load_token, token_for
from outreach.subscriptions.mail import (
    BatchMailer,
    ConfirmationMail,
    Mailer,
    RecordingMailer,
    confirmation_mail,
    export_link_mail,
    mail_batch,
)
from outreach.subscriptions.manage import (
    NoTopicChosen,
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
    SIZE_CLASSES,
    SUBSCRIBER_FIELDS,
    LanguageNotOffered,
    SignUp,
    city_name,
    city_row,
    city_texts,
    clean_text,
    offered_language,
)
from outreach.subscriptions.xlsx import MEDIA_TYPE as XLSX_MEDIA_TYPE
from outreach.subscriptions.xlsx import write_xlsx

__all__ = [
    "CHANNELS",
    "CONSENT_TEXT",
    "CONSENT_VERSION",
    "DETAIL_FIELDS",
    "EXPORT_FIELDS",
    "FIELDS",
    "LEAD_FIELDS",
    "PURPOSES",
    "SIZE_CLASSES",
    "SUBSCRIBER_FIELDS",
    "XLSX_MEDIA_TYPE",
    "BatchMailer",
    "ConfirmationMail",
    "Filters",
    "ImportAborted",
    "ImportRefused",
    "ImportReport",
    "LanguageNotOffered",
    "Lead",
    "Mailer",
    "NoTopicChosen",
    "Note",
    "Outcome",
    "Page",
    "Person",
    "Preferences",
    "RecordingMailer",
    "SignUp",
    "add_subscriber",
    "check_purpose",
    "city_name",
    "city_row",
    "city_subscription",
    "city_texts",
    "claim_export",
    "claim_receipt",
    "clean_text",
    "confirm",
    "confirmation_mail",
    "consent_text",
    "create_api_key",
    "current_preferences",
    "edit_subscriber",
    "export",
    "export_link_mail",
    "export_rows",
    "forget",
    "import_csv",
    "leads",
    "link",
    "list_api_keys",
    "load_token",
    "mail_batch",
    "mark_contacted",
    "note_interest",
    "offered_language",
    "parse_mapping",
    "parse_share",
    "person",
    "purge_pending",
    "release_confirmation",
    "release_export",
    "release_receipt",
    "resolve_columns",
    "revoke_api_key",
    "rows_of",
    "safe_cell",
    "scan_file",
    "search",
    "show",
    "show_json",
    "sniff_delimiter",
    "spend_token",
    "subscribe",
    "suppressed_in",
    "token_for",
    "unsubscribe",
    "unsubscribe_email",
    "update_preferences",
    "verify_api_key",
    "withdraw",
    "write_leads_csv",
    "write_xlsx",
]
