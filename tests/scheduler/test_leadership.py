"""What staff see of the daemons: periodic jobs kept across reloads and leaders,
who leads (``/healthz``, the log, ``status`` per database), the daemon's job store
beside the files, and a failover's whole send in the last-run line; on PostgreSQL
one leader among real daemons, the standby taking over when it dies, and a leader
that loses its lock connection stepping down."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from outreach.db import create_db_engine, dispose_engines, get_engine, session_scope
from outreach.models import Base, Campaign
from outreach.scheduler import run_due, status
from outreach.scheduler.jobs import make_scheduler
from outreach.scheduler.locks import named_lock
from outreach.scheduler.messages import Msg
from outreach.scheduler.pipeline import load_config
from outreach.scheduler.runs import sync_campaigns
from outreach.settings import Settings
from tests.scheduler.helpers import (
    FakePipeline,
    leader,
    make_settings,
    only_campaign,
    pg_settings,
    read_log,
    wait_for,
    write_campaign,
)
from tests.scheduler.outage import daemon_log
from tests.scheduler.test_daemon import make_daemon, running, start, stop
from tests.web.test_server import free_port

POLL = 0.3
TAKEOVER_BOUND = POLL + 3.0  # poll + process start of the scheduler, generously


def periodic_next(d: object) -> dict[str, datetime]:
    jobs = d.scheduler.get_jobs(jobstore="default")  # type: ignore[attr-defined]
    return {j.id: j.next_run_time for j in jobs if j.id.startswith("periodic:")}


def test_reloads_and_a_new_leader_keep_the_periodic_next_run(
    sched_settings: Settings, tmp_path: Path
) -> None:
    log = tmp_path / "calls.jsonl"
    with running(make_daemon(sched_settings, log)) as d:
        first = periodic_next(d)
        assert set(first) == {"periodic:fetch", "periodic:purge"}
        for _ in range(3):
            d.reload()  # what SIGHUP does
        assert periodic_next(d) == first
    with running(make_daemon(sched_settings, log)) as d:  # the next leader
        assert periodic_next(d) == first


def test_sighups_more_often_than_the_fetch_interval_do_not_starve_the_fetch(
    sched_settings: Settings, tmp_path: Path
) -> None:
    proc = start(tmp_path, sched_settings.database_url, "--fetch-every", "1.5")
    calls = tmp_path / "calls.jsonl"
    try:
        assert wait_for(lambda: "leader" in daemon_log(tmp_path, proc.pid), 15)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # a reload every 0.4 s for 5 s
            proc.send_signal(signal.SIGHUP)
            time.sleep(0.4)
        fetches = [e for e in read_log(calls) if e["call"] == "fetch_all"]
    finally:
        assert stop(proc) == 0
    assert len(fetches) >= 2


@pytest.mark.postgres
def test_status_names_the_leader_of_its_own_database_only(pg_url: str, tmp_path: Path) -> None:
    settings = pg_settings(pg_url, tmp_path)
    other_name = f"{make_url(pg_url).database}_other"
    other_url = make_url(pg_url).set(database=other_name).render_as_string(hide_password=False)
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{other_name}"'))
        conn.execute(text(f'CREATE DATABASE "{other_name}"'))
    proc = None
    try:
        other = pg_settings(other_url, tmp_path / "staging")
        proc = start(tmp_path, pg_url, "--poll", str(POLL))
        assert wait_for(lambda: f"outreach-daemon:{proc.pid}" in leader(settings), 20)
        assert leader(other).startswith("no leader"), leader(other)
    finally:
        if proc is not None:
            assert stop(proc) == 0
        dispose_engines()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{other_name}" WITH (FORCE)'))
        admin.dispose()


def healthz(port: int) -> dict[str, object] | None:
    try:
        reply = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    except httpx.TransportError:
        return None
    data: dict[str, object] = reply.json()
    return data


@pytest.mark.postgres
def test_healthz_says_who_leads_and_the_follower_logs_that_it_stands_by(
    pg_url: str, tmp_path: Path
) -> None:
    settings = pg_settings(pg_url, tmp_path)
    ports = [free_port(), free_port()]
    first = start(tmp_path, pg_url, "--poll", str(POLL), "--web-port", str(ports[0]))
    second = None
    try:
        assert wait_for(lambda: f"outreach-daemon:{first.pid}" in leader(settings), 20)
        second = start(tmp_path, pg_url, "--poll", str(POLL), "--web-port", str(ports[1]))
        assert wait_for(lambda: healthz(ports[1]) is not None, 20)
        assert wait_for(lambda: "stands by" in daemon_log(tmp_path, second.pid), 10)
        time.sleep(5 * POLL)  # several more polls as a follower
        lead, follow = healthz(ports[0]), healthz(ports[1])
        assert lead is not None and follow is not None
        assert (lead["leader"], follow["leader"]) == (True, False)
        for body in (lead, follow):
            tick = datetime.fromisoformat(str(body["last_tick_at"]))
            assert datetime.now(UTC) - tick < timedelta(seconds=5)
        assert daemon_log(tmp_path, second.pid).count("stands by") == 1  # once, not per poll

        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=5)
        assert wait_for(lambda: "is now the scheduler leader" in daemon_log(tmp_path, second.pid))
        assert (healthz(ports[1]) or {}).get("leader") is True
        log = daemon_log(tmp_path, second.pid)
        assert log.count("stands by") == 1
        assert log.count("is now the scheduler leader") == 1
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
        if second is not None:
            assert stop(second) == 0


def test_status_shows_the_daemons_next_run_when_it_differs_from_the_files(
    sched_settings: Settings, tmp_path: Path
) -> None:
    proc = start(tmp_path, sched_settings.database_url)
    try:
        assert wait_for(lambda: "leader" in daemon_log(tmp_path, proc.pid), 15)

        def line(slug: str) -> str:
            lines = status(sched_settings).lines()
            return next(x for x in lines if x.startswith(f"  {slug}:"))

        assert wait_for(lambda: "daemon" not in line("vantaa-news"), 10)
        write_campaign(sched_settings.campaigns_dir, "vantaa-news", schedule={"hour": 23})
        write_campaign(sched_settings.campaigns_dir, "vantaa-new", schedule={"hour": 22})
        changed = line("vantaa-news")
        assert ":00 (the daemon's job store: " in changed, changed
        assert "at 23:00 (the daemon's job store: " in changed
        assert "(the daemon's job store: none)" in line("vantaa-new")
        assert "daemon" not in line("kerava-news")
        proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: "daemon" not in line("vantaa-news"), 10)
        assert "daemon" not in line("vantaa-new")
    finally:
        assert stop(proc) == 0


@pytest.mark.postgres
def test_after_a_failover_the_last_run_line_shows_the_whole_send(
    pg_url: str, tmp_path: Path
) -> None:
    from tests.scheduler.test_stages import counts, subscribe

    settings = make_settings(tmp_path, pg_url)
    write_campaign(
        settings.campaigns_dir, "vantaa-minutely", schedule={"minute": "*"}, approval="auto"
    )
    engine = create_db_engine(pg_url)
    Base.metadata.create_all(engine)
    with session_scope(engine) as session:  # known for an hour: the latest minute is due
        sync_campaigns(session, load_config(settings), datetime.now(UTC) - timedelta(hours=1))
    engine.dispose()
    subscribe(settings, "vantaa", 30)

    args = ("--real", "--rate", "10", "--poll", str(POLL))
    first = start(tmp_path, pg_url, *args)
    second = None
    try:
        assert wait_for(lambda: counts(settings).get("sent", 0) >= 5, 30)
        second = start(tmp_path, pg_url, *args)
        first.send_signal(signal.SIGKILL)  # mid-send
        first.communicate(timeout=5)
        assert counts(settings).get("sent", 0) < 30

        def recorded() -> Msg | None:
            with session_scope(get_engine(settings)) as session:
                row = session.scalars(
                    select(Campaign).where(Campaign.slug == "vantaa-minutely")
                ).one()
                return Msg.load(row.last_run_message)

        assert wait_for(lambda: counts(settings).get("sent") == 30 and recorded() is not None, 30)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
        if second is not None:
            assert stop(second) == 0
    line = next(x for x in status(settings).lines() if x.startswith("  vantaa-minutely:"))
    assert "sent 30 of 30" in line, line


@pytest.mark.postgres
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


def test_overlapping_run_due_skips(db_url: str, tmp_path: Path) -> None:
    """On PostgreSQL an advisory lock, on SQLite a file lock: the second run-due skips."""
    settings = pg_settings(db_url, tmp_path)
    fake = FakePipeline(tmp_path / "calls.jsonl")
    with named_lock(settings, "run-due") as got:
        assert got
        outcomes = run_due(settings, pipeline=fake)
    assert [(o.name, o.status) for o in outcomes] == [("run-due", "skipped")]
    assert [o.name for o in run_due(settings, pipeline=fake)] == ["fetch", "purge"]


@pytest.mark.postgres
def test_a_leader_that_loses_its_lock_connection_steps_down_and_recovers(
    pg_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = pg_settings(pg_url, tmp_path)
    d = make_daemon(settings, tmp_path / "calls.jsonl")
    with running(d):
        pool = d.engine.pool
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
        # stepping down stopped the scheduler, not the engine the other threads use
        assert d.engine.pool is pool


def test_stopping_the_scheduler_leaves_the_engine_to_the_other_threads(db_url: str) -> None:
    """A leader that steps down stops its scheduler while the send loop and the web
    hold connections of the same engine: they go back to its pool when done, not to
    a pool disposed of under them and garbage-collected with them still open."""
    engine = create_db_engine(db_url)
    try:
        pool = engine.pool
        sched = make_scheduler(engine, lambda event: None)
        sched.start(paused=True)
        with engine.connect() as conn:  # another thread's work in flight
            sched.shutdown(wait=False)
            assert conn.execute(text("SELECT 1")).scalar() == 1
        assert engine.pool is pool
    finally:
        engine.dispose()
