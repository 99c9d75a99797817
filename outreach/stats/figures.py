"""The figures a face shows: a city's year, one issue, the year's indicators, the region.

Each function returns :class:`~outreach.stats.tables.Table` rows computed in a
few grouped queries (the delivery rows are never loaded one by one), so the
city's page stays fast with a million deliveries (bench/bench_stats.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.campaigns import Config
from outreach.errors import StatsError, msg
from outreach.l10n import LANGUAGES
from outreach.models import Story, StoryStatus
from outreach.stats.city import (
    SME,
    SUB_COLUMNS,
    IssueRef,
    Month,
    _in,
    city_id,
    clicks_per_issue,
    delivery_counts,
    leads_contacted,
    months,
    promoted,
    roomy,
    started_issues,
)
from outreach.stats.reach import Reach, reach
from outreach.stats.subscribers import bounced_people, segment_tables, subscriber_months
from outreach.stats.tables import Table, t

__all__ = [
    "CityFigures", "city_figures", "region_indicators", "year_indicators", "year_reach",
]  # fmt: skip


@dataclass
class CityFigures:
    city: str
    year: int
    tables: list[Table]
    #: The year's issues read from their delivery rows (not folded, or still sending).
    unfolded: list[int] = field(default_factory=list)

    def table(self, key: str) -> Table:
        for table in self.tables:
            if table.key == key:
                return table
        raise StatsError(
            msg("no table {key} (there are: {known})"),
            key=repr(key),
            known=", ".join(t.key for t in self.tables),
        )


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


def _stories(session: Session, city: int) -> list[tuple[datetime | None, str]]:
    rows = session.execute(
        select(Story.decided_at, Story.company_name).where(
            Story.city_id == city,
            Story.status == StoryStatus.APPROVED,
            Story.consent_to_publish.is_(True),
        )
    )
    return [(when, (name or "").strip().casefold()) for when, name in rows]


MONTHLY_COLUMNS = [
    ("month", "Month"), *SUB_COLUMNS, ("issues", "Issues sent"), ("delivered", "Delivered"),
    ("reached", "Companies reached"), ("clicks", "Clicks"), ("events", "Events promoted"),
    ("trainings", "Trainings promoted"), ("stories", "Stories published"), ("leads", "Leads"),
]  # fmt: skip


@dataclass
class _Year:
    """A city's year so far: its months, the issues whose send started in it and the
    month of each, and who they reached."""

    city: int
    span: list[Month]
    issues: list[IssueRef]
    month_of: dict[int, int]
    reached: Reach


def _year(
    session: Session, config: Config, city: str, year: int, moment: datetime, fold_now: bool
) -> _Year:
    cid = city_id(session, config, city)
    span = months(year, config.cities[city].timezone, moment)
    issues = started_issues(session, [cid], span[0].start, span[-1].end, counts=False)
    month_of = {i.id: n for n, m in enumerate(span) for i in issues if m.start <= i.started < m.end}
    reached = reach(session, month_of, len(span), now=moment, fold_now=fold_now)
    return _Year(cid, span, issues, month_of, reached)


def year_reach(
    session: Session, config: Config, city: str, year: int, *, now: datetime | None = None
) -> Reach:
    """Who ``city``'s issues of ``year`` reached, as :func:`city_figures` counts it (and
    keeps it: ``outreach.stats.summaries``)."""
    return _year(session, config, city, year, _now(now), True).reached


def city_figures(
    session: Session,
    config: Config,
    city: str,
    year: int,
    *,
    now: datetime | None = None,
    segments: bool = True,
    fold_now: bool = True,
) -> CityFigures:
    """``city``'s figures for ``year``: by month, the year's totals, and by segment
    (unless ``segments`` is false: the dashboard shows the others). A settled issue
    not folded yet is folded now, or, unless ``fold_now``, read from its rows and
    listed in ``unfolded`` (a page folds it after its answer: ``settle``)."""
    moment = _now(now)
    roomy(session)
    found = _year(session, config, city, year, moment, fold_now)
    cid, span, issues, month_of, reached = (
        found.city, found.span, found.issues, found.month_of, found.reached,
    )  # fmt: skip
    start, end = span[0].start, span[-1].end
    ids = [i.id for i in issues]
    clicks = clicks_per_issue(session, ids)
    events = promoted(session, ids)
    bounced = bounced_people(session, cid)
    stories = _stories(session, cid)
    rows: list[dict[str, Any]] = []
    # the deliveries handed over, from the masks; an issue without one: its rows' counts
    # (none, or all purged: its snapshot's)
    delivered = dict(reached.sent)
    others = [i for i in ids if i not in delivered]
    for issue_id, counts in delivery_counts(session, others).items():
        delivered[issue_id] = counts.get("sent", 0)
    subs = subscriber_months(session, cid, span, bounced)
    for n, month in enumerate(span):
        mine = [i for i in issues if month_of[i.id] == n]
        mine_ids = [i.id for i in mine]
        rows.append(
            {
                "month": month.key,
                "confirmed": subs["confirmed"][n],
                "new": subs["new"][n],
                "unsubscribed": subs["unsubscribed"][n],
                "bounced": subs["bounced"][n],
                "issues": len(mine),
                "delivered": sum(delivered.get(i, 0) for i in mine_ids),
                "reached": reached.per_period[n],
                "clicks": sum(clicks.get(i, 0) for i in mine_ids),
                "events": sum(events.get(i, (0, 0))[0] for i in mine_ids),
                "trainings": sum(events.get(i, (0, 0))[1] for i in mine_ids),
                "stories": sum(_in(when, month.start, month.end) for when, _ in stories),
                "leads": subs["leads"][n],
            }
        )
    monthly = Table(
        "monthly", "By month", MONTHLY_COLUMNS, rows, chart=["confirmed", "reached", "clicks"]
    )
    sizes = reached.sizes()
    companies = reached.companies
    published = {name for when, name in stories if _in(when, start, end) and name}
    total = {key: sum(int(r[key]) for r in rows) for key, _ in MONTHLY_COLUMNS[5:]}
    total["reached"] = companies
    totals = Table(
        "totals",
        "The year",
        [("indicator", "Figure"), ("value", "Value")],
        [
            {"indicator": "Companies reached", "value": companies},
            {"indicator": "of them SMEs", "value": sum(sizes[s] for s in SME)},
            {"indicator": "of them medium-sized", "value": sizes["medium"]},
            {"indicator": "Issues sent", "value": total["issues"]},
            {"indicator": "Delivered", "value": total["delivered"]},
            {"indicator": "Clicks", "value": total["clicks"]},
            {"indicator": "Stories published", "value": total["stories"]},
            {"indicator": "Companies with a published climate action", "value": len(published)},
            {"indicator": "Events promoted", "value": total["events"]},
            {"indicator": "Trainings promoted", "value": total["trainings"]},
            {"indicator": "Leads", "value": total["leads"]},
            {"indicator": "Leads contacted", "value": leads_contacted(session, cid, start, end)},
        ],
    )
    indicators = Table(
        "indicators",
        "The year's indicators",
        INDICATOR_COLUMNS,
        [{"city": city, **_row(reached, total["stories"], total["events"])}],
        names={"city": city_names(config)},
    )
    by_segment = segment_tables(session, cid, start, end, bounced) if segments else []
    for table in by_segment:
        table.names.setdefault("segment", {}).update(segment_names(config, table.key))
    tables = [monthly, totals, indicators, *by_segment]
    return CityFigures(city, year, tables, list(reached.unfolded))


INDICATOR_COLUMNS = [
    ("city", "City"), ("reached", "Companies reached"), ("sme_share", "Share of SMEs (%)"),
    ("medium_share", "Share of medium-sized companies (%)"),
    ("actions", "Climate actions made visible"), ("events", "Events promoted"),
]  # fmt: skip


def _share(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def _indicators(
    session: Session, config: Config, cities: list[str], year: int, moment: datetime
) -> tuple[dict[str, Any], list[int]]:
    """One row of indicators over ``cities`` and the issue ids it covers."""
    ids: list[int] = []
    actions = events = 0
    roomy(session)
    for slug in cities:
        cid = city_id(session, config, slug)
        span: list[Month] = months(year, config.cities[slug].timezone, moment)
        start, end = span[0].start, span[-1].end
        mine = [i.id for i in started_issues(session, [cid], start, end, counts=False)]
        ids += mine
        actions += sum(_in(when, start, end) for when, _ in _stories(session, cid))
        events += sum(n for n, _ in promoted(session, mine).values())
    return _row(reach(session, dict.fromkeys(ids, 0), 1, now=moment), actions, events), ids


def _row(reached: Reach, actions: int, events: int) -> dict[str, Any]:
    sizes = reached.sizes()
    known = sum(n for size, n in sizes.items() if size)
    return {
        "reached": reached.companies,
        "sme_share": _share(sum(sizes[s] for s in SME), known),
        "medium_share": _share(sizes["medium"], known),
        "actions": actions,
        "events": events,
    }


def year_indicators(
    session: Session, config: Config, city: str, year: int, *, now: datetime | None = None
) -> Table:
    """The figures a city reports upward for ``year``, in one row."""
    row, _ = _indicators(session, config, [city], year, _now(now))
    return Table("indicators", "The year's indicators", INDICATOR_COLUMNS, [{"city": city, **row}],
                 names={"city": city_names(config)})  # fmt: skip


def region_indicators(
    session: Session, config: Config, year: int, *, now: datetime | None = None
) -> Table:
    """The indicators of every city and of the region (a company reached by two
    cities counts once in the region's row)."""
    moment = _now(now)
    rows = []
    for slug in sorted(config.cities):
        row, _ = _indicators(session, config, [slug], year, moment)
        rows.append({"city": slug, **row})
    total, _ = _indicators(session, config, sorted(config.cities), year, moment)
    rows.append({"city": "*", **total})
    names = {**city_names(config), "*": {lang: t(lang, "The region") for lang in LANGUAGES}}
    return Table("region", "The region's indicators", INDICATOR_COLUMNS, rows,
                 names={"city": names})  # fmt: skip


#: A subscriber's size class as the stats catalog names it.
SIZE_NAMES = {
    "micro": "micro (under 10 employees)",
    "small": "small (10–49 employees)",
    "medium": "medium-sized (50–249 employees)",
    "large": "large (250 or more employees)",
}


def city_names(config: Config) -> dict[str, dict[str, str]]:
    """Each city's name in every language it has (for :attr:`Table.names`)."""
    return {slug: {str(k): v for k, v in c.name.items()} for slug, c in config.cities.items()}


def segment_names(config: Config, key: str) -> dict[str, dict[str, str]]:
    """A segment table's values as a person reads them: topics by their names in
    ``cities.yaml``, size classes by the stats catalog, and ``?`` (not given)."""
    names = {"?": {lang: t(lang, "not given") for lang in LANGUAGES}}
    if key == "topic":
        names.update({code: dict(text) for code, text in config.topics.items()})
    elif key == "size_class":
        for code, msgid in SIZE_NAMES.items():
            names[code] = {lang: t(lang, msgid) for lang in LANGUAGES}
    return names
