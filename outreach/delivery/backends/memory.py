"""``memory:`` — keeps every message in :data:`outbox`, for tests and previews.

Each message is parsed back with the ``email`` package (``policy.default``) and
every header is read, so a malformed header surfaces here as a permanent
failure instead of at a real mail server.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage

from outreach.delivery.backends.base import MailBackend, OutgoingMessage, SendResult


@dataclass(frozen=True, slots=True)
class StoredMessage:
    envelope_from: str
    recipients: list[str]
    message_id: str
    data: bytes
    message: EmailMessage


outbox: list[StoredMessage] = []
_lock = threading.Lock()


def clear() -> None:
    with _lock:
        outbox.clear()


def parse(data: bytes) -> EmailMessage:
    """Parse ``data``; raise ValueError naming the first defect found."""
    msg = message_from_bytes(data, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    for name, value in msg.items():
        defects = getattr(value, "defects", ())
        if defects:
            raise ValueError(f"header {name}: {defects[0]}")
    for part in msg.walk():
        if part.defects:
            raise ValueError(f"MIME structure: {part.defects[0]}")
    return msg


class MemoryBackend(MailBackend):
    scheme = "memory"

    def send_messages(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        results = []
        for m in messages:
            try:
                parsed = parse(m.data)
            except ValueError as exc:
                results.append(SendResult("permanent", f"malformed message: {exc}"))
                continue
            with _lock:
                outbox.append(
                    StoredMessage(m.envelope_from, list(m.recipients), m.message_id, m.data, parsed)
                )
            results.append(SendResult("sent", "250 kept in memory"))
        return results
