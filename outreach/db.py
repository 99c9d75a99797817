"""Engine and session factory; migrations run through alembic only."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from outreach.errors import ConfigError, DatabaseUnavailable
from outreach.l10n import gettext_for, staff_language
from outreach.settings import SOURCE_ROOT, Settings

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def is_sqlite(engine_or_url: Engine | str) -> bool:
    url = engine_or_url.url if isinstance(engine_or_url, Engine) else make_url(engine_or_url)
    return url.get_backend_name() == "sqlite"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def create_db_engine(url: str) -> Engine:
    """A new engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout."""
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise ConfigError(f"OUTREACH_DATABASE_URL is not a database URL: {url!r}") from exc
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() != "postgresql":
        raise ConfigError(
            f"unsupported database {parsed.get_backend_name()!r}: use sqlite:/// or "
            "postgresql+psycopg://"
        )
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def get_engine(settings: Settings) -> Engine:
    """The process-wide engine for the configured database."""
    with _lock:
        engine = _engines.get(settings.database_url)
        if engine is None:
            engine = _engines[settings.database_url] = create_db_engine(settings.database_url)
        return engine


def dispose_engines() -> None:
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(SOURCE_ROOT / "alembic"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


#: The PostgreSQL advisory lock a migration holds, so that two ``outreach db upgrade``
#: started at once (two containers of compose.yaml, each migrating before its daemon)
#: run one after the other: the second finds the schema done instead of failing on
#: tables the first is creating. The same key derivation as the scheduler's locks.
MIGRATION_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"outreach:db-upgrade").digest()[:8], "big", signed=True
)


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (alembic upgrade); on PostgreSQL one
    migration at a time (:data:`MIGRATION_LOCK_KEY`)."""
    from alembic import command

    engine = create_db_engine(url)
    try:
        with engine.begin() as conn:
            if not is_sqlite(engine):  # held until the migration commits
                lock = text("SELECT pg_advisory_xact_lock(:key)")
                conn.execute(lock, {"key": MIGRATION_LOCK_KEY})
            cfg = alembic_config(url)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    finally:
        engine.dispose()


def downgrade(url: str, revision: str = "base") -> None:
    from alembic import command

    engine = create_db_engine(url)
    try:
        with engine.begin() as conn:
            cfg = alembic_config(url)
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, revision)
    finally:
        engine.dispose()


def error_line(exc: BaseException) -> str:
    """A database error as one line: the driver's message, without SQL or traceback."""
    orig = getattr(exc, "orig", None)
    text_ = str(orig if orig is not None else exc)
    parts = [part.strip() for part in text_.splitlines() if part.strip()]
    return "; ".join(parts)[:500] or exc.__class__.__name__


def schema_missing(exc: BaseException) -> bool:
    """Whether ``exc`` says a table is missing: the database was never migrated."""
    orig = getattr(exc, "orig", None)
    if getattr(orig, "sqlstate", None) == "42P01":  # PostgreSQL: undefined_table
        return True
    return "no such table" in str(orig if orig is not None else exc)


def database_name(url: str) -> str:
    """The database as a person finds it: a SQLite file's absolute path (a relative one
    is in the working directory), else the URL without its password."""
    try:
        parsed = make_url(url)
    except Exception:
        return "OUTREACH_DATABASE_URL"
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        return str(Path(str(parsed.database)).absolute())
    return parsed.render_as_string(hide_password=True)


def unavailable(exc: BaseException, settings: Settings | None = None) -> DatabaseUnavailable:
    """The one-line error for a database that cannot be reached or has no tables yet.

    With ``settings`` (a command's error), in the staff's language and naming the
    database: run from another folder, the default ``sqlite:///var/outreach.db`` is
    another, empty file there."""
    if settings is None:  # a log line
        if schema_missing(exc):
            return DatabaseUnavailable(
                f"the database has no outreach tables yet ({error_line(exc)}): "
                "run `outreach db upgrade`"
            )
        return DatabaseUnavailable(
            f"cannot reach the database: {error_line(exc)} "
            "(check OUTREACH_DATABASE_URL and that the database server is running)"
        )
    lang = staff_language(settings.cli_language)
    values = {"database": database_name(settings.database_url), "error": error_line(exc)}
    if schema_missing(exc):
        message = (
            "the database {database} has no outreach tables yet ({error}): "
            "run `outreach db upgrade`"
        )
    else:
        message = (
            "cannot reach the database {database}: {error} "
            "(check OUTREACH_DATABASE_URL and that the database server is running)"
        )
    return DatabaseUnavailable(gettext_for(lang, "cli", message).format(**values))
