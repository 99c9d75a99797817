"""The mail backend contract: open, close, context manager, ``send_messages``.

A backend hands fully serialised messages (:class:`OutgoingMessage`) to a
transport and answers with one :class:`SendResult` per message, in order. It
never raises for a single recipient's failure; it raises an
:class:`~outreach.errors.OutreachError` only when the backend as a whole
cannot work (bad configuration, rejected credentials).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import ClassVar, Literal
from urllib.parse import SplitResult

from outreach.errors import ConfigError, UnsupportedFeature, msg

Status = Literal["sent", "temporary", "permanent"]


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """A message ready for the wire: RFC 5322 bytes with CRLF line ends.

    ``dot_lines``: whether a line of ``data`` starts with "." (which SMTP
    doubles), when the builder knows; None: the backend looks (a scan of the
    whole message, about 15-30 µs for 11 KB).
    """

    envelope_from: str
    recipients: list[str]
    data: bytes
    message_id: str
    dot_lines: bool | None = None


@dataclass(frozen=True, slots=True)
class SendResult:
    """The outcome for one message; ``reply`` is the server's or provider's answer."""

    status: Status
    reply: str | None = None
    retry_after: float | None = None  # seconds the server asked us to wait

    @property
    def ok(self) -> bool:
        return self.status == "sent"


class MailBackend:
    """Base class of every backend; subclasses set ``scheme`` and ``options``.

    ``open()`` returns True only when it opened a new connection, so a caller
    closes only what it opened (as Django's backends do).
    """

    scheme: ClassVar[str] = ""
    #: query-string options the backend understands; anything else raises.
    options: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, url: SplitResult, params: Mapping[str, str]) -> None:
        unsupported = sorted(set(params) - self.options)
        if unsupported:
            known = ", ".join(sorted(self.options)) or "none"
            raise UnsupportedFeature(
                msg(
                    'mail backend "{scheme}" does not support the option "{option}" '
                    "(supported: {known})"
                ),
                scheme=self.scheme,
                option=unsupported[0],
                known=known,
            )
        self.url = url
        self.params = dict(params)

    def open(self) -> bool:
        return False

    def close(self) -> None:
        return None

    def send_messages(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        raise NotImplementedError

    def send_one(
        self,
        message: OutgoingMessage,
        ready: Callable[[], None],
        following: OutgoingMessage | None = None,
    ) -> SendResult:
        """Send one message, calling ``ready()`` right before the point of no return.

        ``ready`` may block (the sender makes the previous outcome durable) or
        raise (then the message is not handed over). This default calls it
        first; a backend that can do work before the hand-over (SMTP: the
        envelope, up to the server's 354 to DATA) overrides it.

        ``following``: the message the caller means to send next, if it knows.
        A backend may start on it (SMTP: its envelope), never hand it over; if
        the next call sends another message, or none comes, that work is undone.
        """
        ready()
        return self.send_messages([message])[0]

    def __enter__(self) -> MailBackend:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # helpers for subclasses -------------------------------------------------

    def bool_option(self, name: str, default: bool) -> bool:
        value = self.params.get(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise ConfigError(
            msg('mail URL option {name}={value}: expected "true" or "false"'),
            name=name,
            value=repr(value),
        )

    def float_option(self, name: str, default: float) -> float:
        value = self.params.get(name)
        if value is None:
            return default
        try:
            result = float(value)
        except ValueError:
            raise ConfigError(
                msg("mail URL option {name}={value}: expected a number"),
                name=name,
                value=repr(value),
            ) from None
        if result <= 0:
            raise ConfigError(
                msg("mail URL option {name}={value}: expected a positive number"),
                name=name,
                value=repr(value),
            )
        return result
