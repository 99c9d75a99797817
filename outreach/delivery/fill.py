"""Filling the rest of an outbox while its first slice is sent (PostgreSQL).

Writing an issue's outbox takes about 40 µs per recipient on PostgreSQL (the
row, its indexes and three foreign-key checks): 0.17 s for 4,000 recipients,
4 s for 100,000, all before the first message could go out. So a send on
PostgreSQL writes only the first slice of the outbox before it starts (the
recipients among the city's first ``FIRST_SLICE_PER_WORKER × workers``
subscriptions, :func:`outreach.delivery.outbox.start_outbox`) and an
:class:`OutboxFill` thread adds the rest, slice by slice (the first twice the
first slice, each next one twice the one before, up to :data:`MAX_SLICE`
subscriptions, each its own transaction), while the workers send. A worker
that finds nothing due while the fill is still running waits for its next
slice.

The issue's ``outbox_complete`` is False until the last slice is in, and an
issue whose outbox is not complete never becomes ``sent``. When a send stops
before that (a crash, Ctrl-C, the database gone), the next send of the issue
fills the rest. SQLite has one writer, and a slice written there would hold up
every claim and outcome: there the whole outbox is written before the send
starts, as one statement.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from outreach.campaigns import Config
from outreach.delivery.outbox import fill_slice, filled_through
from outreach.models import Issue
from outreach.settings import Settings

log = logging.getLogger(__name__)

#: The largest slice, in subscriptions of the city: about half a second's writing.
MAX_SLICE = 20_000


def _nothing(added: int) -> None:
    pass


class OutboxFill:
    """Adds the slices of an outbox after the rows it has (its first slice, or what a
    send that stopped early wrote), the first of ``size`` subscriptions."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        config: Config,
        issue_id: int,
        *,
        size: int,
        stop: threading.Event,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.config = config
        self.issue_id = issue_id
        self.size = size
        #: Called with the number of rows as each slice commits.
        self.added: Callable[[int], None] = _nothing
        self.stop = stop
        self.cond = threading.Condition()
        self.slices = 0  # slices committed so far
        self.done = False
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        """Fill in a thread of its own."""
        self.thread = threading.Thread(target=self.run, name=f"fill-{self.issue_id}", daemon=True)
        self.thread.start()

    def join(self) -> None:
        if self.thread is not None:
            self.thread.join()

    def run(self) -> None:
        """Add every slice (in the calling thread when not started)."""
        try:
            size = self.size
            with Session(self.engine, expire_on_commit=False) as session:
                issue = session.get(Issue, self.issue_id)
                after = filled_through(session, issue) if issue is not None else 0
                while issue is not None and not self.stop.is_set():
                    result = fill_slice(session, self.settings, self.config, issue, after, size)
                    session.commit()
                    if result is None:
                        break  # cancelled meanwhile, or another process completed it
                    added, end = result
                    self.added(added)
                    with self.cond:
                        self.slices += 1
                        self.cond.notify_all()
                    if end is None:
                        break
                    after, size = end, min(size * 2, MAX_SLICE)
        except BaseException as exc:
            self.error = exc
            log.exception("issue %s: filling the outbox failed", self.issue_id)
        finally:
            with self.cond:
                self.done = True
                self.cond.notify_all()

    def wait_beyond(self, seen: int, stop: threading.Event) -> bool:
        """Wait until more than ``seen`` slices are in or the fill has ended; False
        if ``stop`` was set first."""
        with self.cond:
            while self.slices <= seen and not self.done:
                if stop.is_set():
                    return False
                self.cond.wait(0.2)
        return True
