"""The daemon: catch-up after a late restart, misfires, reload, signals, one per SQLite."""

from __future__ import annotations

import importlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from outreach.db import get_engine, session_scope
from outreach.models import Campaign
from outreach.scheduler import Daemon, DaemonOptions, PeriodicIntervals
from outreach.settings import Settings
from tests.conftest import ROOT
from tests.scheduler.helpers import fake_factory, read_log, wait_for, write_campaign
from tests.scheduler.outage import daemon_log

KNOWN = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
FIRE = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)  # first Tuesday of December, 9.00 EET
FAST = DaemonOptions(
    poll_interval=0.1, stop_timeout=5.0, intervals=PeriodicIntervals(3600, 3600, 0.1)
)


def make_daemon(settings: Settings, log: Path, now: datetime | None = None) -> Daemon:
    clock = None if now is None else (lambda: now)
    return Daemon(settings, pipeline_factory=fake_factory(log), options=FAST, clock=clock)


@contextmanager
def running(d: Daemon) -> Iterator[Daemon]:
    thread = threading.Thread(target=d.run, name="test-daemon")
    thread.start()
    try:
        assert wait_for(lambda: d.is_leader)
        yield d
    finally:
        d.stop()
        thread.join(10)
        assert not thread.is_alive()


def statuses(settings: Settings) -> dict[str, tuple[datetime | None, str | None]]:
    with session_scope(get_engine(settings)) as session:
        return {
            c.slug: (c.last_run_at, c.last_run_status) for c in session.scalars(select(Campaign))
        }


def campaign_calls(log: Path) -> list[str]:
    return [e["slug"] for e in read_log(log) if e["call"] == "run_campaign"]


def stored_jobs(settings: Settings) -> set[str]:
    db = settings.database_url.removeprefix("sqlite:///")
    conn = sqlite3.connect(db)
    try:
        return {row[0] for row in conn.execute("SELECT id FROM apscheduler_jobs")}
    except sqlite3.OperationalError:  # the daemon has not created its table yet
        return set()
    finally:
        conn.close()


def test_restarted_two_hours_late_records_missed_and_sends_nothing(
    sched_settings: Settings, tmp_path: Path
) -> None:
    log = tmp_path / "calls.jsonl"
    with running(make_daemon(sched_settings, log, KNOWN)):
        pass  # the daemon ran on 20 November, then the machine was down
    assert stored_jobs(sched_settings) >= {
        "campaign:vantaa-news",
        "campaign:kerava-news",
        "campaign:kerava-award",
        "periodic:fetch",
        "periodic:purge",
    }
    with running(make_daemon(sched_settings, log, FIRE + timedelta(hours=2))):
        assert wait_for(lambda: statuses(sched_settings)["vantaa-news"][1] == "missed")
        assert wait_for(lambda: statuses(sched_settings)["kerava-news"][1] == "missed")
    assert statuses(sched_settings)["vantaa-news"] == (FIRE, "missed")
    assert statuses(sched_settings)["kerava-award"] == (None, None)
    assert campaign_calls(log) == []


def test_restarted_within_grace_runs_the_campaign_once(
    sched_settings: Settings, tmp_path: Path
) -> None:
    log = tmp_path / "calls.jsonl"
    with running(make_daemon(sched_settings, log, KNOWN)):
        pass
    with running(make_daemon(sched_settings, log, FIRE + timedelta(minutes=30))):
        assert wait_for(lambda: len(campaign_calls(log)) == 2)
    with running(make_daemon(sched_settings, log, FIRE + timedelta(minutes=40))):
        pass
    assert sorted(campaign_calls(log)) == ["kerava-news", "vantaa-news"]
    assert statuses(sched_settings)["vantaa-news"] == (FIRE, "ok")


def far_off(settings: Settings) -> None:
    """vantaa-news fires only far in the future: these tests move its next run two hours
    back on the real clock, and APScheduler coalesces the moved run with any fire time
    between it and now (the first Tuesday of a month at 9.00 would run instead of miss)."""
    write_campaign(
        settings.campaigns_dir, "vantaa-news", schedule={"year": 2099, "month": 1, "day": 1}
    )


