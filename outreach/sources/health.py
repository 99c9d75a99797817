"""Each source's health: its last fetch, failures in a row, disabling and re-enabling.

:func:`fetch` runs the ingest step (all of a plan's sources, or only some state
keys: the console's "fetch now") and then records per source what the fetch
gave: the HTTP status as far as it is known, the items new to the database,
and failures in a row. A source is disabled after a 410 Gone (the ingest step)
or after :data:`MAX_FAILURES` failures in a row (here); a disabled source is
not fetched until :func:`enable` clears it. :func:`overview` is what the
console's sources page shows; :func:`try_source` is its "try this source".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.models import ContentItem, SourceState, SourceStatus
from outreach.settings import Settings
from outreach.sources.base import FetchContext, Source, SourcePlan, SourceUse
from outreach.sources.fetch import Fetcher
from outreach.sources.ingest import SourceReport, ingest
from outreach.sources.store import item_fields

#: Failed fetches in a row after which a source is disabled.
MAX_FAILURES = 5
_HTTP = re.compile(r"\b(?:HTTP|answered) ([1-5]\d\d)\b")


def http_status(status: str, error: str | None) -> int | None:
    """The HTTP status of a fetch as far as its outcome tells it."""
    if status == SourceStatus.OK:
        return 200
    if status == SourceStatus.NOT_MODIFIED:
        return 304
    found = _HTTP.search(error or "")
    return int(found[1]) if found else None


@dataclass(frozen=True)
class _Only:
    """A plan with only some of another plan's source uses."""

    base: SourcePlan
    uses: list[SourceUse]

    @property
    def root(self) -> Path:
        return self.base.root

    def source_uses(self, slugs: list[str] | None = None) -> list[SourceUse]:
        return [u for u in self.uses if slugs is None or u.campaign in slugs]


def key_of(use: SourceUse) -> str:
    return use.source.state_key(use.city)


def fetch(
    session: Session,
    settings: Settings,
    plan: SourcePlan,
    slugs: list[str] | None = None,
    *,
    keys: Iterable[str] | None = None,
    now: datetime | None = None,
    fetcher: Fetcher | None = None,
) -> list[SourceReport]:
    """Ingest the plan's sources (only ``keys`` when given) and record their health."""
    now = now or datetime.now(UTC)
    uses = plan.source_uses(slugs)
    if keys is not None:
        wanted = set(keys)
        uses = [u for u in uses if key_of(u) in wanted]
    reports = ingest(session, settings, _Only(plan, uses), None, now=now, fetcher=fetcher)
    by_use = {(u.campaign, u.section, u.source.describe()): key_of(u) for u in uses}
    outcomes: dict[str, SourceReport] = {}
    for report in reports:
        key = by_use.get((report.campaign, report.section, report.source))
        if key is not None:
            outcomes.setdefault(key, report)
    record(session, outcomes, now)
    return reports


def record(session: Session, outcomes: dict[str, SourceReport], now: datetime) -> None:
    """Note each source's fetch; disable one at :data:`MAX_FAILURES` failures in a row."""
    if not outcomes:
        return
    states = session.scalars(select(SourceState).where(SourceState.key.in_(list(outcomes))))
    for state in states:
        report = outcomes[state.key]
        if report.status == SourceStatus.DISABLED and state.last_fetched_at != now:
            continue  # skipped: disabled before this run
        state.last_http_status = http_status(report.status, report.error)
        state.last_new = report.new
        if report.status in (SourceStatus.OK, SourceStatus.NOT_MODIFIED):
            state.failures = 0
        elif report.status == SourceStatus.ERROR:
            state.failures = (state.failures or 0) + 1
            if state.failures >= MAX_FAILURES:
                state.status = SourceStatus.DISABLED
                state.error = f"disabled after {state.failures} failed fetches in a row: " + (
                    state.error or "?"
                )
    session.commit()


def enable(session: Session, key: str) -> SourceState | None:
    """Make a disabled source fetched again (None: no such source)."""
    state = session.scalar(select(SourceState).where(SourceState.key == key))
    if state is None:
        return None
    state.status = SourceStatus.NEW
    state.failures = 0
    state.error = None
    state.etag = state.last_modified = None
    session.flush()
    return state


@dataclass
class SourceHealth:
    """One source of a city as the sources page shows it."""

    key: str
    type: str
    describe: str
    uses: list[tuple[str, str]] = field(default_factory=list)  # (campaign, section)
    status: str = SourceStatus.NEW
    last_fetched_at: datetime | None = None
    last_ok_at: datetime | None = None
    http_status: int | None = None
    items_found: int | None = None
    new_items: int | None = None
    error: str | None = None
    failures: int = 0
    next_fetch: datetime | None = None

    @property
    def disabled(self) -> bool:
        return self.status == SourceStatus.DISABLED


def overview(
    session: Session, uses: Iterable[SourceUse], *, now: datetime, every: timedelta
) -> list[SourceHealth]:
    """The sources of ``uses`` with their state; ``every``: the periodic fetch interval."""
    found: dict[str, SourceHealth] = {}
    for use in uses:
        key = key_of(use)
        row = found.get(key)
        if row is None:
            row = found[key] = SourceHealth(key, use.source.type_name, use.source.describe())
        row.uses.append((use.campaign, use.section))
    states = session.scalars(select(SourceState).where(SourceState.key.in_(list(found))))
    for state in states:
        row = found[state.key]
        row.status = str(state.status)
        row.last_fetched_at = state.last_fetched_at
        row.last_ok_at = state.last_ok_at
        row.http_status = state.last_http_status
        row.items_found = state.items_seen
        row.new_items = state.last_new
        row.error = state.error
        row.failures = state.failures or 0
    for row in found.values():
        if not row.disabled:
            last = row.last_fetched_at
            row.next_fetch = max(now, last + every) if last is not None else now
    return sorted(found.values(), key=lambda r: (not r.disabled, r.type, r.describe))


@dataclass
class Trial:
    """What one source gives now: its status, error, and items (never stored)."""

    status: str
    error: str | None
    items: list[ContentItem]


def try_source(
    settings: Settings,
    source: Source,
    *,
    city: str,
    timezone: str,
    languages: list[str],
    horizon_days: int = 60,
    now: datetime | None = None,
    fetcher: Fetcher | None = None,
    session: Session | None = None,
    root: Path | None = None,
) -> Trial:
    """Fetch ``source`` through the safe fetcher (the same SSRF rules as every fetch)
    and parse it; the items are unsaved ContentItem objects, sanitised as stored ones."""
    ctx = FetchContext(
        settings=settings,
        fetcher=fetcher or Fetcher(settings),
        now=now or datetime.now(UTC),
        timezone=timezone,
        languages=languages,
        city=city,
        horizon_days=horizon_days,
        session=None if source.remote else session,
        root=root,
        language=languages[0] if languages else "fi",
    )
    try:
        result = source.fetch(ctx)
    except Exception as exc:  # a broken source is reported, as in the ingest step
        return Trial(str(SourceStatus.ERROR), f"internal error: {exc.__class__.__name__}", [])
    items = [
        ContentItem(external_id=raw.external_id, **item_fields(raw, source.item_kind))
        for raw in result.items
    ]
    return Trial(str(result.status), result.error, items)
