"""The ingest step: fetch every source of the chosen campaigns and store the items.

Identical source definitions are fetched once (keyed by :meth:`Source.state_key`,
per city for ``per_city`` types such as ``stories``). Remote
sources are fetched in parallel in a bounded thread pool that never touches
the database; local sources (``stories``, ``file``) run in the calling
thread. Storing happens in the calling thread, one transaction per source, so
one broken source is reported while the others are stored. ETag and
Last-Modified are saved in the same transaction as the items, i.e. only after
the response was processed.

Each source's answer is stored as its current view (``outreach.sources.store``):
changed items are updated, vanished or cancelled ones retired. A calendar that
answers 304 is expanded again from the document kept from its last answer, so
its window of occurrences moves with the clock.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from outreach.models import SourceState, SourceStatus
from outreach.settings import Settings
from outreach.sources.base import (
    FetchContext,
    FetchResult,
    Source,
    SourcePlan,
    SourceUse,
)
from outreach.sources.fetch import Fetcher
from outreach.sources.store import Stored, fingerprint, store_items

__all__ = ["SourceReport", "all_failed", "fingerprint", "ingest"]

log = logging.getLogger(__name__)


@dataclass
class SourceReport:
    """What happened to one source of one section in one ingest run."""

    campaign: str
    section: str
    source: str
    status: str
    new: int = 0
    updated: int = 0
    error: str | None = None
    warning: str | None = None
    retired: int = 0
    cancelled: int = 0

    def line(self) -> str:
        """One line for ``outreach fetch``."""
        text = f"{self.campaign}/{self.section}: {self.source}: {self.status}"
        if self.status in (SourceStatus.OK, SourceStatus.NOT_MODIFIED):
            counts = f"{self.new} new, {self.updated} updated"
            if self.retired:
                counts += f", {self.retired} retired"
            if self.cancelled:
                counts += f" ({self.cancelled} cancelled at the source)"
            text += f" ({counts})"
        if self.error:
            text += f" - {self.error}"
        if self.warning:
            text += f" [warning: {self.warning}]"
        return text


def all_failed(reports: Iterable[SourceReport]) -> bool:
    """True when there were sources and none of them worked (``outreach fetch`` exits 1)."""
    statuses = [r.status for r in reports]
    ok = (SourceStatus.OK, SourceStatus.NOT_MODIFIED)
    return bool(statuses) and not any(s in ok for s in statuses)


@dataclass
class _Job:
    key: str
    source: Source
    city: str
    timezone: str
    languages: list[str]
    horizon_days: int
    uses: list[tuple[str, str]] = field(default_factory=list)


def _plan(uses: list[SourceUse]) -> list[_Job]:
    """One job per distinct source state (identical definitions are fetched once)."""
    jobs: dict[str, _Job] = {}
    for use in uses:
        key = use.source.state_key(use.city)
        job = jobs.get(key)
        if job is None:
            job = jobs[key] = _Job(key, use.source, use.city, use.timezone, [], 0)
        job.languages = list(dict.fromkeys([*job.languages, *use.languages]))
        job.horizon_days = max(job.horizon_days, use.horizon_days)
        job.uses.append((use.campaign, use.section))
    return list(jobs.values())


def _safe_fetch(source: Source, ctx: FetchContext) -> FetchResult:
    try:
        return source.fetch(ctx)
    except Exception as exc:  # a broken source is reported, never raised
        log.exception("source %s failed", source.describe())
        return FetchResult(SourceStatus.ERROR, error=f"internal error: {exc.__class__.__name__}")


def ingest(
    session: Session,
    settings: Settings,
    config: SourcePlan,
    slugs: list[str] | None = None,
    *,
    now: datetime | None = None,
    fetcher: Fetcher | None = None,
) -> list[SourceReport]:
    """Fetch and store every source of the chosen newsletter campaigns (all if None).

    Commits once per source. Never raises for a broken source.
    """
    now = now or datetime.now(UTC)
    fetcher = fetcher or Fetcher(settings)
    jobs = _plan(config.source_uses(slugs))
    keys = [j.key for j in jobs]
    query = select(SourceState).where(SourceState.key.in_(keys))
    states = {
        s.key: _Known(s.etag, s.last_modified, s.status, s.error, s.cached_body)
        for s in session.scalars(query)
    }
    session.commit()  # hold no transaction (or SQLite lock) while fetching

    def context(job: _Job) -> FetchContext:
        state = states.get(job.key)
        return FetchContext(
            settings=settings,
            fetcher=fetcher,
            now=now,
            timezone=job.timezone,
            languages=job.languages,
            city=job.city,
            horizon_days=job.horizon_days,
            etag=state.etag if state else None,
            last_modified=state.last_modified if state else None,
            session=None if job.source.remote else session,
            root=config.root,
            language=job.languages[0] if job.languages else "fi",
            cached_body=state.cached_body if state else None,
        )

    outcomes: dict[str, _Outcome] = {}
    for job in jobs:
        state = states.get(job.key)
        if state is not None and state.status == SourceStatus.DISABLED:
            error = state.error or "disabled after an earlier answer"
            outcomes[job.key] = _Outcome(str(SourceStatus.DISABLED), error=error)
    remote = [j for j in jobs if j.source.remote and j.key not in outcomes]
    local = [j for j in jobs if not j.source.remote and j.key not in outcomes]
    workers = max(1, min(settings.fetch_workers, len(remote) or 1))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fetch") as pool:
        futures = {pool.submit(_safe_fetch, j.source, context(j)): j for j in remote}
        for job in local:  # in this thread: they may read the database
            outcomes[job.key] = _save(session, job, _safe_fetch(job.source, context(job)), now)
        for future in as_completed(futures):  # store each as soon as it is parsed
            job = futures[future]
            outcomes[job.key] = _save(session, job, future.result(), now)
    return [
        SourceReport(campaign, section, job.source.describe(), **vars(outcomes[job.key]))
        for job in jobs
        for campaign, section in job.uses
    ]


@dataclass(frozen=True)
class _Known:
    """What the database knew about a source before this run."""

    etag: str | None
    last_modified: str | None
    status: SourceStatus
    error: str | None
    cached_body: bytes | None = None


@dataclass
class _Outcome:
    status: str
    new: int = 0
    updated: int = 0
    error: str | None = None
    warning: str | None = None
    retired: int = 0
    cancelled: int = 0


def _save(session: Session, job: _Job, result: FetchResult, now: datetime) -> _Outcome:
    """Store one source's result in its own transaction; a failure is reported, not raised."""
    outcome = _Outcome(str(result.status), error=result.error, warning=result.warning)
    try:
        stored = _store(session, job, result, now)
        session.commit()
        outcome.new, outcome.updated = stored.new, stored.updated
        outcome.retired, outcome.cancelled = stored.retired, stored.cancelled
    except SQLAlchemyError as exc:
        session.rollback()
        log.exception("storing %s failed", job.source.describe())
        outcome.status = str(SourceStatus.ERROR)
        outcome.error = f"storing failed: {exc.__class__.__name__}"
        _record_failure(session, job, outcome.error, now)
    log.info(
        "source %s: %s (%d new, %d updated)%s",
        job.source.describe(),
        outcome.status,
        outcome.new,
        outcome.updated,
        f": {outcome.error}" if outcome.error else "",
    )
    return outcome


