"""Every error outreach raises on purpose derives from :class:`OutreachError`.

    OutreachError
    ├── ConfigError               settings, secret key, mail URL
    │   ├── UnknownPluginError     (LookupError) unknown backend scheme / source type
    │   └── DkimKeyError           a DKIM key file is missing, unreadable or unusable
    ├── DatabaseUnavailable        the database cannot be reached (down, refusing, no file)
    ├── DaemonRunningError         another daemon holds the SQLite daemon lock
    ├── DaemonStopTimeout          work in flight outlived the daemon's stop bound
    ├── CampaignError              a campaign or cities file is invalid
    ├── SourceError                a source could not be fetched or parsed
    │   ├── BlockedURLError        SSRF guard refused an address or scheme
    │   ├── FetchError             HTTP error, timeout, too large, … (``retryable`` says if)
    │   └── SourceGone             the server answered 410 Gone: disable the source
    ├── StoryError                 a story file or a story decision is invalid
    ├── IssueError                 assembly or state-machine violation
    ├── RenderError                a template failed to render
    ├── SubscriptionError          (ValueError) invalid subscriber data
    │   ├── InvalidTokenError      tampered, expired or foreign token
    │   └── AlreadySubscribed      staff add an address the city already has; nothing changed
    ├── StaffError                 (ValueError) staff account, role or sign-in request
    ├── StatsError                 figures asked for a city, year or issue that has none
    ├── DeliveryError              sending failed
    │   ├── TemporaryDeliveryError  retry later (SMTP 4xx, dropped connection, HTTP 429/5xx)
    │   └── PermanentDeliveryError  never retry (SMTP 5xx, provider rejection)
    └── UnsupportedFeature         a backend cannot honour a requested option

The CLI prints ``error.text(lang)`` of an :class:`OutreachError` in the staff's
language as one line and exits 1; anything else is a bug and keeps its traceback.

A message a person reads is raised as a ``cli`` catalog msgid and its values,
``IssueError(msg("no issue {ref}"), ref=ref)`` (:func:`msg` marks the msgid for the
catalog test, imported as ``_msg`` where a module names a variable ``msg``):
``str(error)`` is the English text, for logs and for the web layer, which tells
refusals apart by it; ``error.text(lang)`` the translation.

Signals that never reach a user stay beside the code that raises and catches them
and are not part of this tree: ``checks.spam.SpamUnavailable`` (the spam check is
reported as not run), ``delivery.outcomes.RecordingFailed`` (outcome rows stay
``sending`` until reclaimed), ``web.common.PageError`` and ``web.bodylimit.BodyTooLarge``
(rendered as HTTP answers). ``subscriptions.import_report.ImportAborted`` and
``ImportRefused`` are :class:`SubscriptionError` kept beside the import report whose
messages they carry and translate; ``subscriptions.signup.LanguageNotOffered`` one
that carries the city's languages, ``subscriptions.manage.NoTopicChosen`` one the
preferences page tells apart.
"""

from __future__ import annotations


def msg(message: str) -> str:
    """Marks ``message`` as a ``cli`` catalog msgid; translated when the error is shown."""
    return message


class OutreachError(Exception):
    """Root of all errors that are meant for a user to read.

    Raised with a msgid and keyword values, it words itself in any language:
    ``str(error)`` in English, :meth:`text` in the staff's.
    """

    def __init__(self, *args: object, **params: object) -> None:
        message = args[0] if args and isinstance(args[0], str) else None
        if params and message is not None:
            super().__init__(message.format(**params), *args[1:])
        else:
            super().__init__(*args)
        # not ``params``: subclasses keep their own under that name
        self._msgid = message if message is not None and len(args) == 1 else ""
        self._values = params

    @classmethod
    def like(cls, other: OutreachError) -> OutreachError:
        """An error of this class with ``other``'s message (and its translations)."""
        if other._msgid:
            return cls(other._msgid, **other._values)
        return cls(str(other))

    def text(self, lang: str) -> str:
        """The message in ``lang`` (``cli`` catalog); English where it has no entry."""
        if not self._msgid:
            return str(self)
        from outreach.l10n import gettext_for

        translated = gettext_for(lang, "cli", self._msgid)
        if not self._values:
            return translated
        # an error given as a value (the reason of this one) in the same language
        values = {
            k: v.text(lang) if isinstance(v, OutreachError) else v for k, v in self._values.items()
        }
        return translated.format(**values)


