"""Locks that keep runs single across threads, processes and hosts.

On PostgreSQL a lock is a session-level advisory lock (``pg_try_advisory_lock``)
held on a connection of its own: it is released when the holder unlocks, closes
the connection, or dies (the server notices the closed socket at once, or TCP
keepalive notices a lost host within about 30 seconds). On SQLite, which lives
on one machine, it is an ``fcntl.flock`` on a file under ``var/``, released by
the kernel when the process dies.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Protocol

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from outreach.db import error_line, get_engine, is_sqlite
from outreach.errors import DaemonRunningError
from outreach.settings import Settings

log = logging.getLogger(__name__)

#: The lock the scheduler leader holds.
LEADER = "scheduler-leader"

#: libpq keepalive settings for lock connections: a host that vanished without
#: closing its socket loses its locks after about idle + interval * count seconds.
KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
}


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_lock``, derived from ``name``."""
    digest = hashlib.sha256(f"outreach:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _split(key: int) -> dict[str, int]:
    """The (classid, objid) pair ``pg_locks`` shows for a bigint advisory key."""
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    return {"hi": unsigned >> 32, "lo": unsigned & 0xFFFFFFFF}


class FileLock:
    """A non-blocking exclusive ``flock`` on a file; the file records the holder's pid."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[str] | None = None

    @property
    def held(self) -> bool:
        return self._fh is not None

    def acquire(self) -> bool:
        if self._fh is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+")  # noqa: SIM115 (kept open while the lock is held)
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            return False
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        self._fh = fh
        return True

    def release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None

    def holder(self) -> str:
        """The pid written by the holder ('?' if unreadable)."""
        try:
            return self.path.read_text().strip() or "?"
        except OSError:
            return "?"

    def is_locked(self) -> bool:
        """Whether another open file holds the lock right now (probe and release)."""
        if self._fh is not None:
            return True
        if not self.path.exists():
            return False
        with open(self.path) as fh:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                return True
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        return False


def lock_file(settings: Settings, name: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
    return settings.var_dir / "locks" / f"{safe}.lock"


@contextmanager
def named_lock(settings: Settings, name: str) -> Iterator[bool]:
    """Try to take the lock ``name`` without waiting; yields whether it was taken."""
    engine = get_engine(settings)
    if is_sqlite(engine):
        flock = FileLock(lock_file(settings, name))
        got = flock.acquire()
        try:
            yield got
        finally:
            flock.release()
        return
    key = advisory_key(name)
    with engine.connect() as conn:
        got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
        conn.commit()
        try:
            yield got
        finally:
            if got:
                try:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    conn.commit()
                except DBAPIError:  # the connection died: the server dropped the lock
                    log.warning("lost the connection holding lock %s", name)
                    conn.invalidate()


class Leadership(Protocol):
    """The right to run the scheduler; every daemon polls it.

    ``try_acquire`` raises :class:`sqlalchemy.exc.SQLAlchemyError` when the
    database cannot be reached (the daemon logs it and polls again);
    ``still_held`` answers False then (the leader steps down).
    """

    def try_acquire(self) -> bool: ...

    def still_held(self) -> bool: ...

    def release(self) -> None: ...


class PgLeadership:
    """An advisory lock on a dedicated connection with TCP keepalives."""

    def __init__(self, url: str, *, name: str = LEADER) -> None:
        self.key = advisory_key(name)
        self._engine: Engine = create_engine(
            url,
            poolclass=NullPool,
            connect_args={**KEEPALIVES, "application_name": f"outreach-daemon:{os.getpid()}"},
        )
        self._conn: Connection | None = None

    def try_acquire(self) -> bool:
        try:
            if self._conn is None:
                self._conn = self._engine.connect()
            got = bool(
                self._conn.execute(
                    text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}
                ).scalar()
            )
            self._conn.commit()
            return got
        except DBAPIError:
            self._drop()
            raise

    def still_held(self) -> bool:
        if self._conn is None:
            return False
        try:
            held = self._conn.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                    "AND pid = pg_backend_pid() AND granted "
                    "AND classid::bigint = :hi AND objid::bigint = :lo AND objsubid = 1"
                ),
                _split(self.key),
            ).scalar()
            self._conn.commit()
            return bool(held)
        except DBAPIError as exc:
            log.warning("lost the leader lock's connection: %s", error_line(exc))
            self._drop()
            return False

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.invalidate()
                self._conn.close()
            except DBAPIError:
                pass
            self._conn = None

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock_all()"))
                self._conn.commit()
                self._conn.close()
            except DBAPIError:
                pass
            self._conn = None
        self._engine.dispose()


class FileLeadership:
    """One daemon per SQLite database: an ``flock`` on ``var/daemon.lock``."""

    def __init__(self, path: Path) -> None:
        self.lock = FileLock(path)

    def try_acquire(self) -> bool:
        return self.lock.acquire()

    def still_held(self) -> bool:
        return self.lock.held

    def release(self) -> None:
        self.lock.release()


def daemon_lock_path(settings: Settings) -> Path:
    return settings.var_dir / "daemon.lock"


def daemon_leadership(settings: Settings) -> Leadership:
    """The daemon's leadership: the SQLite daemon lock (taken now) or the PostgreSQL poll."""
    if is_sqlite(settings.database_url):
        lock = FileLeadership(daemon_lock_path(settings))
        if not lock.try_acquire():
            holder = FileLock(daemon_lock_path(settings)).holder()
            raise DaemonRunningError(
                f"another outreach daemon (pid {holder}) is running on this SQLite "
                "database; only one may run (use PostgreSQL for several)"
            )
        return lock
    return PgLeadership(settings.database_url)


def pg_leader_pid(engine: Engine) -> str | None:
    """The application name of the connection holding the leader lock, if any."""
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a "
                "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
                "AND l.classid::bigint = :hi AND l.objid::bigint = :lo AND l.objsubid = 1 "
                # advisory locks are per database; another deployment's leader on
                # the same server holds the same key in its own database
                "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ),
            _split(advisory_key(LEADER)),
        ).first()
    return None if row is None else str(row[0])
