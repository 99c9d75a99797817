"""Progress reporting for ``send_issue``: a bar on a terminal, log lines elsewhere."""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

log = logging.getLogger("outreach.delivery")


def progress_reporter(
    label: str, stream: TextIO | None = None, *, every_seconds: float = 10.0
) -> Callable[[int, int], None]:
    """A ``progress(done, total)`` callback: redraws a bar on a TTY, else logs now and then."""
    out = stream if stream is not None else sys.stderr
    tty = out.isatty()
    lock = threading.Lock()
    last = [float("-inf")]

    def report(done: int, total: int) -> None:
        with lock:
            if tty:
                width = 30
                filled = width * done // total if total else width
                bar = "#" * filled + "-" * (width - filled)
                out.write(f"\r{label} [{bar}] {done}/{total}")
                if done >= total:
                    out.write("\n")
                out.flush()
                return
            now = time.monotonic()
            if done >= total or now - last[0] >= every_seconds:
                last[0] = now
                log.info("%s: %d of %d done", label, done, total)

    return report