def test_apscheduler_misfire_is_recorded_as_missed(
    sched_settings: Settings, tmp_path: Path
) -> None:
    log = tmp_path / "calls.jsonl"
    far_off(sched_settings)
    with running(make_daemon(sched_settings, log)) as d:
        late = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
        d.scheduler.modify_job("campaign:vantaa-news", next_run_time=late)
        assert wait_for(lambda: statuses(sched_settings)["vantaa-news"][1] == "missed")
    assert statuses(sched_settings)["vantaa-news"][0] == late
    assert campaign_calls(log) == []


def test_a_misfire_the_database_refused_is_recorded_on_a_later_pass(
    sched_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite busy (or the database away) when the misfire comes: the record is not lost."""
    daemon_module = importlib.import_module("outreach.scheduler.daemon")

    real = daemon_module.record_missed
    refused: list[str] = []

    def busy_once(*args: Any) -> bool:
        if not refused:
            refused.append(args[1])
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        return real(*args)

    monkeypatch.setattr(daemon_module, "record_missed", busy_once)
    far_off(sched_settings)
    with running(make_daemon(sched_settings, tmp_path / "calls.jsonl")) as d:
        late = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
        d.scheduler.modify_job("campaign:vantaa-news", next_run_time=late)
        assert wait_for(lambda: statuses(sched_settings)["vantaa-news"][1] == "missed")
    assert refused == ["vantaa-news"]
    assert statuses(sched_settings)["vantaa-news"][0] == late


def test_reload_adds_changes_and_removes_jobs(sched_settings: Settings, tmp_path: Path) -> None:
    folder = sched_settings.campaigns_dir
    with running(make_daemon(sched_settings, tmp_path / "calls.jsonl")) as d:
        before = {job.id: job for job in d.scheduler.get_jobs(jobstore="default")}
        (folder / "kerava-award.yaml").unlink()
        write_campaign(folder, "vantaa-news", schedule={"day": "1st tue", "hour": 10})
        write_campaign(folder, "vantaa-extra", schedule={"day": "last fri", "hour": 12})
        d.reload_requested.set()  # what SIGHUP does

        def reloaded() -> bool:
            # The reload adds a job before it changes one: wait for both.
            jobs = {job.id: job for job in d.scheduler.get_jobs(jobstore="default")}
            news = jobs.get("campaign:vantaa-news")
            changed = news is not None and "hour='10'" in str(news.trigger)
            return changed and "campaign:vantaa-extra" in jobs

        assert wait_for(reloaded)
        assert "campaign:vantaa-extra" in stored_jobs(sched_settings)
        after = {job.id: job for job in d.scheduler.get_jobs(jobstore="default")}
    campaigns = {j for j in after if j.startswith("campaign:")}
    assert campaigns == {"campaign:vantaa-news", "campaign:kerava-news", "campaign:vantaa-extra"}
    assert "hour='10'" in str(after["campaign:vantaa-news"].trigger)
    assert after["campaign:vantaa-news"].name != before["campaign:vantaa-news"].name
    assert after["campaign:kerava-news"].name == before["campaign:kerava-news"].name
    assert after["campaign:vantaa-news"].misfire_grace_time == 3600
    assert after["campaign:vantaa-news"].coalesce is True
    assert after["campaign:vantaa-news"].max_instances == 1


def test_a_broken_campaign_file_on_reload_keeps_the_previous_jobs(
    sched_settings: Settings, tmp_path: Path
) -> None:
    folder = sched_settings.campaigns_dir
    with running(make_daemon(sched_settings, tmp_path / "calls.jsonl")) as d:
        (folder / "kerava-award.yaml").write_text("slug: kerava-award\nkind: nonsense\n")
        d.reload()
        jobs = {job.id for job in d.scheduler.get_jobs(jobstore="default")}
        assert "campaign:kerava-award" in jobs
        assert d.alive()


# -- real processes ---------------------------------------------------------------


def start(tmp: Path, url: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.scheduler.daemon_proc", str(tmp), url, *extra],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def started(tmp: Path, proc: subprocess.Popen[str]) -> bool:
    """The daemon has its signal handlers: SIGTERM now stops it cleanly (exit 0)."""
    return "daemon started" in daemon_log(tmp, proc.pid)


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM, timeout: float = 10) -> int:
    proc.send_signal(sig)
    try:
        proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    return proc.returncode


def test_sighup_reloads_the_campaign_files(sched_settings: Settings, tmp_path: Path) -> None:
    proc = start(tmp_path, sched_settings.database_url)
    try:
        assert wait_for(lambda: "campaign:kerava-award" in stored_jobs(sched_settings), 15)
        (sched_settings.campaigns_dir / "kerava-award.yaml").unlink()
        write_campaign(sched_settings.campaigns_dir, "kerava-extra", schedule={"hour": 8})
        proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: "campaign:kerava-extra" in stored_jobs(sched_settings), 10)
        assert "campaign:kerava-award" not in stored_jobs(sched_settings)
    finally:
        assert stop(proc) == 0


def test_a_second_daemon_on_sqlite_says_so_and_exits_1(
    sched_settings: Settings, tmp_path: Path
) -> None:
    first = start(tmp_path, sched_settings.database_url)
    try:
        lock = sched_settings.var_dir / "daemon.lock"
        assert wait_for(lambda: lock.exists() and lock.read_text().strip().isdigit(), 15)
        second = start(tmp_path, sched_settings.database_url)
        try:
            out, err = second.communicate(timeout=60)  # a Python start on a loaded machine
        finally:
            if second.poll() is None:  # timed out: not left running into the next test
                second.kill()
                second.communicate()
        assert second.returncode == 1
        assert out == ""
        assert err.count("\n") == 1
        assert err.startswith(f"error: another outreach daemon (pid {first.pid}) is running")
        # The same through the command line a person types.
        env = {k: v for k, v in os.environ.items() if not k.startswith("OUTREACH_")}
        env.update(
            OUTREACH_CONFIG=os.devnull,
            OUTREACH_DATABASE_URL=sched_settings.database_url,
            OUTREACH_CAMPAIGNS_DIR=str(sched_settings.campaigns_dir),
            OUTREACH_VAR_DIR=str(sched_settings.var_dir),
            OUTREACH_SECRET_KEY="test-secret-key-0123456789abcdef0123456789",
        )
        cli = subprocess.run(
            [sys.executable, "-m", "outreach", "daemon"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert cli.returncode == 1
        assert len(cli.stderr.strip().splitlines()) == 1
        assert "another outreach daemon" in cli.stderr
    finally:
        assert stop(first) == 0


def test_sigterm_mid_send_stops_cleanly_and_a_later_start_finishes(
    sched_settings: Settings, tmp_path: Path
) -> None:
    outbox = tmp_path / "outbox.json"
    messages = [f"m{i:02d}" for i in range(30)]
    outbox.write_text(json.dumps({"pending": messages, "sent": []}))
    args = ("--outbox", str(outbox), "--send-delay", "0.1")

    def sent() -> list[str]:
        return [e["message"] for e in read_log(tmp_path / "calls.jsonl") if e["call"] == "sent"]

    proc = start(tmp_path, sched_settings.database_url, *args)
    try:
        assert wait_for(lambda: len(sent()) >= 3, 15)
    finally:
        assert stop(proc, timeout=5) == 0  # the bound: in-flight message + shutdown
    state = json.loads(outbox.read_text())
    assert 3 <= len(state["sent"]) < 30
    assert state["sent"] + state["pending"] == messages  # committed, nothing lost
    assert sent() == state["sent"]

    proc = start(tmp_path, sched_settings.database_url, *args)
    try:
        assert wait_for(lambda: len(sent()) == 30, 15)
    finally:
        assert stop(proc, sig=signal.SIGINT, timeout=5) == 0
    assert sent() == messages  # each message exactly once