class ConfigError(OutreachError):
    """A setting is missing or has an invalid value."""


class UnknownPluginError(ConfigError, LookupError):
    """A registry lookup failed; the message lists the known names."""

    def __init__(self, kind: str, name: str, known: list[str]) -> None:
        self.kind = kind
        self.name = name
        self.known = sorted(known)
        super().__init__(
            f'No {kind} by the name "{name}" was found (known: {", ".join(self.known) or "none"})'
        )

    def text(self, lang: str) -> str:
        from outreach.l10n import gettext_for

        known = ", ".join(self.known) or gettext_for(lang, "cli", "none")
        message = PLUGIN_KINDS.get(self.kind)
        if message is None:
            return str(self)
        return gettext_for(lang, "cli", message).format(name=self.name, known=known)


#: The sentence of an unknown name for each kind of registry (``cli`` msgids).
PLUGIN_KINDS = {
    "mail backend": msg('No mail backend by the name "{name}" was found (known: {known})'),
    "source type": msg('No source type by the name "{name}" was found (known: {known})'),
}


class DkimKeyError(ConfigError):
    """A DKIM key file that is missing, unreadable or not a usable private key."""


class DatabaseUnavailable(OutreachError):
    """The database could not be reached; the message is one line saying why."""


class DaemonRunningError(OutreachError):
    """Another daemon holds the SQLite database's daemon lock."""


class DaemonStopTimeout(OutreachError):
    """Work in flight did not finish within the stop bound."""


class CampaignError(OutreachError):
    """A campaign or cities file is invalid."""


class SourceError(OutreachError):
    """A content source could not be fetched or parsed."""


class BlockedURLError(SourceError):
    """A URL was refused by the fetch guard (scheme, address or redirect target)."""


class FetchError(SourceError):
    """The URL could not be fetched (HTTP error, timeout, too large, …)."""

    def __init__(self, message: str, *, retryable: bool = False, **params: object) -> None:
        super().__init__(message, **params)
        self.retryable = retryable


class SourceGone(SourceError):
    """The server answered 410 Gone: the source should be disabled."""


class StoryError(OutreachError):
    """A story file or a story decision is invalid."""


class IssueError(OutreachError):
    """An issue cannot be built or cannot change state as asked."""


class RenderError(OutreachError):
    """A template could not be rendered."""


class SubscriptionError(OutreachError, ValueError):
    """Subscriber data is invalid."""


class InvalidTokenError(SubscriptionError):
    """A token is tampered, expired, or meant for something else."""


class AlreadySubscribed(SubscriptionError):
    """Staff added an address that already subscribes in the city (confirmed, or
    bounced): adding it would change nothing, so nothing was changed."""

    def __init__(self, email: str, city: str, status: str, subscriber_id: int) -> None:
        super().__init__(
            msg("{email} already subscribes in {city} ({status}); nothing was changed"),
            email=email,
            city=city,
            status=status,
        )
        self.email = email
        self.city = city
        self.status = status
        self.subscriber_id = subscriber_id


class StaffError(OutreachError, ValueError):
    """A staff account, role or sign-in request that cannot be carried out."""


class StatsError(OutreachError):
    """Figures asked for a city, a year or an issue that has none."""


class DeliveryError(OutreachError):
    """A message could not be delivered."""

    def __init__(self, message: str, *, reply: str | None = None, **params: object) -> None:
        super().__init__(message, **params)
        self.reply = reply


class TemporaryDeliveryError(DeliveryError):
    """Delivery failed for now; the message is retried later."""


class PermanentDeliveryError(DeliveryError):
    """Delivery failed for good; the address is suppressed."""


class UnsupportedFeature(OutreachError):
    """A backend was asked for an option it cannot honour."""
