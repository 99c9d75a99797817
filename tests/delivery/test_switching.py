"""A send runs with a short thread switch interval and puts the interval back."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from outreach.delivery import send_issue
from outreach.delivery.workers import SWITCH_INTERVAL, quick_switching
from tests.delivery.conftest import SMTPServer


@pytest.fixture(autouse=True)
def default_interval() -> Iterator[None]:
    before = sys.getswitchinterval()
    sys.setswitchinterval(0.005)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def test_a_send_hands_over_with_the_short_interval_and_restores_it(
    world_factory: Any, smtp_server: SMTPServer
) -> None:
    seen: list[float] = []
    handler = smtp_server.handler
    original = handler.handle_MAIL

    async def handle_mail(*args: Any, **kwargs: Any) -> Any:
        seen.append(sys.getswitchinterval())  # the server runs in this process
        return await original(*args, **kwargs)

    handler.handle_MAIL = handle_mail  # type: ignore[method-assign]
    w = world_factory(6, mail_url=smtp_server.url())
    report = send_issue(w.settings, w.config, w.issue_id, workers=2)
    assert report.sent == 6
    assert len(seen) == 6
    assert seen == [pytest.approx(SWITCH_INTERVAL)] * 6
    assert sys.getswitchinterval() == pytest.approx(0.005)


def test_overlapping_sends_restore_the_interval_when_the_last_one_ends() -> None:
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    during: list[float] = []

    def first() -> None:
        with quick_switching():
            first_in.set()
            second_in.wait(5)
        first_out.set()

    thread = threading.Thread(target=first)
    thread.start()
    first_in.wait(5)
    with quick_switching():
        second_in.set()
        first_out.wait(5)
        during.append(sys.getswitchinterval())  # the first send has ended, this one runs
    thread.join()
    assert during == [pytest.approx(SWITCH_INTERVAL)]
    assert sys.getswitchinterval() == pytest.approx(0.005)


def test_a_shorter_interval_set_by_the_process_is_kept() -> None:
    sys.setswitchinterval(SWITCH_INTERVAL / 5)
    shorter = sys.getswitchinterval()  # kept in whole microseconds
    with quick_switching():
        assert sys.getswitchinterval() == shorter
    assert sys.getswitchinterval() == shorter


def test_the_interval_is_restored_when_a_send_fails() -> None:
    with pytest.raises(RuntimeError), quick_switching():
        raise RuntimeError("the send failed")
    assert sys.getswitchinterval() == pytest.approx(0.005)
