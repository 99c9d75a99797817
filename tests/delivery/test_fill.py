"""The outbox written in slices: the first before the send starts, the rest while it
is sent (PostgreSQL), every recipient once, and an issue is never ``sent`` before
its outbox is complete: after a send that stopped early the next one fills the rest."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import func, select, update

from outreach.delivery import fill as fill_module
from outreach.delivery import send_issue
from outreach.delivery.backends import memory
from outreach.delivery.outbox import (
    FIRST_SLICE_PER_WORKER,
    cancel_issue,
    enqueue_issue,
    fill_slice,
    slice_end,
    start_outbox,
)
from outreach.errors import OutreachError
from outreach.models import Delivery, DeliveryStatus, Issue, IssueStatus, Subscription
from outreach.models import SubscriptionStatus as SubStatus

FIRST = 2 * FIRST_SLICE_PER_WORKER  # the first slice of an outbox sent by two workers


def _recipients() -> Counter[str]:
    return Counter(r for m in memory.outbox for r in m.recipients)


def test_slices_add_the_audience_once_and_complete_the_outbox(db_world_factory: Any) -> None:
    w = db_world_factory(57)
    with w.session() as s:
        # Outside the audience, inside the slices: an unconfirmed subscription and one
        # without the campaign's topic.
        first, second = s.scalars(select(Subscription).order_by(Subscription.id).limit(2))
        first.status = SubStatus.UNSUBSCRIBED
        second.topics = ["other"]
        s.commit()
        issue = s.get(Issue, w.issue_id)
        end = slice_end(s, issue, 0, 20)
        assert end is not None
        assert enqueue_issue(s, w.settings, w.config, issue, upto=end) == 18
        s.commit()
        assert (issue.status, issue.outbox_complete) == (IssueStatus.SENDING, False)
        added, end = fill_slice(s, w.settings, w.config, issue, end, 20) or (0, None)
        s.commit()
        assert added == 20 and end is not None
        assert fill_slice(s, w.settings, w.config, issue, end, 40) == (17, None)
        s.commit()
        s.refresh(issue)
        assert issue.outbox_complete
        assert fill_slice(s, w.settings, w.config, issue, 0, 40) is None  # complete: nothing
        emails = Counter(s.scalars(select(Delivery.email)))
    assert emails == Counter(w.emails[2:])


def test_a_send_after_one_that_stopped_early_fills_the_rest(db_world_factory: Any) -> None:
    w = db_world_factory(45)
    with w.session() as s:
        issue = s.get(Issue, w.issue_id)
        enqueue_issue(s, w.settings, w.config, issue, upto=slice_end(s, issue, 0, 10))
        s.commit()
    memory.clear()
    report = send_issue(w.settings, w.config, w.issue_id, workers=2)
    assert (report.sent, report.status) == (45, "sent")
    assert _recipients() == Counter(w.emails)


def test_a_cancel_before_a_slice_adds_nothing(db_world_factory: Any) -> None:
    w = db_world_factory(30)
    with w.session() as s:
        issue = s.get(Issue, w.issue_id)
        end = slice_end(s, issue, 0, 10)
        assert enqueue_issue(s, w.settings, w.config, issue, upto=end) == 10
        s.commit()
        assert cancel_issue(s, w.issue_id) == 10
        s.commit()
        assert end is not None and fill_slice(s, w.settings, w.config, issue, end, 10) is None
        s.commit()
        statuses = Counter(s.scalars(select(Delivery.status)))
    assert statuses == {DeliveryStatus.CANCELLED: 10}


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_cancel_waits_for_the_slice_being_written(db_world_factory: Any) -> None:
    """The slice takes the issue's row first: a cancel meanwhile waits for its commit
    and then cancels the slice's rows too; none is left pending."""
    w = db_world_factory(30)
    with w.session() as s:
        issue = s.get(Issue, w.issue_id)
        end = slice_end(s, issue, 0, 10)
        enqueue_issue(s, w.settings, w.config, issue, upto=end)
        s.commit()
        assert end is not None and fill_slice(s, w.settings, w.config, issue, end, 100)
        cancelled: list[int] = []

        def cancel() -> None:
            with w.session() as other:
                cancelled.append(cancel_issue(other, w.issue_id))
                other.commit()

        thread = threading.Thread(target=cancel)
        thread.start()
        time.sleep(0.3)
        assert cancelled == []  # waiting for the slice's transaction
        s.commit()
        thread.join(10)
        statuses = Counter(s.scalars(select(Delivery.status)))
    assert cancelled == [30]
    assert statuses == {DeliveryStatus.CANCELLED: 30}


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_workers_send_the_first_slice_while_the_rest_is_written(
    db_world_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first slice of 40 subscriptions (20 a worker), then slices of 80, 160 … each
    written slowly (the second once the first is sent): the workers send what is in
    and wait for the next slice; every recipient gets one message."""
    w = db_world_factory(290)
    settings = w.settings.model_copy(update={"send_batch_size": 5})
    slices: list[int] = []
    waits: list[int] = []
    real_fill, real_wait = fill_module.fill_slice, fill_module.OutboxFill.wait_beyond

    def slow_fill(*args: Any) -> Any:
        if not slices:  # the next slice only once the first one is sent
            deadline = time.monotonic() + 10
            while len(memory.outbox) < FIRST and time.monotonic() < deadline:
                time.sleep(0.01)
        time.sleep(0.1)
        result = real_fill(*args)
        if result is not None:
            slices.append(result[0])
        return result

    def counted_wait(self: Any, seen: int, stop: threading.Event) -> bool:
        waits.append(seen)
        return real_wait(self, seen, stop)

    monkeypatch.setattr(fill_module, "fill_slice", slow_fill)
    monkeypatch.setattr(fill_module.OutboxFill, "wait_beyond", counted_wait)
    memory.clear()
    report = send_issue(settings, w.config, w.issue_id, workers=2)
    assert (report.sent, report.status) == (290, "sent")
    assert _recipients() == Counter(w.emails)
    # After the first 40, each slice twice the one before: 80, 160, and the last 10.
    assert slices == [2 * FIRST, 4 * FIRST, 290 - 7 * FIRST]
    assert waits  # a worker ran out of rows and waited for the next slice


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_an_issue_whose_fill_failed_is_not_sent_until_a_later_send_fills_it(
    db_world_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = db_world_factory(50)
    settings = w.settings.model_copy(update={"send_batch_size": 5})

    real_fill = fill_module.fill_slice

    def broken(*args: Any) -> Any:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(fill_module, "fill_slice", broken)
    memory.clear()
    with pytest.raises(OutreachError, match="filling the outbox failed"):
        send_issue(settings, w.config, w.issue_id, workers=2)
    with w.session() as s:
        issue = s.get(Issue, w.issue_id)
        assert issue is not None
        assert (issue.status, issue.outbox_complete) == (IssueStatus.SENDING, False)
        assert s.scalar(select(func.count()).select_from(Delivery)) == FIRST  # the first slice
    assert sum(_recipients().values()) == FIRST
    monkeypatch.setattr(fill_module, "fill_slice", real_fill)
    report = send_issue(settings, w.config, w.issue_id, workers=2)
    assert (report.sent, report.status) == (50 - FIRST, "sent")
    assert _recipients() == Counter(w.emails)


def test_sqlite_writes_the_whole_outbox_before_sending(
    world_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One writer: no slices while sending (a slice would hold up every claim)."""
    w = world_factory(60)
    settings = w.settings.model_copy(update={"send_batch_size": 5})
    started: list[Any] = []
    monkeypatch.setattr(fill_module.OutboxFill, "start", lambda self: started.append(self))
    memory.clear()
    report = send_issue(settings, w.config, w.issue_id, workers=2)
    assert (report.sent, report.status) == (60, "sent")
    assert started == []
    with w.session() as s:
        assert s.scalar(select(Issue.outbox_complete).where(Issue.id == w.issue_id))


def test_start_outbox_counts_every_recipient_and_writes_the_first_slice(
    db_world_factory: Any,
) -> None:
    """What the CLI, the console and the daemon call: the number it returns is the
    whole audience; on PostgreSQL only the first slice is written."""
    w = db_world_factory(50)
    settings = w.settings.model_copy(update={"send_batch_size": 5})
    with w.session() as s:
        s.execute(update(Subscription).where(Subscription.id == 3).values(topics=["other"]))
        issue = s.get(Issue, w.issue_id)
        assert start_outbox(s, settings, w.config, issue, workers=2) == 49
        s.commit()
        written = s.scalar(select(func.count()).select_from(Delivery))
        postgres = s.get_bind().dialect.name == "postgresql"
        assert issue.outbox_complete is not postgres
    assert written == (FIRST - 1 if postgres else 49)  # one of them not in the audience
    memory.clear()
    report = send_issue(settings, w.config, w.issue_id, workers=2)
    assert (report.sent, report.status) == (49, "sent")
    assert _recipients() == Counter(e for i, e in enumerate(w.emails) if i != 2)


def test_a_send_that_starts_the_outbox_counts_only_what_it_wrote(db_world_factory: Any) -> None:
    """``send_issue`` on an approved issue does not count the rest of the audience
    (a query on the way to the first message): its progress starts from the rows
    written and grows with each slice, up to every recipient, each counted once."""
    w = db_world_factory(50)
    settings = w.settings.model_copy(update={"send_batch_size": 5})
    with w.session() as s:
        issue = s.get(Issue, w.issue_id)
        postgres = s.get_bind().dialect.name == "postgresql"
        assert start_outbox(s, settings, w.config, issue, workers=2, count=False) == (
            FIRST if postgres else 50
        )
        s.rollback()
    seen: list[tuple[int, int]] = []
    memory.clear()
    report = send_issue(
        settings, w.config, w.issue_id, workers=2, progress=lambda d, t: seen.append((d, t))
    )
    assert (report.sent, report.status) == (50, "sent")
    assert seen[-1] == (50, 50)
    assert all(done <= total <= 50 for done, total in seen)  # each slice counted once
