"""One thread per send that claims and re-checks rows ahead of the workers.

A worker sending one chunk of messages asks the :class:`Feeder` for its next
chunk at once; the feeder thread, with a database connection of its own,
claims rows when the worker has none left, re-checks the chunk (still
``confirmed``, not suppressed, still the worker's, issue still ``sending``)
and builds its messages, while the worker's messages go out. So the worker
does not wait for the claim and the re-check: they overlap the sending of
the chunk before. The jobs of all workers run one at a time, in the order
asked (one round trip or two each, against a chunk of messages per worker).
"""

from __future__ import annotations

import _thread
import logging
import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from sqlalchemy import Connection, Engine

from outreach.suppression import register_sqlite_functions

log = logging.getLogger(__name__)

T = TypeVar("T")


class Pending(Generic[T]):
    """The result of one job, once the feeder has run it (a plain lock, held until then)."""

    __slots__ = ("error", "lock", "value")

    def __init__(self) -> None:
        self.lock = _thread.allocate_lock()
        self.lock.acquire()
        self.value: T | None = None
        self.error: BaseException | None = None

    def _done(self, value: T | None, error: BaseException | None) -> None:
        self.value, self.error = value, error
        self.lock.release()

    def result(self) -> T:
        """Wait for the job; its value, or its exception raised here."""
        with self.lock:
            pass
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]


_Job = tuple[Callable[[Connection], object], Pending[object]]


class Feeder:
    """A thread with its own database connection (autocommit) running jobs in order."""

    def __init__(self, engine: Engine, name: str) -> None:
        self.engine = engine
        self.jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def submit(self, job: Callable[[Connection], T]) -> Pending[T]:
        pending: Pending[T] = Pending()
        self.jobs.put((job, pending))  # type: ignore[arg-type]
        return pending

    def close(self) -> None:
        self.jobs.put(None)
        self.thread.join()

    def _run(self) -> None:
        conn: Connection | None = None
        broken: BaseException | None = None
        try:
            conn = self.engine.connect()
            register_sqlite_functions(conn.connection.driver_connection)
            if conn.dialect.name == "postgresql":
                # As for outcomes (outbox.writer): durable when the sending process
                # dies; a crash of the database server itself can undo the last
                # fraction of a second, claims and outcomes alike, in order.
                conn.exec_driver_sql("SET synchronous_commit TO OFF")
            conn.commit()
            # Every job's statements are single statements: no BEGIN and COMMIT.
            conn.execution_options(isolation_level="AUTOCOMMIT")
        except BaseException as exc:  # every job fails with it; the workers stop
            log.exception("the send's feeder has no database connection")
            broken = exc
        try:
            while True:
                item = self.jobs.get()
                if item is None:
                    return
                job, pending = item
                if conn is None:
                    pending._done(None, broken)
                    continue
                try:
                    value = job(conn)
                except BaseException as exc:
                    pending._done(None, exc)
                else:
                    pending._done(value, None)
        finally:
            if conn is not None:
                if conn.dialect.name == "postgresql":
                    try:
                        conn.exec_driver_sql("RESET synchronous_commit")  # before the pool has it
                    except Exception:  # a broken connection: not for the pool
                        conn.invalidate()
                conn.close()
