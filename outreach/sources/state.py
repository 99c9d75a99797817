"""Source state bookkeeping: the ``SourceState`` row of each source.

A row per source state key holds the last status, error and warning, the
validators for a conditional request (ETag, Last-Modified) and the document
kept from the last processed answer. They are saved in the same transaction
as the items, i.e. only after the answer was processed; one source's failure
to store is rolled back and recorded on its own, so the others are stored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from outreach.models import SourceState, SourceStatus
from outreach.sources.base import FetchResult
from outreach.sources.plan import Job
from outreach.sources.report import Outcome
from outreach.sources.store import Stored, store_items

__all__ = ["Known", "known_states", "save"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Known:
    """What the database knew about a source before this run."""

    etag: str | None
    last_modified: str | None
    status: SourceStatus
    error: str | None
    cached_body: bytes | None = None


def known_states(session: Session, keys: list[str]) -> dict[str, Known]:
    """What the database knows of the sources ``keys``, by key."""
    query = select(SourceState).where(SourceState.key.in_(keys))
    return {
        s.key: Known(s.etag, s.last_modified, s.status, s.error, s.cached_body)
        for s in session.scalars(query)
    }


def save(session: Session, job: Job, result: FetchResult, now: datetime) -> Outcome:
    """Store one source's result in its own transaction; a failure is reported, not raised."""
    outcome = Outcome(str(result.status), error=result.error, warning=result.warning)
    try:
        stored = _apply(session, job, result, now)
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


def _row(session: Session, job: Job) -> SourceState:
    state = session.scalar(select(SourceState).where(SourceState.key == job.key))
    if state is None:
        state = SourceState(
            key=job.key,
            type=job.source.type_name,
            url=job.source.location(),
            status=SourceStatus.NEW,
            items_seen=0,
        )
        session.add(state)
        session.flush()
    return state


def _record_failure(session: Session, job: Job, error: str, now: datetime) -> None:
    try:
        state = _row(session, job)
        state.status = SourceStatus.ERROR
        state.error = error
        state.last_fetched_at = now
        session.commit()
    except SQLAlchemyError:
        session.rollback()
        log.exception("recording the failure of %s failed", job.source.describe())


def _apply(session: Session, job: Job, result: FetchResult, now: datetime) -> Stored:
    """The answer applied to the source's row and items (flushed, not committed)."""
    state = _row(session, job)
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
