"""Who each settled issue reached, folded once into one mask per subscriber.

A year of a city's monthly issues is a dozen delivery rows per subscriber, and
grouping them by subscriber is most of what a city's figures cost. Once an
issue is *settled* (sent, failed or cancelled, with no row pending or sending)
its delivery rows never change again: the retention purge deletes them, and
with them this summary (``outreach.retention``); forgetting a subscriber
deletes theirs, and their marks with them (a foreign key). So the first figures
that need a settled issue fold it: the issue gets a bit in a group of its city's
issues of its year (``issue_reach``: at most :data:`BITS` an group), and every
subscriber it was delivered to gets that bit in the group's mask
(``reach_marks``, one row per group and subscriber). The figures then read a
row per subscriber instead of one per delivery.

The fold is a short transaction of its own. When it cannot run (the database
is busy, another process folds the same issue) the figures read the delivery
rows, as they do for an issue that is not settled yet; the figures are the same
either way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

from sqlalchemy import BigInteger, Engine, case, cast, exists, func, literal, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

from outreach.models import (
    ISSUE_FINISHED,
    Campaign,
    Delivery,
    DeliveryStatus,
    Issue,
    IssueReach,
    ReachMark,
)
from outreach.stats.city import WORK_MEM

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Issues a group's masks hold: the bits of a signed 64-bit integer, with room to spare.
BITS = 62
UNSETTLED_ROWS = (DeliveryStatus.PENDING, DeliveryStatus.SENDING)
#: How long the fold waits for a lock before leaving the issue to the next figures.
LOCK_WAIT_MS = 1000
SQLITE_BUSY_MS = 30_000  # outreach.db's busy timeout, restored afterwards


def folded(session: Session, issue_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """The issues among ``issue_ids`` that are folded: their group and bit."""
    if not issue_ids:
        return {}
    rows = session.execute(
        select(IssueReach.issue_id, IssueReach.grp, IssueReach.bit).where(
            IssueReach.issue_id.in_(issue_ids)
        )
    )
    return {int(i): (int(g), int(b)) for i, g, b in rows}


def fold(session: Session, issue_ids: Sequence[int], now: datetime) -> int:
    """Fold the settled issues among ``issue_ids`` that are not folded yet, in a
    transaction of its own (on another connection of ``session``'s engine).
    Returns how many it folded; 0 when it could not (they stay for the next time)."""
    waiting = [i for i in issue_ids if i not in folded(session, issue_ids)]
    if not waiting:
        return 0
    done = in_own_transaction(
        session, lambda writer: _fold(writer, waiting, now), "fold", durable=False
    )
    if done is None:
        return 0
    issues, marks = done
    if marks:
        _analyze(session, marks)
    return issues


def in_own_transaction(
    session: Session, work: Callable[[Session], T], what: str, *, durable: bool = True
) -> T | None:
    """``work(writer)`` committed in a short transaction of its own, on another
    connection of ``session``'s engine, waiting at most :data:`LOCK_WAIT_MS` for a
    lock; None when it could not run (an in-memory database has one connection) or
    the database was busy (it is left to the next figures). Not ``durable``: its
    commit does not wait for the disk (PostgreSQL's ``synchronous_commit``), for work
    that a crash may lose whole (it is done again)."""
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    if engine.url.database in (None, "", ":memory:"):
        return None
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection if conn.dialect.name == "sqlite" else None
        if raw is not None:  # a writer busy elsewhere: leave it to the next figures
            raw.execute(f"PRAGMA busy_timeout = {LOCK_WAIT_MS}")
        try:
            with Session(bind=conn) as writer:
                if raw is None:
                    writer.execute(text(f"SET LOCAL lock_timeout = '{LOCK_WAIT_MS}ms'"))
                    writer.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
                    if not durable:
                        writer.execute(text("SET LOCAL synchronous_commit = off"))
                try:
                    done = work(writer)
                    writer.commit()
                except DBAPIError as exc:  # busy, or done by another process meanwhile
                    writer.rollback()
                    log.info("statistics: %s not done now (%s)", what, exc)
                    return None
                return done
        finally:
            if raw is not None:
                raw.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_MS}")


def _analyze(session: Session, added: int) -> None:
    """PostgreSQL's statistics of the marks after a fold that added ``added`` rows,
    when they are a tenth of what it knew of (or it knew nothing): without them it
    takes the new rows for a few and joins them to the subscribers one by one. Best
    effort (autovacuum does it too, later)."""
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    if engine.dialect.name != "postgresql":
        return
    try:
        with engine.connect() as conn:
            known = conn.scalar(
                text("SELECT reltuples FROM pg_class WHERE oid = 'reach_marks'::regclass")
            )
            if known is not None and known >= 0 and added < known / 10:
                return
            conn.execute(text(f"SET lock_timeout = '{LOCK_WAIT_MS}ms'"))
            conn.execute(text("ANALYZE reach_marks"))
            conn.execute(text("RESET lock_timeout"))
            conn.commit()
    except DBAPIError as exc:
        log.info("statistics: reach_marks not analysed now (%s)", exc)


def _fold(writer: Session, issue_ids: Sequence[int], now: datetime) -> tuple[int, int]:
    """Fold the settled ones of ``issue_ids``; (issues folded, marks written)."""
    unsettled = exists().where(Delivery.issue_id == Issue.id, Delivery.status.in_(UNSETTLED_ROWS))
    candidates = writer.execute(
        select(Issue.id, Campaign.city_id, Issue.send_started_at)
        .join(Campaign, Campaign.id == Issue.campaign_id)
        .where(
            Issue.id.in_(issue_ids),
            Issue.status.in_(ISSUE_FINISHED),
            Issue.send_started_at.is_not(None),
            ~unsettled,
            ~exists().where(IssueReach.issue_id == Issue.id),
        )
        .order_by(Issue.send_started_at, Issue.id)
    ).all()
    placed: dict[int, dict[int, int]] = {}  # group -> issue -> its bit
    for issue_id, city_id, started in candidates:
        year = started.year if started is not None else now.year  # (never None: see above)
        grp, bit = _place(writer, int(city_id), year)
        writer.add(
            IssueReach(
                issue_id=issue_id, city_id=city_id, year=year, grp=grp, bit=bit,
                folded_at=now,
            )
        )  # fmt: skip
        writer.flush()
        placed.setdefault(grp, {})[issue_id] = bit
    written = 0
    for grp, bits in placed.items():  # one row per subscriber and group, however many issues
        result = writer.execute(_marks(writer, grp, bits))
        written += max(getattr(result, "rowcount", 0) or 0, 0)
    return len(candidates), written


def _place(writer: Session, city_id: int, year: int) -> tuple[int, int]:
    """The group and bit of the next issue of ``city_id`` in ``year``."""
    groups = writer.execute(
        select(IssueReach.grp, func.max(IssueReach.bit))
        .where(IssueReach.city_id == city_id, IssueReach.year == year)
        .group_by(IssueReach.grp)
        .order_by(IssueReach.grp)
    ).all()
    for grp, top in groups:
        if top + 1 < BITS:
            return int(grp), int(top) + 1
    last = writer.scalar(select(func.max(IssueReach.grp)))
    return int(last or 0) + 1, 0


def _marks(writer: Session, grp: int, bits: dict[int, int]) -> Executable:
    """INSERT … SELECT: for each subscriber the issues (``bits``: issue -> its bit)
    were delivered to, their bits (a plain sum: one delivery per issue and subscriber),
    or'ed into the group's marks when it has some."""
    insert = (postgresql if writer.get_bind().dialect.name == "postgresql" else sqlite).insert
    mask = func.sum(
        case({issue: 1 << bit for issue, bit in bits.items()}, value=Delivery.issue_id, else_=0)
    )
    rows = (
        select(literal(grp), Delivery.subscriber_id, cast(mask, BigInteger))
        .where(Delivery.issue_id.in_(list(bits)), Delivery.status == DeliveryStatus.SENT)
        .group_by(Delivery.subscriber_id)
    )
    stmt = insert(ReachMark).from_select(["grp", "subscriber_id", "mask"], rows)
    if writer.scalar(select(exists().where(ReachMark.grp == grp))) is False:
        plain: Executable = stmt  # a new group: nothing to merge with
        return plain
    upsert: Executable = stmt.on_conflict_do_update(
        index_elements=["grp", "subscriber_id"],
        set_={"mask": ReachMark.mask.op("|")(stmt.excluded.mask)},
    )
    return upsert
