"""A sending process killed with SIGKILL at random points and restarted: the
server gets every recipient's message, and only messages in flight at a kill
can come twice (at most workers × CHUNK per kill). On PostgreSQL, two
processes sending one issue at once: each recipient exactly once."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.db import create_db_engine
from outreach.delivery.run import CHUNK
from outreach.models import Base, Delivery, DeliveryStatus
from tests.conftest import ROOT
from tests.delivery.conftest import SMTPServer, populate

KILLS = int(os.environ.get("OUTREACH_CRASH_KILLS", "5"))
WORKERS = 2


def start(args: dict[str, Any]) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.delivery.send_process", json.dumps(args)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    return dict(json.loads(out.strip().splitlines()[-1]))


@pytest.mark.slow
def test_sigkill_at_random_points_then_restart(
    world_factory: Any, smtp_server: SMTPServer, config: Any, tmp_path: Path
) -> None:
    w = world_factory(100 * KILLS + 100, mail_url=smtp_server.url())
    smtp_server.handler.delay = 0.004
    args = {
        "database_url": w.settings.database_url,
        "mail_url": w.settings.mail_url,
        "var_dir": str(tmp_path / "var"),
        "campaigns": str(config.root),
        "issue_id": w.issue_id,
        "workers": WORKERS,
    }
    rng = random.Random(int(os.environ.get("OUTREACH_CRASH_SEED", "6")))
    kills = 0
    for _ in range(KILLS):
        proc = start(args)
        before = len(smtp_server.handler.received)
        # Wait for the child to start sending, then kill it somewhere in the send.
        deadline = time.monotonic() + 20
        while len(smtp_server.handler.received) == before and proc.poll() is None:
            assert time.monotonic() < deadline, "sender never started"
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.25))
        if proc.poll() is not None:  # finished before this kill point
            finish(proc)
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.communicate()
        kills += 1
    report = finish(start(args))
    assert report["status"] == "sent"
    counts = smtp_server.handler.counts()
    assert set(counts) == set(w.emails)  # nobody lost
    duplicates = sum(n - 1 for n in counts.values())
    print(f"kills={kills} duplicates={duplicates} bound={kills * WORKERS * CHUNK}")
    assert duplicates <= kills * WORKERS * CHUNK, (kills, duplicates)
    with Session(w.engine) as s:
        statuses = set(s.scalars(select(Delivery.status)))
    assert statuses == {DeliveryStatus.SENT}
    assert kills == KILLS


@pytest.mark.postgres
def test_two_processes_on_postgres_send_each_recipient_once(
    pg_url: str, smtp_server: SMTPServer, config: Any, tmp_path: Path
) -> None:
    engine = create_db_engine(pg_url)
    Base.metadata.create_all(engine)
    with Session(engine, expire_on_commit=False) as s:
        issue_id, _, emails = populate(s, 400)
    engine.dispose()
    smtp_server.handler.delay = 0.002
    args = {
        "database_url": pg_url,
        "mail_url": smtp_server.url(),
        "var_dir": str(tmp_path / "var"),
        "campaigns": str(config.root),
        "issue_id": issue_id,
        "workers": 3,
        "batch": 20,
    }
    procs = [start(args), start(args)]
    reports = [finish(p) for p in procs]
    assert sum(r["sent"] for r in reports) == 400
    assert all(r["sent"] > 0 for r in reports), reports  # both took part
    assert smtp_server.handler.counts() == dict.fromkeys(emails, 1)


@pytest.mark.postgres
def test_audience_and_suppression_hash_on_postgres(pg_url: str, config: Any) -> None:
    from outreach.audience import audience_query
    from outreach.campaigns import Audience
    from outreach.delivery.outbox import enqueue_issue, suppress
    from outreach.models import Issue, Subscriber, Subscription
    from outreach.settings import Settings
    from outreach.validation import email_hash, suppression_key

    engine = create_db_engine(pg_url)
    Base.metadata.create_all(engine)
    try:
        with Session(engine, expire_on_commit=False) as s:
            issue_id, city_id, _ = populate(s, 6)
            s.query(Subscriber).filter(Subscriber.email == "user1@example.fi").update(
                {"email": "User1@Example.fi"}
            )
            s.query(Subscription).filter(Subscription.subscriber_id == 3).update(
                {"topics": ["climate_x"]}
            )
            s.query(Subscriber).filter(Subscriber.id == 4).update({"industry_code": "35110"})
            settings = Settings(database_url=pg_url, secret_key="k" * 40)
            suppress(s, settings, "user1@example.fi", "manual", None)
            s.commit()
            key = suppression_key(settings)
            q = audience_query(city_id, Audience(industries=["35"]), ["fi"], key=key)
            assert [r.subscriber_id for r in s.execute(q)] == [4]
            assert enqueue_issue(s, settings, config, s.get(Issue, issue_id)) == 4
            assert enqueue_issue(s, settings, config, s.get(Issue, issue_id)) == 0
            s.commit()
            emails = set(s.scalars(select(Delivery.email)))
        assert emails == {f"user{i}@example.fi" for i in (0, 3, 4, 5)}
        assert email_hash("User1@Example.fi", key) == email_hash(" user1@example.fi", key)
    finally:
        engine.dispose()
