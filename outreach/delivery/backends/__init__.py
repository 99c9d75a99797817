"""Mail backends chosen by the scheme of a mail URL.

Built-in schemes are listed in :data:`BUILTIN`; third-party packages add more
through the entry-point group ``outreach.mail_backends`` (name = scheme,
value = a :class:`MailBackend` subclass), looked up through
:mod:`outreach.plugins`. An unknown scheme raises
:class:`~outreach.errors.UnknownPluginError` listing the known ones, and a
query option the backend does not support raises
:class:`~outreach.errors.UnsupportedFeature` — nothing is silently dropped.

Two options belong to message building, not to a backend, and are taken out
of the URL before the backend sees it (see :func:`split_message_options`):
``verp`` (a bounce address: ``bounces@example.org`` becomes the VERP return
path ``bounces+user=domain@example.org``) and ``unsubscribe_mailto`` (adds a
mailto: URI to ``List-Unsubscribe``).
"""

from __future__ import annotations

from urllib.parse import SplitResult, parse_qsl, urlsplit

from outreach.delivery.backends.base import MailBackend, OutgoingMessage, SendResult
from outreach.errors import ConfigError, msg
from outreach.plugins import Registry

__all__ = [
    "BUILTIN",
    "MESSAGE_OPTIONS",
    "MailBackend",
    "OutgoingMessage",
    "SendResult",
    "backend_class",
    "get_backend",
    "known_schemes",
    "split_message_options",
]

ENTRY_POINT_GROUP = "outreach.mail_backends"
BUILTIN: dict[str, str] = {
    "smtp": "outreach.delivery.backends.smtp:SMTPBackend",
    "smtps": "outreach.delivery.backends.smtp:SMTPBackend",
    "file": "outreach.delivery.backends.file:FileBackend",
    "console": "outreach.delivery.backends.console:ConsoleBackend",
    "memory": "outreach.delivery.backends.memory:MemoryBackend",
    "mailgun": "outreach.delivery.backends.mailgun:MailgunBackend",
}
MESSAGE_OPTIONS = frozenset({"verp", "unsubscribe_mailto"})


BACKENDS: Registry[MailBackend] = Registry(
    "mail backend", ENTRY_POINT_GROUP, BUILTIN, lambda: MailBackend
)


def known_schemes() -> list[str]:
    return BACKENDS.names()


def backend_class(scheme: str) -> type[MailBackend]:
    """The backend class for a URL scheme; raises UnknownPluginError."""
    return BACKENDS.get(scheme)


def _parse(url: str) -> tuple[SplitResult, dict[str, str]]:
    if "\r" in url or "\n" in url:
        raise ConfigError(msg("the mail URL must be on one line"))
    parts = urlsplit(url)
    if not parts.scheme:
        raise ConfigError(
            msg("mail URL {url} has no scheme (known: {known})"),
            url=repr(url),
            known=", ".join(known_schemes()),
        )
    return parts, dict(parse_qsl(parts.query, keep_blank_values=True))


def split_message_options(url: str) -> dict[str, str]:
    """The message-building options (``verp``, ``unsubscribe_mailto``) of a mail URL."""
    _, params = _parse(url)
    return {k: v for k, v in params.items() if k in MESSAGE_OPTIONS}


def get_backend(url: str) -> MailBackend:
    """A new, unopened backend for ``url`` (e.g. ``smtp://u:p@host:587``)."""
    parts, params = _parse(url)
    cls = backend_class(parts.scheme.lower())
    return cls(parts, {k: v for k, v in params.items() if k not in MESSAGE_OPTIONS})
