"""Two running ``outreach daemon`` processes pick up console changes without SIGHUP.

Two real daemons (``python -m outreach daemon``, the real stages) share one
PostgreSQL database with a short ``OUTREACH_SCHEDULER_POLL_SECONDS``; the
campaigns folder holds only the cities. A campaign is created, edited, paused
and made active again through the stage functions the console calls
(``outreach.staff.authoring``), and each change reaches the scheduler's job
store (``apscheduler_jobs``, written by the leader) within the poll interval,
give or take the time a loaded machine takes to run the pass. The follower
reloads too: after the leader is killed it leads with the edited campaign. No
signal but the final SIGTERM is sent.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session

from outreach.campaigns import load, merge_console
from outreach.models import Base
from outreach.scheduler import next_runs
from outreach.staff import authoring
from tests.conftest import ROOT

pytestmark = pytest.mark.postgres

POLL = 1.0
#: What a pass of a daemon's loop may take beyond the poll interval on a busy machine
#: (reading the console campaigns, validating them, rewriting the job).
SLACK = 5.0
SLUG = "kerava-ilmasto"
WHO = authoring.Who("toimittaja@kerava.fi", "127.0.0.1")


def campaign(schedule: dict[str, Any]) -> dict[str, Any]:
    return {
        "slug": SLUG, "kind": "newsletter", "city": "kerava", "title": {"fi": "Ilmastokirje"},
        "languages": ["fi"], "schedule": schedule, "subject": {"fi": "Ilmastokirje"},
        "sections": [{"id": "news", "kind": "news", "title": {"fi": "Uutiset"},
                      "sources": [{"type": "rss", "url": "http://127.0.0.1:9/feed.xml"}]}],
    }  # fmt: skip


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A campaigns folder with the cities and no campaign file."""
    campaigns = tmp_path / "campaigns"
    campaigns.mkdir()
    shutil.copy(ROOT / "campaigns" / "cities.yaml", campaigns / "cities.yaml")
    return campaigns


@pytest.fixture
def engine(pg_url: str) -> Iterator[Engine]:
    eng = create_engine(pg_url)
    Base.metadata.create_all(eng)
    yield eng
    eng.dispose()


class Daemons:
    """``outreach daemon`` processes on one database, their logs in files."""

    def __init__(self, tmp: Path, url: str, campaigns: Path) -> None:
        self.tmp = tmp
        self.env = {
            **os.environ,
            "OUTREACH_DATABASE_URL": url,
            "OUTREACH_CAMPAIGNS_DIR": str(campaigns),
            "OUTREACH_TEMPLATES_DIR": str(ROOT / "templates"),
            "OUTREACH_VAR_DIR": str(tmp / "var"),
            "OUTREACH_SECRET_KEY": "test-secret-key-0123456789abcdef0123456789",
            "OUTREACH_MAIL_URL": "memory:",
            "OUTREACH_BASE_URL": "https://outreach.example.fi",
            "OUTREACH_SCHEDULER_POLL_SECONDS": str(POLL),
            "OUTREACH_CHECK_LINK_SECONDS": "0",
            "OUTREACH_CLI_LANGUAGE": "en",
        }
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        n = len(self.procs)
        with (self.tmp / f"daemon-{n}.log").open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "outreach", "daemon"],
                cwd=self.tmp, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        self.procs.append(proc)
        return proc

    def log(self, proc: subprocess.Popen[bytes]) -> str:
        return (self.tmp / f"daemon-{self.procs.index(proc)}.log").read_text()

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def until(predicate: Any, timeout: float) -> float:
    """Seconds until ``predicate()`` held; fails after ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout:g} s")


def job_next_run(engine: Engine) -> datetime | None:
    """When the leader's job store runs the campaign next (None: no job)."""
    with engine.connect() as conn:
        found = conn.execute(
            text("SELECT next_run_time FROM apscheduler_jobs WHERE id = :id"),
            {"id": f"campaign:{SLUG}"},
        ).scalar()
    return None if found is None else datetime.fromtimestamp(float(found), UTC)


