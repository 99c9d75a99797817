"""``file://var/outbox`` (relative) or ``file:///abs/path`` — one ``.eml`` per message.

Each file is written to a temporary name in the same folder and moved into
place with :func:`os.replace`, so a reader never sees half a message. The
name comes from the Message-ID, so a retried message overwrites itself.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import SplitResult, unquote

from outreach.delivery.backends.base import MailBackend, OutgoingMessage, SendResult
from outreach.errors import ConfigError, msg

_UNSAFE = re.compile(r"[^A-Za-z0-9@._+-]")


def file_name(message_id: str) -> str:
    stem = _UNSAFE.sub("_", message_id.strip().strip("<>"))[:200].lstrip(".")
    return (stem or "message") + ".eml"


class FileBackend(MailBackend):
    scheme = "file"

    def __init__(self, url: SplitResult, params: Mapping[str, str]) -> None:
        super().__init__(url, params)
        raw = unquote(url.netloc + url.path) if url.netloc else unquote(url.path)
        if not raw:
            raise ConfigError(msg("file mail URL needs a folder, e.g. file://var/outbox"))
        self.directory = Path(raw)

    def open(self) -> bool:
        self.directory.mkdir(parents=True, exist_ok=True)
        return False

    def send_messages(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        self.open()
        results = []
        for m in messages:
            target = self.directory / file_name(m.message_id)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".eml")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(m.data)
                os.replace(tmp, target)
            except OSError as exc:
                Path(tmp).unlink(missing_ok=True)
                results.append(SendResult("temporary", f"cannot write {target}: {exc}"))
                continue
            results.append(SendResult("sent", f"written to {target}"))
        return results
