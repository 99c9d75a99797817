"""The subscription stage on PostgreSQL: concurrent sign-ups, import, erasure."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outreach.campaigns import Config
from outreach.db import create_db_engine, session_scope
from outreach.models import Base, Subscriber, Subscription, Suppression
from outreach.settings import Settings
from outreach.subscribers_io import import_csv
from outreach.subscriptions import RecordingMailer, SignUp, forget, subscribe

pytestmark = pytest.mark.postgres


def test_concurrent_sign_ups_and_import_on_postgres(
    pg_url: str, settings: Settings, config: Config, tmp_path: Path
) -> None:
    engine = create_db_engine(pg_url)
    Base.metadata.create_all(engine)
    mailer = RecordingMailer()
    signup = SignUp.clean(config, "vantaa", email="race@yritys.fi", topics=["climate"])

    def one(_: int) -> None:
        with session_scope(engine) as session:
            subscribe(session, settings, config, "vantaa", signup, mailer)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(one, range(64)))
    assert len(mailer.sent) == 1
    path = tmp_path / "crm.csv"
    path.write_text("email;company\nrace@yritys.fi;Race Oy\nnew@yritys.fi;New Oy\n")
    report = import_csv(engine, settings, config, path, "vantaa", mailer=mailer)
    assert (report.imported, report.updated) == (1, 1)
    with session_scope(engine) as session:
        assert forget(session, settings, "race@yritys.fi")
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Subscription)) == 1
        assert s.scalar(select(func.count()).select_from(Subscriber)) == 1
        assert s.scalars(select(Suppression.reason)).one() == "erased"
    engine.dispose()
