"""Who a set of folded issues reached, counted once and kept (``reach_summaries``).

The reach of settled issues (:mod:`outreach.stats.marks`) still means a row per
subscriber and a company per row, on every page. Its result only changes when
the issues change (another is folded: a new set, so a new key; the purge unfolds
one) or a subscriber does: one is deleted (their marks go with them) or their
business ID, company name or size class changes (they count for another
company). The database raises ``reach_stamp.n`` on each of those but a fold
(triggers on ``subscribers`` and ``issue_reach``, so every writer counts, SQL
typed by hand included). A summary is kept with the stamp read *before* anything
it was counted from (the folded issues included), and used only while the stamp
is still that number: a change that came between the reads makes the summary
older than it is, never newer.

When a trigger is missing (a schema a migration rebuilt without it) there is no
stamp, and the figures are counted from the marks every time.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from outreach.models import REACH_STAMP_TRIGGERS, ReachStamp, ReachSummary
from outreach.stats.marks import in_own_transaction

#: A summary not made again for this long is dropped when another is kept.
KEPT = timedelta(days=7)

_TRIGGERS_OF = {
    "sqlite": "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name IN ({names})",
    "postgresql": "SELECT count(*) FROM pg_trigger WHERE tgenabled <> 'D' AND tgname IN ({names})",
}


def stamp(session: Session) -> int | None:
    """The stamp now (read first: before the rows a summary is counted from), or
    None when the database has no stamp kept by both triggers."""
    dialect = session.get_bind().dialect.name
    if dialect not in _TRIGGERS_OF:
        return None
    names = ", ".join(f"'{name}'" for name in REACH_STAMP_TRIGGERS)
    triggers = _TRIGGERS_OF[dialect].format(names=names)
    found = session.execute(
        select(ReachStamp.n).where(
            ReachStamp.id == 1, text(f"({triggers}) = {len(REACH_STAMP_TRIGGERS)}")
        )
    ).first()
    return None if found is None else int(found[0])


def key(place: dict[int, tuple[int, int]], periods: dict[int, int], count: int) -> str:
    """The summary's key: each issue with its group and bit and its period, and the
    number of periods."""
    parts = [[issue, grp, bit, periods[issue]] for issue, (grp, bit) in sorted(place.items())]
    return hashlib.sha256(json.dumps([count, parts]).encode()).hexdigest()


def load(session: Session, name: str, at: int) -> dict[str, Any] | None:
    """The summary ``name`` when it was made at stamp ``at``."""
    found = session.execute(
        select(ReachSummary.figures).where(ReachSummary.key == name, ReachSummary.stamp == at)
    ).first()
    return None if found is None else dict(found[0])


def as_figures(
    per_period: list[int], companies: int, by_size: Counter[str], sent: dict[int, int]
) -> dict[str, Any]:
    return {
        "per_period": per_period,
        "companies": companies,
        "by_size": dict(by_size),
        "sent": {str(issue): n for issue, n in sent.items()},
    }


def from_figures(
    figures: dict[str, Any],
) -> tuple[list[int], int, Counter[str], dict[int, int]]:
    return (
        [int(n) for n in figures["per_period"]],
        int(figures["companies"]),
        Counter({str(k): int(v) for k, v in figures["by_size"].items()}),
        {int(k): int(v) for k, v in figures["sent"].items()},
    )


def keep(session: Session, name: str, at: int, figures: dict[str, Any], now: datetime) -> bool:
    """Keep a summary, in a transaction of its own; drops those of older stamps and
    those not made for :data:`KEPT`. False when it could not (the next figures count
    again)."""
    done = in_own_transaction(
        session, lambda writer: _write(writer, name, at, figures, now), "a reach summary"
    )
    return bool(done)


def _write(writer: Session, name: str, at: int, figures: dict[str, Any], now: datetime) -> bool:
    writer.execute(
        delete(ReachSummary).where((ReachSummary.stamp != at) | (ReachSummary.made_at < now - KEPT))
    )
    insert = (postgresql if writer.get_bind().dialect.name == "postgresql" else sqlite).insert
    stmt = insert(ReachSummary).values(key=name, stamp=at, figures=figures, made_at=now)
    excluded = stmt.excluded
    update = {"stamp": excluded.stamp, "figures": excluded.figures, "made_at": excluded.made_at}
    writer.execute(stmt.on_conflict_do_update(index_elements=["key"], set_=update))
    return True
