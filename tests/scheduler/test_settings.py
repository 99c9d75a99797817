"""The scheduler's timing knobs come from the settings (OUTREACH_* variables)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from outreach.scheduler import Daemon, DaemonOptions, PeriodicIntervals, run_due
from outreach.settings import Settings, get_settings
from tests.scheduler.helpers import FakePipeline, fake_factory, read_log, wait_for

KNOWN = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def test_defaults_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert DaemonOptions.from_settings(get_settings()) == DaemonOptions(
        poll_interval=10.0, stop_timeout=60.0, intervals=PeriodicIntervals(3600, 3600, 30)
    )
    monkeypatch.setenv("OUTREACH_SCHEDULER_POLL_SECONDS", "2.5")
    monkeypatch.setenv("OUTREACH_SEND_CHECK_SECONDS", "5")
    monkeypatch.setenv("OUTREACH_FETCH_INTERVAL_MINUTES", "15")
    monkeypatch.setenv("OUTREACH_PURGE_INTERVAL_MINUTES", "1440")
    monkeypatch.setenv("OUTREACH_STOP_TIMEOUT_SECONDS", "20")
    get_settings.cache_clear()
    assert DaemonOptions.from_settings(get_settings()) == DaemonOptions(
        poll_interval=2.5, stop_timeout=20.0, intervals=PeriodicIntervals(900, 86400, 5)
    )


def test_a_non_positive_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="send_check_seconds"):
        Settings(send_check_seconds=0)


def test_the_daemon_uses_the_settings_when_given_no_options(
    sched_settings: Settings, tmp_path: Path
) -> None:
    settings = sched_settings.model_copy(
        update={"scheduler_poll_seconds": 0.1, "fetch_interval_minutes": 0.005}  # 0.3 s
    )
    log = tmp_path / "calls.jsonl"
    d = Daemon(settings, pipeline_factory=fake_factory(log))
    assert d.options.poll_interval == 0.1
    assert d.options.stop_timeout == 60.0
    thread = threading.Thread(target=d.run, name="test-daemon")
    thread.start()
    try:
        assert wait_for(lambda: sum(e["call"] == "fetch_all" for e in read_log(log)) >= 2, 10)
    finally:
        d.stop()
        thread.join(10)
    assert not thread.is_alive()


def test_run_due_uses_the_settings_intervals(sched_settings: Settings, tmp_path: Path) -> None:
    fake = FakePipeline(tmp_path / "calls.jsonl")
    hourly = [o.name for o in run_due(sched_settings, now=KNOWN, pipeline=fake)]
    assert hourly == ["fetch", "purge"]
    later = KNOWN + timedelta(minutes=20)
    assert run_due(sched_settings, now=later, pipeline=fake) == []
    often = sched_settings.model_copy(update={"fetch_interval_minutes": 15})
    assert [o.name for o in run_due(often, now=later, pipeline=fake)] == ["fetch"]