def _state(session: Session, job: _Job) -> SourceState:
    state = session.scalar(select(SourceState).where(SourceState.key == job.key))
    if state is None:
        url: Any = getattr(job.source.options, "url", None) or getattr(
            job.source.options, "path", None
        )
        state = SourceState(
            key=job.key, type=job.source.type_name, url=url, status=SourceStatus.NEW, items_seen=0
        )
        session.add(state)
        session.flush()
    return state


def _record_failure(session: Session, job: _Job, error: str, now: datetime) -> None:
    try:
        state = _state(session, job)
        state.status = SourceStatus.ERROR
        state.error = error
        state.last_fetched_at = now
        session.commit()
    except SQLAlchemyError:
        session.rollback()
        log.exception("recording the failure of %s failed", job.source.describe())


def _store(session: Session, job: _Job, result: FetchResult, now: datetime) -> Stored:
    state = _state(session, job)
    state.last_fetched_at = now
    state.status = result.status
    state.error = result.error
    state.warning = result.warning
    if result.status == SourceStatus.NOT_MODIFIED:
        state.last_ok_at = now
        state.etag = result.etag or state.etag
        state.last_modified = result.last_modified or state.last_modified
        if not result.current:
            return Stored()
        state.items_seen = len(result.items)
        return store_items(session, state, job.source.item_kind, result, now)
    if result.status == SourceStatus.DISABLED:
        state.etag = state.last_modified = None
        state.cached_body = None
        return Stored()
    if result.status != SourceStatus.OK:
        return Stored()
    stored = store_items(session, state, job.source.item_kind, result, now)
    state.etag = result.etag
    state.last_modified = result.last_modified
    state.last_ok_at = now
    state.items_seen = len(result.items)
    state.cached_body = result.cache
    return stored
