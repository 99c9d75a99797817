"""Who the issues reached: read from the folded marks of settled issues, the figures
are those of the delivery rows, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from outreach.campaigns import Config
from outreach.models import (
    Delivery,
    DeliveryStatus,
    Issue,
    IssueReach,
    IssueStatus,
    ReachMark,
    Subscriber,
)
from outreach.retention import purge_old_records
from outreach.settings import Settings
from outreach.stats import city_figures, region_indicators
from outreach.stats import marks as marks_module
from outreach.stats import reach as reach_module
from tests.stats.fixture import NOW, make_issue, populate


@contextmanager
def rows_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The figures as the delivery rows alone give them: nothing folded, nothing read."""
    with monkeypatch.context() as m:
        m.setattr(reach_module, "fold", lambda *a, **k: 0)
        m.setattr(reach_module, "folded", lambda *a, **k: {})
        yield


def figures(session: Session, config: Config) -> dict[str, Any]:
    found = {t.key: t.rows for t in city_figures(session, config, "vantaa", 2026, now=NOW).tables}
    found["region"] = region_indicators(session, config, 2026, now=NOW).rows
    session.rollback()  # the next figures see what was committed since
    return found


def the_same_both_ways(
    session: Session, config: Config, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    with rows_only(monkeypatch):
        from_rows = figures(session, config)
    from_marks = figures(session, config)
    assert from_marks == from_rows
    return from_marks


def reached(found: dict[str, Any]) -> list[int]:
    return [int(r["reached"]) for r in found["monthly"]]


def folded_issues(session: Session) -> set[int]:
    return set(session.scalars(select(IssueReach.issue_id)))


def test_settled_issues_are_folded_once_and_the_figures_stay(
    db_session: Session, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = populate(db_session, config)
    found = the_same_both_ways(db_session, config, monkeypatch)
    assert reached(found)[10:] == [3, 2]  # November, December (tests/stats/test_figures.py)
    assert folded_issues(db_session) == {history["v1"], history["v2"], history["k1"]}
    # one row per subscriber and group: A got both issues of Vantaa
    marks = db_session.execute(select(ReachMark.subscriber_id, ReachMark.mask)).all()
    assert sorted(mask for _, mask in marks) == [1, 1, 1, 2, 2, 3]
    assert marks_module.fold(db_session, list(history.values()), NOW) == 0  # not again
    assert db_session.scalar(select(func.count()).select_from(ReachMark)) == len(marks)


def test_an_issue_still_sending_is_read_from_its_rows(
    db_session: Session, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = populate(db_session, config)
    db_session.execute(
        update(Issue).where(Issue.id == history["v2"]).values(status=IssueStatus.SENDING)
    )
    row = db_session.scalars(
        select(Delivery).where(Delivery.issue_id == history["v2"], Delivery.email == "f@pieni.fi")
    ).first()
    assert row is not None
    row.status = DeliveryStatus.PENDING
    db_session.commit()
    found = the_same_both_ways(db_session, config, monkeypatch)
    assert history["v2"] not in folded_issues(db_session)
    assert reached(found)[11] == 1  # A and C are one company; F's mail is pending
    assert found["monthly"][11]["delivered"] == 2
    row.status, row.sent_at = DeliveryStatus.SENT, NOW
    db_session.execute(update(Issue).where(Issue.id == history["v2"]).values(status="sent"))
    db_session.commit()
    found = the_same_both_ways(db_session, config, monkeypatch)
    assert history["v2"] in folded_issues(db_session)
    assert found["monthly"][11]["delivered"] == 3


def test_issues_of_one_month_and_more_issues_than_a_group_holds(
    db_session: Session, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = populate(db_session, config)
    monkeypatch.setattr(marks_module, "BITS", 2)  # a group (and a query's column) of two
    monkeypatch.setattr(reach_module, "BITS", 2)
    campaign = db_session.get(Issue, history["v1"])
    assert campaign is not None
    extra = []
    for day in (10, 20):  # two more issues in November to A (and B on the 10th)
        started = datetime(2026, 11, day, 7, tzinfo=UTC)
        issue = make_issue(db_session, campaign.campaign_id, "vantaa", f"2026-11-x{day}",
                           started, {"fi": []})  # fmt: skip
        extra.append(issue.id)
        for sub_id in (1, 2) if day == 10 else (1,):
            db_session.add(
                Delivery(issue_id=issue.id, subscriber_id=sub_id, subscription_id=sub_id,
                         email=f"{sub_id}@x.fi", language="fi", status=DeliveryStatus.SENT,
                         sent_at=started)
            )  # fmt: skip
    db_session.commit()
    found = the_same_both_ways(db_session, config, monkeypatch)
    november = found["monthly"][10]
    assert (november["issues"], november["delivered"], november["reached"]) == (3, 6, 3)
    groups = db_session.execute(select(IssueReach.grp, IssueReach.bit)).all()
    assert len({grp for grp, _ in groups}) >= 2 and max(bit for _, bit in groups) == 1
    # one issue not settled, read from its rows beside the folded ones
    db_session.execute(update(Issue).where(Issue.id == extra[1]).values(status="sending"))
    db_session.execute(delete(IssueReach).where(IssueReach.issue_id == extra[1]))
    db_session.execute(
        update(Delivery).where(Delivery.issue_id == extra[1]).values(status="sending")
    )
    db_session.commit()
    found = the_same_both_ways(db_session, config, monkeypatch)
    assert (found["monthly"][10]["delivered"], found["monthly"][10]["reached"]) == (5, 3)


def test_the_purge_and_forgetting_a_subscriber_take_the_marks_along(
    db_session: Session,
    db_settings: Settings,
    config: Config,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    history = populate(db_session, config)
    figures(db_session, config)  # folds the issues
    assert history["v1"] in folded_issues(db_session)
    settings = db_settings.model_copy(update={"retention_days_deliveries": 30})
    purge_old_records(db_session, settings, now=NOW + timedelta(days=2))  # V1, K1: November
    assert folded_issues(db_session) == {history["v2"]}
    found = the_same_both_ways(db_session, config, monkeypatch)
    november = found["monthly"][10]
    assert (november["delivered"], november["reached"]) == (3, 0)  # the snapshot's count
    # the freed bit is cleared: an issue folded into it later starts from nothing
    assert all(mask & 1 == 0 for mask in db_session.scalars(select(ReachMark.mask)))
    db_session.execute(delete(Subscriber).where(Subscriber.email == "f@pieni.fi"))
    db_session.commit()
    found = the_same_both_ways(db_session, config, monkeypatch)
    assert (found["monthly"][11]["delivered"], found["monthly"][11]["reached"]) == (2, 1)


def test_the_high_bits_of_a_mask(
    db_session: Session, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bits past 31 (PostgreSQL sums bigints as numeric) and the last bit of a group."""
    history = populate(db_session, config)
    v1, v2 = history["v1"], history["v2"]
    before = list(range(-BITS_BEFORE, 0))  # issues that are not there, sorted first
    periods = {**dict.fromkeys(before, 0), v1: 0, v2: 1}
    with rows_only(monkeypatch):
        from_rows = reach_module.reach(db_session, periods, 2, now=NOW)
    places = iter([(7, 61), (7, 60)])  # V1, V2: the last bits of a group
    monkeypatch.setattr(marks_module, "_place", lambda *a: next(places))
    from_marks = reach_module.reach(db_session, periods, 2, now=NOW)
    assert db_session.scalar(select(func.max(IssueReach.bit))) == 61
    for found in (from_rows, from_marks):
        assert (found.per_period, found.companies) == ([3, 2], 4)
        assert found.sent == {v1: 3, v2: 3}


BITS_BEFORE = 40
