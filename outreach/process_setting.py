"""A process-wide interpreter setting changed while any of several concurrent users
needs it: a send's thread switch interval (``outreach.delivery.workers``), an
import's garbage-collector thresholds (``outreach.subscriptions.bulk``).

The first user to enter applies the change and keeps what it replaced; the last
to leave puts that back. Users in other threads may enter and leave in any order.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar, cast

T = TypeVar("T")


class ProcessSetting(Generic[T]):
    """``apply()`` changes the setting and returns what it replaced; ``restore(saved)``
    puts that back."""

    def __init__(self, apply: Callable[[], T], restore: Callable[[T], None]) -> None:
        self._apply = apply
        self._restore = restore
        self._lock = threading.Lock()
        self._users = 0
        self._saved: T | None = None

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        with self._lock:
            if self._users == 0:
                self._saved = self._apply()
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0:
                    saved, self._saved = self._saved, None
                    self._restore(cast(T, saved))  # set by the first to enter
