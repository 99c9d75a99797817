"""The normalised event every way in produces (anymail style).

A DSN, an ARF report, a provider's webhook call: each becomes zero or more
:class:`MailEvent` values, whatever the source, so that acting on them
(:mod:`outreach.bounces.act`) knows nothing about where they came from, and a
second provider is one small module that maps its payload to these.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass


class EventKind(enum.StrEnum):
    BOUNCED = "bounced"
    DEFERRED = "deferred"
    COMPLAINED = "complained"
    UNSUBSCRIBED = "unsubscribed"
    DELIVERED = "delivered"


@dataclass(frozen=True)
class MailEvent:
    """One thing that happened to one recipient of one message."""

    kind: EventKind
    recipient: str | None
    #: Bounces only: permanent (5.x.x) rather than transient (4.x.x).
    hard: bool = False
    status: str | None = None
    diagnostic: str | None = None
    #: The Message-ID of the message the report is about, if it quotes it.
    message_id: str | None = None
    #: The address the report came back to (a signed VERP return path, maybe).
    return_path: str | None = None
    #: Identity of the report: the same report processed twice has the same one.
    report_id: str = ""

    def key(self) -> str:
        """What makes this event unique: report, recipient and kind (SHA-256 hex)."""
        text = f"{self.report_id}\x1f{(self.recipient or '').lower()}\x1f{self.kind}"
        return hashlib.sha256(text.encode()).hexdigest()
