"""The daemon's process: its signals, its threads, the web app beside it, a bounded stop.

:class:`Threads` starts the daemon's threads (the send loop, the catch-up, the
web server) and stops them within a bound: what outlives it is named in a
:class:`~outreach.errors.DaemonStopTimeout`. :func:`install_signals` maps
SIGTERM / SIGINT to stopping and SIGHUP to a reload.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from outreach.errors import DaemonStopTimeout

__all__ = ["Threads", "install_signals"]

log = logging.getLogger(__name__)


def install_signals(stopping: threading.Event, reload_requested: threading.Event) -> None:
    """SIGTERM and SIGINT set ``stopping``, SIGHUP ``reload_requested`` (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        return

    def on_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s; stopping", signal.Signals(signum).name)
        stopping.set()

    def on_hup(_signum: int, _frame: FrameType | None) -> None:
        reload_requested.set()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGHUP, on_hup)


class Threads:
    """The daemon's threads, and the web server if it serves one."""

    def __init__(self) -> None:
        self._threads: list[threading.Thread] = []
        self._web: Any = None

    def start(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def serve(self, app: Any, host: str, port: int) -> None:
        """Serve ``app`` with uvicorn in a thread of its own."""
        import uvicorn

        self._web = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="info"))
        self.start("web", self._web.run)

    def stop(self, timeout: float, scheduler: Any = None) -> None:
        """Shut ``scheduler`` down, stop the web server and wait for every thread,
        at most ``timeout`` seconds in all; :class:`DaemonStopTimeout` names the late."""
        deadline = time.monotonic() + timeout
        if scheduler is not None:
            self.start("scheduler-stop", scheduler.shutdown)
        if self._web is not None:
            self._web.should_exit = True
        late = []
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                late.append(thread.name)
        self._threads.clear()
        if late:
            raise DaemonStopTimeout(
                f"stopped waiting after {timeout:.0f} s for: "
                f"{', '.join(late)}; messages in flight may be sent again on the next start"
            )
