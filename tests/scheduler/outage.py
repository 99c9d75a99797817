"""Helpers for the outage tests: a real PostgreSQL outage of the test's own database,
the command line as staff run it, and the daemon's log."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from outreach.settings import Settings
from tests.conftest import ROOT


@contextmanager
def pg_outage(url: str) -> Iterator[None]:
    """The database refuses connections and every open one is cut, until the block ends.

    ``ALTER DATABASE … ALLOW_CONNECTIONS false`` stops new connections (even a
    superuser's); ``pg_terminate_backend`` ends the ones already open, as a
    restarting or unreachable server would. Run from the server's maintenance
    database, so only this test's own database goes down.
    """
    name = make_url(url).database
    admin = create_engine(
        make_url(url).set(database="postgres").render_as_string(hide_password=False),
        isolation_level="AUTOCOMMIT",
    )
    try:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
        yield
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()


def cli_env(settings: Settings, tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTREACH_")}
    env.update(
        OUTREACH_CONFIG=os.devnull,
        OUTREACH_DATABASE_URL=settings.database_url,
        OUTREACH_CAMPAIGNS_DIR=str(settings.campaigns_dir),
        OUTREACH_TEMPLATES_DIR=str(ROOT / "templates"),
        OUTREACH_VAR_DIR=str(settings.var_dir),
        OUTREACH_MAIL_URL="memory:",
        OUTREACH_SECRET_KEY="test-secret-key-0123456789abcdef0123456789",
        OUTREACH_CLI_LANGUAGE="en",
    )
    return env


def outreach(settings: Settings, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``outreach ARGS`` as a person runs it."""
    return subprocess.run(
        [sys.executable, "-m", "outreach", *args],
        cwd=tmp,
        env=cli_env(settings, tmp),
        capture_output=True,
        text=True,
        timeout=60,
    )


def daemon_log(tmp: Path, pid: int) -> str:
    path = tmp / f"daemon-{pid}.log"
    return path.read_text() if path.exists() else ""


def serve(settings: Settings, tmp: Path, port: int) -> subprocess.Popen[str]:
    """``outreach serve`` as staff start it, with its own logging set-up."""
    return subprocess.Popen(
        [sys.executable, "-m", "outreach", "serve", "--port", str(port)],
        cwd=tmp,
        env=cli_env(settings, tmp),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
