"""``console:`` — prints every message to standard output (development)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence

from outreach.delivery.backends.base import MailBackend, OutgoingMessage, SendResult

_lock = threading.Lock()
SEPARATOR = "-" * 79


class ConsoleBackend(MailBackend):
    scheme = "console"

    def send_messages(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        results = []
        with _lock:
            for m in messages:
                sys.stdout.write(m.data.decode("utf-8", "replace").replace("\r\n", "\n"))
                sys.stdout.write("\n" + SEPARATOR + "\n")
                results.append(SendResult("sent", "printed"))
            sys.stdout.flush()
        return results
