"""Concurrent sign-ups, import and erasure, on SQLite and PostgreSQL (``db_url``)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outreach.campaigns import Config
from outreach.db import create_db_engine, session_scope
from outreach.models import Base, Subscriber, Subscription, Suppression
from outreach.settings import Settings
from outreach.subscriptions import RecordingMailer, SignUp, forget, import_csv, subscribe


def test_concurrent_sign_ups_and_import(
    db_url: str, settings: Settings, config: Config, tmp_path: Path
) -> None:
    engine = create_db_engine(db_url)
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


def test_variants_of_one_mailbox_from_many_processes_get_one_mail(
    db_url: str, settings: Settings, config: Config
) -> None:
    """Separate engines stand for separate web processes: the mailbox cap is one row,
    taken with one atomic UPDATE, so only one of them may send."""
    engines = [create_db_engine(db_url) for _ in range(4)]
    Base.metadata.create_all(engines[0])
    mailer = RecordingMailer()
    cities = ("vantaa", "kerava", "jarvenpaa")

    def one(i: int) -> None:
        email = f"matti.m+{i}@{'googlemail' if i % 2 else 'gmail'}.com"
        signup = SignUp.clean(config, cities[i % 3], email=email, topics=["climate"])
        with session_scope(engines[i % 4]) as session:
            subscribe(session, settings, config, cities[i % 3], signup, mailer)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(one, range(48)))
    assert len(mailer.sent) == 1
    with Session(engines[0]) as s:
        assert s.scalar(select(func.count()).select_from(Subscription)) == 48
    for engine in engines:
        engine.dispose()