def first_run(engine: Engine, campaigns: Path) -> datetime:
    """The campaign's next run as its saved document says (what the job must hold)."""
    with Session(engine) as s:
        config = merge_console(load(campaigns, ROOT / "templates"), s, ROOT / "templates")
    return next_runs(config.campaigns[SLUG], "Europe/Helsinki", datetime.now(UTC))[0]


def change(engine: Engine, campaigns: Path, work: Any) -> tuple[float, float]:
    """Run ``work`` (a console change) in one transaction; when it was committed
    (monotonic, and the wall clock the daemons' logs use)."""
    config = load(campaigns, ROOT / "templates")
    with Session(engine) as s:
        work(s, config)
        s.commit()
    return time.monotonic(), time.time()


def reloaded_since(log: str, wall: float) -> bool:
    """Whether the daemon's log has a reload finished after ``wall`` (seconds since the
    epoch); two changes close together may come in one reload."""
    for line in log.splitlines():
        if line.endswith("campaigns") and ": reloaded " in line:
            stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
            if stamp >= wall:
                return True
    return False


def test_two_daemons_pick_up_console_changes_within_the_poll_interval(
    engine: Engine, pg_url: str, folder: Path, tmp_path: Path
) -> None:
    daemons = Daemons(tmp_path, pg_url, folder)
    try:
        first = daemons.start()
        until(lambda: "is now the scheduler leader" in daemons.log(first), 60)
        second = daemons.start()
        until(lambda: "stands by" in daemons.log(second), 60)
        time.sleep(2 * POLL)  # both past their first passes
        assert job_next_run(engine) is None

        # created in the console: the leader adds its job
        committed, wall = change(engine, folder, lambda s, config: authoring.save_campaign(
            s, config, campaign({"day": "1st tue", "hour": 9}), WHO, city="kerava",
            texts=None, templates_dir=ROOT / "templates", create=True,
        ))  # fmt: skip
        until(lambda: job_next_run(engine) is not None, POLL + SLACK)
        print(f"created: the job after {time.monotonic() - committed:.2f} s")
        tuesday = first_run(engine, folder)
        assert job_next_run(engine) == tuesday
        for proc in (first, second):  # every host reloads, without a signal
            until(lambda p=proc: reloaded_since(daemons.log(p), wall), POLL + SLACK)

        # edited: the job moves to the new schedule
        committed, wall = change(engine, folder, lambda s, config: authoring.save_campaign(
            s, config, campaign({"day_of_week": "wed", "hour": 10}), WHO, city="kerava",
            texts=None, templates_dir=ROOT / "templates", create=False,
        ))  # fmt: skip
        until(lambda: job_next_run(engine) not in (None, tuesday), POLL + SLACK)
        print(f"edited: the job moved after {time.monotonic() - committed:.2f} s")
        wednesday = first_run(engine, folder)
        assert job_next_run(engine) == wednesday
        assert wednesday.astimezone(ZoneInfo("Europe/Helsinki")).timetuple()[3:7] == (10, 0, 0, 2)
        for proc in (first, second):
            until(lambda p=proc: reloaded_since(daemons.log(p), wall), POLL + SLACK)

        # the leader dies: the follower leads with the campaign as it was edited
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        until(lambda: "is now the scheduler leader" in daemons.log(second), 60)
        time.sleep(2 * POLL)
        assert job_next_run(engine) == wednesday

        # paused: the new leader removes the job; made active: it is back
        committed, _ = change(engine, folder, lambda s, config: authoring.campaign_state(
            s, SLUG, "paused", WHO, city="kerava"))  # fmt: skip
        until(lambda: job_next_run(engine) is None, POLL + SLACK)
        print(f"paused: the job gone after {time.monotonic() - committed:.2f} s")
        change(engine, folder, lambda s, config: authoring.campaign_state(
            s, SLUG, "active", WHO, city="kerava"))  # fmt: skip
        until(lambda: job_next_run(engine) == wednesday, POLL + SLACK)
        assert "SIGHUP" not in daemons.log(second) and second.poll() is None
    finally:
        daemons.stop_all()
    assert daemons.procs[1].returncode == 0, daemons.log(daemons.procs[1])
