"""The daemon's threads: stopped within their bound, the late ones named."""

from __future__ import annotations

import threading

import pytest

from outreach.errors import DaemonStopTimeout
from outreach.scheduler.process import Threads


class _Scheduler:
    def __init__(self) -> None:
        self.shut = threading.Event()

    def shutdown(self) -> None:
        self.shut.set()


def test_threads_that_finish_stop_quietly_and_the_scheduler_is_shut_down() -> None:
    threads, done, scheduler = Threads(), threading.Event(), _Scheduler()
    threads.start("quick", done.wait)
    done.set()
    threads.stop(5.0, scheduler)
    assert scheduler.shut.is_set()


def test_a_thread_that_outlives_the_bound_is_named() -> None:
    threads, release = Threads(), threading.Event()
    threads.start("send", release.wait)
    threads.start("quick", lambda: None)
    try:
        with pytest.raises(DaemonStopTimeout, match=r"after 0 s for: send;"):
            threads.stop(0.2)
    finally:
        release.set()
