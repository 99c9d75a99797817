"""One log line per recurring failure, not one per attempt.

A database outage makes every health probe, poll and reload fail the same way;
logging each one (let alone with a traceback) buries the log. A
:class:`ThrottledLog` writes the first failure at once, then at most one line
per ``every`` seconds, each saying how many like it were left out, and one line
when the failure is over.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable


class ThrottledLog:
    """Rate-limited warnings about one recurring failure (thread-safe)."""

    def __init__(
        self,
        logger: logging.Logger,
        *,
        every: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.every = every
        self.clock = clock
        self._lock = threading.Lock()
        self._last: float | None = None
        self._suppressed = 0
        self._failing = False

    @property
    def failing(self) -> bool:
        return self._failing

    def warning(self, message: str, *args: object) -> bool:
        """Log ``message`` unless a line went out less than ``every`` seconds ago."""
        with self._lock:
            now = self.clock()
            self._failing = True
            if self._last is not None and now - self._last < self.every:
                self._suppressed += 1
                return False
            suppressed, self._suppressed = self._suppressed, 0
            self._last = now
        if suppressed:
            message += " (%d more in the last %d s not logged)"
            args = (*args, suppressed, round(self.every))
        self.logger.warning(message, *args)
        return True

    def recovered(self, message: str, *args: object, level: int = logging.INFO) -> bool:
        """Log ``message`` once if the failure was going on; the next one logs at once.

        ``level`` WARNING puts the end of an outage where its start was seen.
        """
        with self._lock:
            if not self._failing:
                return False
            suppressed = self._suppressed
            self._failing, self._last, self._suppressed = False, None, 0
        if suppressed:
            message += " (%d failures not logged before this)"
            args = (*args, suppressed)
        self.logger.log(level, message, *args)
        return True
