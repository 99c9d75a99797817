"""A database outage: the daemon survives it and recovers, and every failure is one line.

The outage is real: the test's own PostgreSQL database stops accepting
connections and its open ones are cut (``pg_outage``); on SQLite the database
file cannot be opened.
"""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from outreach.db import database_name
from tests.scheduler.helpers import leader, make_settings, pg_settings, wait_for, write_campaign
from tests.scheduler.outage import daemon_log, outreach, pg_outage, serve
from tests.scheduler.test_daemon import start, stop
from tests.web.test_server import free_port

POLL = 0.3


def pg_jobs(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {row[0] for row in conn.execute(text("SELECT id FROM apscheduler_jobs"))}
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_sighup_during_an_outage_keeps_the_daemon_and_the_reload_happens_after_it(
    pg_url: str, tmp_path: Path
) -> None:
    settings = pg_settings(pg_url, tmp_path)
    proc = start(tmp_path, pg_url, "--poll", str(POLL))
    try:
        assert wait_for(lambda: "now the scheduler leader" in daemon_log(tmp_path, proc.pid), 20)
        with pg_outage(pg_url):
            write_campaign(settings.campaigns_dir, "vantaa-extra", schedule={"hour": 8})
            proc.send_signal(signal.SIGHUP)
            assert wait_for(
                lambda: (
                    proc.poll() is not None or "reload postponed" in daemon_log(tmp_path, proc.pid)
                ),
                15,
            )
            assert proc.poll() is None, proc.communicate()[1]
            assert wait_for(lambda: "stands by" in daemon_log(tmp_path, proc.pid), 10)
        # The database is back: the daemon leads again and the reload happens.
        assert wait_for(lambda: "campaign:vantaa-extra" in pg_jobs(pg_url), 20)
        assert f"outreach-daemon:{proc.pid}" in leader(settings)
    finally:
        assert stop(proc) == 0
    log = daemon_log(tmp_path, proc.pid)
    assert "Traceback" not in log
    assert log.count("reload postponed") <= 2  # one line per 30 s, whatever the poll


@pytest.mark.postgres
def test_a_database_unreachable_at_start_is_one_line(pg_url: str, tmp_path: Path) -> None:
    settings = pg_settings(pg_url, tmp_path)
    with pg_outage(pg_url):
        for command in (["daemon"], ["status"], ["run-due"]):
            done = outreach(settings, tmp_path, *command)
            assert done.returncode == 1, (command, done.stderr)
            assert done.stdout == ""
            assert len(done.stderr.strip().splitlines()) == 1, (command, done.stderr)
            named = database_name(settings.database_url)
            assert done.stderr.startswith(f"Error: cannot reach the database {named}: "), (
                done.stderr
            )
            assert "not currently accepting connections" in done.stderr


def test_a_sqlite_file_that_cannot_be_opened_is_one_line(tmp_path: Path) -> None:
    blocked = tmp_path / "db-is-a-folder.db"
    blocked.mkdir()
    settings = make_settings(tmp_path, f"sqlite:///{blocked}")
    done = outreach(settings, tmp_path, "daemon")
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith(f"Error: cannot reach the database {blocked}: unable to open")


@pytest.mark.postgres
def test_healthz_during_an_outage_logs_one_line_not_a_traceback_per_probe(
    pg_url: str, tmp_path: Path
) -> None:
    settings = pg_settings(pg_url, tmp_path)
    port = free_port()
    proc = serve(settings, tmp_path, port)
    url = f"http://127.0.0.1:{port}/healthz"

    def probe() -> int:
        try:
            return httpx.get(url, timeout=5).status_code
        except httpx.TransportError:
            return 0

    try:
        assert wait_for(lambda: probe() == 200, 20)
        with pg_outage(pg_url):
            assert [probe() for _ in range(15)] == [503] * 15
        assert wait_for(lambda: probe() == 200, 10)
    finally:
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=15)
    failures = [line for line in output.splitlines() if "health check failed" in line]
    assert len(failures) == 1, output
    assert "database unreachable: " in failures[0]
    assert "Traceback" not in output
    assert output.count("health check passes again") == 1
