"""Test helpers for the scheduler: campaign folders and a recording fake pipeline.

The fake stands in for the stages (sources, issues, delivery) so the scheduling
logic is tested on its own; it records every call in a JSON-lines file, which
also works across the daemon processes the tests start.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from outreach.campaigns import Config
from outreach.db import create_db_engine
from outreach.models import Base
from outreach.scheduler import RunResult, status
from outreach.settings import Settings
from tests.conftest import ROOT

MONTHLY = {"day": "1st tue", "hour": 9}


def write_campaign(
    folder: Path,
    slug: str,
    *,
    schedule: dict[str, Any] | None = None,
    send_at: str | None = None,
    grace_minutes: int = 60,
    city: str = "vantaa",
    approval: str = "manual",
) -> None:
    """An announcement campaign (no sources needed) with the given timing."""
    data: dict[str, Any] = {
        "slug": slug,
        "kind": "announcement",
        "city": city,
        "languages": ["fi"],
        "approval": approval,
        "grace_minutes": grace_minutes,
        "subject": {"fi": f"Tiedote {slug}"},
        "body": {"fi": f"announcements/{slug}.fi.md"},
        "audience": {"topics": ["climate"]},
    }
    if schedule is not None:
        data["schedule"] = schedule
    if send_at is not None:
        data["send_at"] = send_at
    (folder / "announcements").mkdir(parents=True, exist_ok=True)
    (folder / "announcements" / f"{slug}.fi.md").write_text(f"# {slug}\n\nHei!\n")
    (folder / f"{slug}.yaml").write_text(yaml.safe_dump(data, allow_unicode=True))


def make_campaigns(folder: Path, slugs: dict[str, dict[str, Any]] | None = None) -> Path:
    """A campaigns folder with the shipped cities and announcement campaigns."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "campaigns" / "cities.yaml", folder / "cities.yaml")
    wanted = (
        slugs
        if slugs is not None
        else {
            "vantaa-news": {"schedule": MONTHLY},
            "kerava-news": {"schedule": MONTHLY, "city": "kerava"},
            "kerava-award": {"schedule": {"month": 10, "day": 1, "hour": 9}, "city": "kerava"},
        }
    )
    for slug, kwargs in wanted.items():
        write_campaign(folder, slug, **kwargs)
    return folder


def only_campaign(folder: Path, slug: str) -> None:
    """Leave ``slug`` the folder's only campaign. Tests on the real clock use it: the
    default campaigns fire on the first Tuesday of a month at 9.00 Helsinki time,
    and a run at that hour would see them due."""
    for path in folder.glob("*.yaml"):
        if path.name not in ("cities.yaml", f"{slug}.yaml"):
            path.unlink()


def make_settings(tmp: Path, database_url: str | None = None) -> Settings:
    return Settings(
        database_url=database_url or f"sqlite:///{tmp}/outreach.db",
        mail_url="memory:",
        base_url="https://outreach.example.fi",
        secret_key="test-secret-key-0123456789abcdef0123456789",
        campaigns_dir=make_campaigns(tmp / "campaigns"),
        templates_dir=ROOT / "templates",
        var_dir=tmp / "var",
        # the shipped cities' websites are outside names, which tests cannot resolve;
        # the pre-flight check's links are tested in tests/checks
        check_link_seconds=0,
    )


def pg_settings(database_url: str, tmp: Path) -> Settings:
    """:func:`make_settings` on ``database_url`` (any database), its tables created."""
    settings = make_settings(tmp, database_url)
    engine = create_db_engine(database_url)
    Base.metadata.create_all(engine)
    engine.dispose()
    return settings


def leader(settings: Settings) -> str:
    """Who ``outreach status`` says leads the scheduler."""
    return str(status(settings, now=datetime.now(UTC)).scheduler)


def read_log(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class FakePipeline:
    """Records calls; ``send_due`` sends a file-backed outbox one message at a time."""

    def __init__(
        self,
        log_path: Path,
        *,
        outbox: Path | None = None,
        send_delay: float = 0.0,
        fail: set[str] | None = None,
    ) -> None:
        self.log_path = log_path
        self.outbox = outbox
        self.send_delay = send_delay
        self.fail = fail or set()
        self._lock = threading.Lock()

    def _log(self, **entry: Any) -> None:
        entry["pid"] = os.getpid()
        with self._lock, open(self.log_path, "a") as fh:
            fh.write(json.dumps(entry) + "\n")

    def fetch_all(self) -> str:
        self._log(call="fetch_all")
        return "fetched 0 sources"

    def run_campaign(self, slug: str, fire_time: datetime) -> RunResult:
        self._log(call="run_campaign", slug=slug, fire_time=fire_time.isoformat())
        if slug in self.fail:
            raise RuntimeError(f"{slug} broke")
        return RunResult("ok", f"issue for {slug} built; waiting for approval", 1)

    def purge(self) -> dict[str, int]:
        self._log(call="purge")
        return {"sign_ups": 0}

    def send_due(self, stop: threading.Event) -> list[RunResult]:
        """Send the outbox's pending ids; on stop, finish the one in flight and return."""
        if self.outbox is None or not self.outbox.exists():
            return []
        state = json.loads(self.outbox.read_text())
        sent = 0
        while state["pending"] and not stop.is_set():
            message = state["pending"][0]
            time.sleep(self.send_delay)  # the message is in flight
            self._log(call="sent", message=message)
            state["pending"].pop(0)
            state["sent"].append(message)
            tmp = self.outbox.with_suffix(".tmp")
            tmp.write_text(json.dumps(state))
            tmp.replace(self.outbox)  # commit
            sent += 1
        if not sent:
            return []
        return [RunResult("stopped" if stop.is_set() else "ok", f"sent {sent}")]


def fake_factory(log_path: Path, **kwargs: Any) -> Any:
    def factory(settings: Settings, config: Config, stop: threading.Event) -> FakePipeline:
        return FakePipeline(log_path, **kwargs)

    return factory


def wait_for(predicate: Any, timeout: float = 10.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
