"""Companies reached, and each issue's deliveries handed over, from one mask per subscriber.

Each issue of the period is one bit of a subscriber's mask. The masks come from
two places (:mod:`outreach.stats.marks`): a settled issue's from the folded
marks (a row per subscriber and group of issues), any other's from its delivery
rows, grouped by subscriber in one query. A subscriber has at most one delivery
of an issue (``uq_deliveries_issue_id``), so there a plain ``sum`` of the bits
is their bitwise or: no ``DISTINCT``, which would make PostgreSQL sort the rows
instead of hashing them and SQLite keep a table per group.

The masks give both figures that rest on the deliveries: the companies reached
per period and over all of them (a company is folded here, in Python, because
its key is a case-folded name; see :func:`company`), and the deliveries handed
over per issue (the subscribers with the issue's bit), so the city's page does
not count the same rows a second time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, case, cast, func, select
from sqlalchemy.orm import Session

from outreach.models import Delivery, DeliveryStatus, ReachMark, Subscriber
from outreach.stats import summaries
from outreach.stats.marks import BITS, fold, folded

SIZES = ("micro", "small", "medium", "large")
SIZE_RANK = {size: n for n, size in enumerate(SIZES, 1)}
#: A subscriber as the fold needs it: id, business ID, company name, size's rank, mask.
Row = tuple[int, str | None, str | None, int, int]


def company(business_id: str | None, name: str | None, subscriber_id: int) -> str:
    """A subscriber's company: its business ID, else its name (case-folded), else
    the subscriber."""
    return business_id or (name or "").strip().casefold() or f"#{subscriber_id}"


@dataclass
class Reach:
    """Companies reached: per period, over all of them (``companies``), and over all
    of them by size class (a company's is the largest any of its subscribers gave;
    "": none did); and per issue, its deliveries handed over (to subscribers still
    stored)."""

    per_period: list[int]
    companies: int
    by_size: Counter[str]
    sent: dict[int, int]
    #: The issues read from their delivery rows (not folded, or not settled yet).
    unfolded: list[int] = field(default_factory=list)

    def sizes(self) -> Counter[str]:
        return self.by_size


def reach(
    session: Session,
    periods: dict[int, int],
    count: int,
    *,
    now: datetime | None = None,
    fold_now: bool = True,
) -> Reach:
    """Companies the issues were delivered to; ``periods`` maps an issue id to its
    period's number (0 to ``count`` - 1). Folds the settled issues not folded yet
    (unless not ``fold_now``: they are read from their rows, and listed in
    ``unfolded`` for the caller to fold later); when every issue is folded, the
    result is counted once and kept (:mod:`outreach.stats.summaries`)."""
    if not periods:
        return Reach([0] * count, 0, Counter(), {})
    moment = now or datetime.now(UTC)
    issues = sorted(periods)
    at = summaries.stamp(session)  # first: see outreach.stats.summaries
    place = folded(session, issues)
    waiting = [issue for issue in issues if issue not in place]
    if waiting and fold_now and fold(session, waiting, moment):
        place = folded(session, issues)
    if at is None or len(place) < len(issues):  # an issue still sending (or not folded now)
        return _counted(session, periods, count, place)
    name = summaries.key(place, periods, count)
    kept = summaries.load(session, name, at)
    if kept is not None:
        return Reach(*summaries.from_figures(kept))
    found = _counted(session, periods, count, place)
    figures = summaries.as_figures(found.per_period, found.companies, found.by_size, found.sent)
    summaries.keep(session, name, at, figures, moment)
    return found


def _counted(
    session: Session,
    periods: dict[int, int],
    count: int,
    place: dict[int, tuple[int, int]],
) -> Reach:
    """:func:`reach` counted from the marks of the folded issues (``place``) and the
    delivery rows of the others."""
    per_period = [0] * count
    issues = sorted(periods)
    index = {issue: n for n, issue in enumerate(issues)}  # an issue's bit in the masks here
    sources: list[Iterable[Row]] = []
    groups: dict[int, dict[int, int]] = {}  # group -> its bit -> the bit here
    for issue, (grp, bit) in place.items():
        groups.setdefault(grp, {})[bit] = index[issue]
    for grp, bits in sorted(groups.items()):
        sources.append(_marked(session, grp, bits))
    live = [issue for issue in issues if issue not in place]
    if live:
        sources.append(_delivered(session, live, [index[i] for i in live]))
    rows = sources[0] if len(sources) == 1 else _merged(sources)
    companies: dict[str, int] = {}  # company -> its issues' bits
    ranks: dict[str, int] = {}  # company -> its size's rank (only when known)
    for sid, bid, name, rank, mask in rows:
        key = bid or (name.strip().casefold() if name else "") or f"#{sid}"  # company()
        known = companies.get(key)
        companies[key] = mask if known is None else known | mask
        if rank and rank > ranks.get(key, 0):
            ranks[key] = rank
    bit_period = [periods[issue] for issue in issues]
    for mask, n in Counter(companies.values()).items():
        found = _periods(mask, bit_period)
        for period in range(count):
            if (found >> period) & 1:
                per_period[period] += n
    sent = dict.fromkeys(issues, 0)
    for mask, n in Counter(row[4] for row in rows).items():  # per subscriber
        for bit, issue in enumerate(issues):
            if (mask >> bit) & 1:
                sent[issue] += n
    by_size = Counter({SIZES[rank - 1]: n for rank, n in Counter(ranks.values()).items()})
    if len(companies) > len(ranks):
        by_size[""] = len(companies) - len(ranks)
    return Reach(
        per_period, len(companies), by_size, {issue: n for issue, n in sent.items() if n}, live
    )


def _subscriber(*masks: Any) -> Any:
    size_rank = case(SIZE_RANK, value=Subscriber.size_class, else_=0)
    return select(Subscriber.id, Subscriber.business_id, Subscriber.company_name, size_rank, *masks)


def _marked(session: Session, grp: int, bits: dict[int, int]) -> list[Row]:
    """The folded marks of group ``grp``; ``bits`` maps the group's bits wanted
    here to their bits here."""
    wanted = ReachMark.mask.op("&")(sum(1 << bit for bit in bits))
    query = (
        _subscriber(wanted)
        .join(ReachMark, ReachMark.subscriber_id == Subscriber.id)
        .where(ReachMark.grp == grp, wanted != 0)
    )
    return _renumbered(_fetched(session, query), bits)


def _delivered(session: Session, issues: Sequence[int], here: Sequence[int]) -> list[Row]:
    """The masks of ``issues`` from their delivery rows (``here``: each one's bit here)."""
    columns = []
    for first in range(0, len(issues), BITS):
        bits = {issue: 1 << n for n, issue in enumerate(issues[first : first + BITS])}
        mask = cast(func.sum(case(bits, value=Delivery.issue_id, else_=0)), BigInteger)
        columns.append(mask.label(f"m{first}"))  # (PostgreSQL's sum of bigints is numeric)
    masks = (
        select(Delivery.subscriber_id.label("id"), *columns)
        .where(Delivery.issue_id.in_(issues), Delivery.status == DeliveryStatus.SENT)
        .group_by(Delivery.subscriber_id)
        .subquery()
    )
    parts = [masks.c[f"m{first}"] for first in range(0, len(issues), BITS)]
    rows = _fetched(session, _subscriber(*parts).join(masks, masks.c.id == Subscriber.id))
    if len(parts) > 1:
        rows = [
            (sid, bid, name, rank, sum(int(p or 0) << (n * BITS) for n, p in enumerate(found)))
            for sid, bid, name, rank, *found in rows
        ]
    return _renumbered(rows, dict(enumerate(here)))


def _fetched(session: Session, query: Any) -> list[Any]:
    """The rows of ``query`` as the driver gives them: plain tuples of ints and
    strings, which need none of the result's processing (most of its cost here)."""
    result = session.connection().execute(query)
    try:
        return list(result.cursor.fetchall())
    finally:
        result.close()


def _renumbered(rows: list[Any], bits: dict[int, int]) -> list[Row]:
    """Rows whose masks are in the bits here (``bits``: a bit there -> its bit here)."""
    if all(there == here for there, here in bits.items()):
        return rows
    renumbered: dict[int, int] = {}
    found: list[Row] = []
    for sid, bid, name, rank, mask in rows:
        mine = renumbered.get(mask)
        if mine is None:
            mine = renumbered[mask] = sum(1 << bits[b] for b in bits if (mask >> b) & 1)
        found.append((sid, bid, name, rank, mine))
    return found


def _merged(sources: Iterable[Iterable[Row]]) -> list[Row]:
    """One row per subscriber of rows from several sources (their masks or-ed)."""
    by_id: dict[int, Row] = {}
    for rows in sources:
        for row in rows:
            known = by_id.get(row[0])
            by_id[row[0]] = row if known is None else (*row[:4], known[4] | row[4])
    return list(by_id.values())


def _periods(mask: int, bit_period: list[int]) -> int:
    found = 0
    for bit, period in enumerate(bit_period):
        if (mask >> bit) & 1:
            found |= 1 << period
    return found
