"""Fixtures every test area shares: settings in a temporary folder, databases.

Database tests that should hold on both databases the project supports take
``db_url`` (or ``db_settings``, ``db_engine``, ``db_session`` built on it): each
runs once on SQLite and once on PostgreSQL, the PostgreSQL run skipped with
its reason when ``OUTREACH_TEST_DATABASE_URL`` is unset. A test of something
only PostgreSQL does narrows it with
``@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)``.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from outreach.db import create_db_engine
from outreach.models import Base
from outreach.settings import Settings, get_settings
from outreach.staff import secrets as staff_secrets
from tests import spamd as spamd_process

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
SHARED_FIXTURES = ROOT.parent / "shared" / "fixtures"
PG_URL = os.environ.get("OUTREACH_TEST_DATABASE_URL")


LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "ip6-localhost"})


def _loopback_only_getaddrinfo(real: Any) -> Any:
    """getaddrinfo that answers loopback names and IP literals, and nothing else.

    Tests must not reach any address but 127.0.0.1 — a DNS query for a feed's
    real host name would already go to the network's resolver.
    """

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name is None or name in LOOPBACK_NAMES or _is_ip_literal(name):
            return real(host, *args, **kwargs)
        raise socket.gaierror(socket.EAI_NONAME, f"tests resolve no outside names ({name})")

    return guarded


def _is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]").split("%")[0])
    except ValueError:
        return False
    return True


@pytest.fixture(autouse=True)
def _no_outside_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", _loopback_only_getaddrinfo(socket.getaddrinfo))


#: Why this test process has no spamd, when it has none.
_SPAMD_MISSING: list[str] = []


@pytest.fixture(scope="session")
def _spamd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``host:port`` of this test process's spamd, or "" where there is none (the
    checks then start ``spamassassin``, and the spamd test skips saying why)."""
    binary = spamd_process.spamd_binary()
    if binary is None:
        _SPAMD_MISSING.append("spamd is not installed (Debian: spamd)")
        yield ""
        return
    try:
        proc, address = spamd_process.start(binary, tmp_path_factory.mktemp("spamd"))
    except (OSError, RuntimeError) as exc:
        _SPAMD_MISSING.append(f"spamd did not start: {exc}")
        yield ""
        return
    try:
        yield address
    finally:
        spamd_process.stop(proc)


@pytest.fixture
def spamd(_spamd: str) -> str:
    """The running spamd's ``host:port`` (skips, saying why, where there is none)."""
    if not _spamd:
        pytest.skip(_SPAMD_MISSING[0] if _SPAMD_MISSING else "no spamd")
    return _spamd


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, _spamd: str) -> Iterator[None]:
    """No test reads the developer's outreach.toml or OUTREACH_* variables; the spam
    check uses this test process's spamd where there is one (``tests/spamd.py``)."""
    for name in list(os.environ):
        if name.startswith("OUTREACH_") and name != "OUTREACH_TEST_DATABASE_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("OUTREACH_CONFIG", os.devnull)  # no settings file
    if _spamd:
        monkeypatch.setenv("OUTREACH_SPAMD", _spamd)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


#: argon2id with the least work it allows: a test signs in or makes an account in
#: microseconds instead of the production hasher's ~0.5 s of two cores. The code
#: path is the same (same hasher calls, same ``$argon2id$`` hashes); the production
#: parameters are pinned by the test marked ``real_password_hashing``.
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
_CHEAP_DUMMY = CHEAP_HASHER.hash("dummy-password")


def _cheap_dummy_hash() -> str:
    return _CHEAP_DUMMY


@pytest.fixture(autouse=True)
def _cheap_password_hashing(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Staff passwords hashed with :data:`CHEAP_HASHER`, unknown addresses checked against
    a dummy hash of the same parameters (as in production: the same work either way)."""
    if request.node.get_closest_marker("real_password_hashing"):
        return
    monkeypatch.setattr(staff_secrets, "HASHER", CHEAP_HASHER)
    monkeypatch.setattr(staff_secrets, "dummy_hash", _cheap_dummy_hash)


@pytest.fixture
def shared_fixtures() -> Path:
    """The real-world fixtures beside the repository (absent in a user's clone)."""
    if not SHARED_FIXTURES.is_dir():
        pytest.skip(f"real-world fixtures not found at {SHARED_FIXTURES}")
    return SHARED_FIXTURES


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path}/outreach.db",
        mail_url="memory:",
        base_url="https://outreach.example.fi",
        secret_key="test-secret-key-0123456789abcdef0123456789",
        campaigns_dir=ROOT / "campaigns",
        templates_dir=ROOT / "templates",
        var_dir=tmp_path / "var",
    )


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file with every table made by ``create_all``, once per test process."""
    path = tmp_path_factory.mktemp("sqlite-template") / "tables.db"
    eng = create_db_engine(f"sqlite:///{path}")
    Base.metadata.create_all(eng)
    eng.dispose()  # the last connection checkpoints the WAL: the file stands alone
    return path


def create_tables(url: str, template: Path) -> None:
    """Every table on ``url``: a new SQLite file is a copy of ``template`` (what
    ``create_all`` would write, without its ~30 statements per test); any other
    database gets ``create_all``."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        target = Path(parsed.database)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(template, target)
            return
    eng = create_db_engine(url)
    Base.metadata.create_all(eng)
    eng.dispose()


def engine_with_tables(url: str, template: Path) -> Iterator[Engine]:
    """An engine on ``url`` with every table created; disposed afterwards."""
    create_tables(url, template)
    eng = create_db_engine(url)
    yield eng
    eng.dispose()


def session_on(eng: Engine) -> Iterator[Session]:
    with Session(eng, expire_on_commit=False) as s:
        yield s


@pytest.fixture
def engine(settings: Settings, sqlite_template: Path) -> Iterator[Engine]:
    yield from engine_with_tables(settings.database_url, sqlite_template)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    yield from session_on(engine)


def reset_postgres(url: str) -> None:
    """Drop everything in the public schema of the test database."""
    eng = create_engine(url)
    with eng.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    eng.dispose()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A database of this test process's own on the PostgreSQL server, dropped at the end.

    Separate databases let several test runs share one server at the same time.
    """
    if not PG_URL:
        pytest.skip("OUTREACH_TEST_DATABASE_URL is not set; PostgreSQL tests skipped")
    base = make_url(PG_URL)
    name = f"outreach_test_{os.getpid()}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield base.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def pg_url(pg_database: str) -> str:
    """An empty PostgreSQL database; skipped without OUTREACH_TEST_DATABASE_URL."""
    reset_postgres(pg_database)
    return pg_database


#: The databases a ``db_url`` test runs on.
DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=DATABASES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database, SQLite or PostgreSQL (see the module docstring)."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("pg_url"))
    if request.param != "sqlite":
        raise ValueError(f"db_url: no database {request.param!r} (sqlite, postgresql)")
    return f"sqlite:///{tmp_path}/outreach.db"


@pytest.fixture
def db_settings(settings: Settings, db_url: str) -> Settings:
    """``settings`` on the ``db_url`` database."""
    return settings.model_copy(update={"database_url": db_url})


@pytest.fixture
def db_engine(db_url: str, sqlite_template: Path) -> Iterator[Engine]:
    """An engine on the ``db_url`` database, its tables created."""
    yield from engine_with_tables(db_url, sqlite_template)


@pytest.fixture
def db_session(db_engine: Engine) -> Iterator[Session]:
    """A session on the ``db_engine`` database."""
    yield from session_on(db_engine)
