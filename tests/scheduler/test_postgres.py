"""Two real daemons on PostgreSQL: one leader, the standby takes over when it dies."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from outreach.db import create_db_engine, session_scope
from outreach.models import Base
from outreach.scheduler import run_due, status
from outreach.scheduler.locks import named_lock
from outreach.scheduler.pipeline import load_config
from outreach.scheduler.runs import sync_campaigns
from outreach.settings import Settings
from tests.scheduler.helpers import (
    FakePipeline,
    make_settings,
    only_campaign,
    read_log,
    wait_for,
    write_campaign,
)
from tests.scheduler.test_daemon import make_daemon, running, start, stop

pytestmark = pytest.mark.postgres

POLL = 0.3  # the daemons' leader poll interval, seconds
TAKEOVER_BOUND = POLL + 3.0  # poll + process start of the scheduler, generously


def leader(settings: Settings) -> str:
    return str(status(settings, now=datetime.now(UTC)).scheduler)


def test_one_leader_and_the_standby_takes_over_when_it_is_killed(
    pg_url: str, tmp_path: Path
) -> None:
    settings = pg_settings(pg_url, tmp_path)
    write_campaign(settings.campaigns_dir, "vantaa-minutely", schedule={"minute": "*"})
    only_campaign(settings.campaigns_dir, "vantaa-minutely")
    engine = create_db_engine(pg_url)
    with session_scope(engine) as session:  # known for an hour: the latest minute is due
        sync_campaigns(session, load_config(settings), datetime.now(UTC) - timedelta(hours=1))
    engine.dispose()

    first = start(tmp_path, pg_url, "--poll", str(POLL))
    second = None
    try:
        assert wait_for(lambda: f"outreach-daemon:{first.pid}" in leader(settings), 15)
        second = start(tmp_path, pg_url, "--poll", str(POLL))
        logs = tmp_path.glob
        assert wait_for(lambda: (tmp_path / f"daemon-{second.pid}.log").exists(), 15)
        time.sleep(5 * POLL)  # the second daemon has polled several times by now
        assert f"outreach-daemon:{first.pid}" in leader(settings)
        leaders = [p for p in logs("daemon-*.log") if "scheduler leader" in p.read_text()]
        assert leaders == [tmp_path / f"daemon-{first.pid}.log"]
        assert wait_for(
            lambda: any(e["call"] == "run_campaign" for e in read_log(tmp_path / "calls.jsonl"))
        )

        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=5)
        killed_at = time.monotonic()
        assert wait_for(
            lambda: f"outreach-daemon:{second.pid}" in leader(settings), TAKEOVER_BOUND, 0.02
        )
        assert time.monotonic() - killed_at <= TAKEOVER_BOUND
        time.sleep(5 * POLL)  # the new leader's catch-up has run
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
        if second is not None:
            assert stop(second) == 0

    runs = [
        (e["slug"], e["fire_time"])
        for e in read_log(tmp_path / "calls.jsonl")
        if e["call"] == "run_campaign"
    ]
    assert runs, "the leader ran the due campaign"
    assert all(slug == "vantaa-minutely" for slug, _ in runs)
    assert max(Counter(runs).values()) == 1  # every fire time run once, across both


def pg_settings(pg_url: str, tmp_path: Path) -> Settings:
    settings = make_settings(tmp_path, pg_url)
    engine = create_db_engine(pg_url)
    Base.metadata.create_all(engine)
    engine.dispose()
    return settings


def test_overlapping_run_due_on_postgres_skips(pg_url: str, tmp_path: Path) -> None:
    settings = pg_settings(pg_url, tmp_path)
    fake = FakePipeline(tmp_path / "calls.jsonl")
    with named_lock(settings, "run-due") as got:
        assert got
        outcomes = run_due(settings, pipeline=fake)
    assert [(o.name, o.status) for o in outcomes] == [("run-due", "skipped")]
    assert [o.name for o in run_due(settings, pipeline=fake)] == ["fetch", "purge"]


def test_a_leader_that_loses_its_lock_connection_steps_down_and_recovers(
    pg_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = pg_settings(pg_url, tmp_path)
    d = make_daemon(settings, tmp_path / "calls.jsonl")
    with running(d):
        engine = create_engine(pg_url)
        with engine.begin() as conn:
            killed = conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = :name"
                ),
                {"name": f"outreach-daemon:{os.getpid()}"},
            ).all()
        engine.dispose()
        assert killed == [(True,)]
        assert wait_for(lambda: "lost the scheduler leader lock" in caplog.text)
        assert wait_for(
            lambda: d.is_leader and f"outreach-daemon:{os.getpid()}" in leader(settings)
        )
