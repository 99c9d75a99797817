"""Per-backend rate limits: messages per second and per hour, shared by workers.

One limiter exists per mail URL in a process, so every worker and every issue
sending through the same backend shares it. Limits hold per process; several
processes sending through one backend each get the full rate (documented in
docs/delivery.md).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class RateLimiter:
    """Blocks :meth:`acquire` until one more message may go out."""

    def __init__(self, per_second: float = 0.0, per_hour: int = 0) -> None:
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        self.per_hour = per_hour
        self._next = 0.0
        self._window: deque[float] = deque()
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        return self.interval > 0 or self.per_hour > 0

    def _reserve(self, now: float) -> float:
        """The moment the next message may go out, reserved for the caller."""
        at = max(now, self._next)
        if self.per_hour > 0:
            window = self._window
            while window and window[0] <= at - 3600.0:
                window.popleft()
            if len(window) >= self.per_hour:
                at = max(at, window[0] + 3600.0)
                window.popleft()
            window.append(at)
        self._next = at + self.interval
        return at

    def acquire(
        self,
        stop: threading.Event | None = None,
        *,
        every: float | None = None,
        while_waiting: Callable[[], None] | None = None,
    ) -> bool:
        """Wait for a slot; False if ``stop`` was set while waiting.

        A long wait (a per-hour limit) is cut into steps of ``every`` seconds with
        ``while_waiting`` called between them, so a worker can renew its claims.
        """
        if not self.active:
            return True
        with self._lock:
            at = self._reserve(time.monotonic())
        while (delay := at - time.monotonic()) > 0:
            step = delay if every is None else min(delay, every)
            if stop is not None:
                if stop.wait(step):
                    return False
            else:
                time.sleep(step)
            if while_waiting is not None and at - time.monotonic() > 0:
                while_waiting()
        return True


_limiters: dict[tuple[str, float, int], RateLimiter] = {}
_limiters_lock = threading.Lock()


def limiter_for(mail_url: str, per_second: float, per_hour: int) -> RateLimiter:
    key = (mail_url, per_second, per_hour)
    with _limiters_lock:
        limiter = _limiters.get(key)
        if limiter is None:
            limiter = _limiters[key] = RateLimiter(per_second, per_hour)
        return limiter
