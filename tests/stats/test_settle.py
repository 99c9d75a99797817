"""The end of a send folds its issue and counts its city's year (``outreach.stats.settle``),
so the first figures after it read what was kept; and what was kept stays true: a
deleted subscriber, a changed company or an unfolded issue count again. On SQLite
and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, delete, func, select, text, update
from sqlalchemy.orm import Session

from outreach.campaigns import Config
from outreach.models import IssueReach, ReachStamp, ReachSummary, Subscriber
from outreach.stats import city_figures, settle, summaries
from outreach.stats import reach as reach_module
from tests.stats.fixture import NOW, populate
from tests.stats.test_reach import rows_only


def figures(session: Session, config: Config) -> dict[str, Any]:
    found = city_figures(session, config, "vantaa", 2026, now=NOW, segments=False)
    session.rollback()  # the next figures see what was committed since
    return {t.key: t.rows for t in found.tables}


@contextmanager
def kept_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The figures as the kept summary alone gives them: reading marks or rows fails."""

    def refused(*_: Any, **__: Any) -> Any:
        raise AssertionError("counted again instead of read from the summary")

    with monkeypatch.context() as m:
        m.setattr(reach_module, "_counted", refused)
        yield


def from_rows(session: Session, config: Config, monkeypatch: pytest.MonkeyPatch) -> Any:
    with rows_only(monkeypatch):
        return figures(session, config)


def stamp(session: Session) -> int:
    found = session.scalar(select(ReachStamp.n))
    session.rollback()
    assert found is not None
    return int(found)


def engine_of(session: Session) -> Engine:
    bind = session.get_bind()
    assert isinstance(bind, Engine)
    return bind


def test_the_end_of_a_send_folds_and_the_first_figures_read_what_was_kept(
    db_session: Session, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = populate(db_session, config)
    expected = from_rows(db_session, config, monkeypatch)
    assert [r["reached"] for r in expected["monthly"]][10:] == [3, 2]
    assert settle(engine_of(db_session), config, [history["v1"], history["v2"]], now=NOW) == 2
    assert set(db_session.scalars(select(IssueReach.issue_id))) == {history["v1"], history["v2"]}
    assert db_session.scalar(select(func.count()).select_from(ReachSummary)) == 1
    db_session.rollback()
    with kept_only(monkeypatch):
        assert figures(db_session, config) == expected
    assert settle(engine_of(db_session), config, [history["v1"]], now=NOW) == 0  # not again


def test_what_was_kept_counts_again_when_a_subscriber_changes_company_or_goes(
    db_session: Session, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = populate(db_session, config)
    settle(engine_of(db_session), config, list(history.values()), now=NOW)
    before = stamp(db_session)
    # a change that moves nobody to another company keeps the summary
    db_session.execute(update(Subscriber).where(Subscriber.email == "c@a.fi").values(language="sv"))
    db_session.commit()
    assert stamp(db_session) == before
    with kept_only(monkeypatch):
        figures(db_session, config)
    # C leaves A's company: December reaches three companies, not two
    db_session.execute(
        update(Subscriber).where(Subscriber.email == "c@a.fi").values(business_id="7654321-0")
    )
    db_session.commit()
    assert stamp(db_session) == before + 1
    found = figures(db_session, config)
    assert found == from_rows(db_session, config, monkeypatch)
    assert [r["reached"] for r in found["monthly"]][10:] == [3, 3]
    # and F is forgotten
    db_session.execute(delete(Subscriber).where(Subscriber.email == "f@pieni.fi"))
    db_session.commit()
    assert stamp(db_session) == before + 2
    found = figures(db_session, config)
    assert found == from_rows(db_session, config, monkeypatch)
    assert [r["reached"] for r in found["monthly"]][10:] == [3, 2]
    with kept_only(monkeypatch):  # kept again, at the new stamp
        assert figures(db_session, config) == found


def test_without_its_triggers_nothing_is_kept_and_the_figures_stay_right(
    db_session: Session, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = populate(db_session, config)
    on = "" if db_session.get_bind().dialect.name == "sqlite" else " ON subscribers"
    db_session.execute(text(f"DROP TRIGGER subscribers_reach_changed{on}"))
    db_session.commit()
    assert summaries.stamp(db_session) is None
    settle(engine_of(db_session), config, list(history.values()), now=NOW)
    assert db_session.scalar(select(func.count()).select_from(ReachSummary)) == 0
    db_session.execute(
        update(Subscriber).where(Subscriber.email == "c@a.fi").values(business_id="7654321-0")
    )
    db_session.commit()
    found = figures(db_session, config)
    assert [r["reached"] for r in found["monthly"]][10:] == [3, 3]
    assert found == from_rows(db_session, config, monkeypatch)
