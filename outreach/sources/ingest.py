"""The ingest step: fetch every source of the chosen campaigns and store the items.

The run is put together from rooms of its own:

- :mod:`~outreach.sources.plan`: one job per distinct source state, so identical
  definitions are fetched once;
- :mod:`~outreach.sources.pool`: remote sources fetched in a bounded thread pool
  that never touches the database, local ones in the calling thread;
- :mod:`~outreach.sources.state`: each answer stored in the calling thread, one
  transaction per source (so one broken source is reported while the others
  are stored), with its ETag and Last-Modified;
- :mod:`~outreach.sources.store`: the items kept as the source's current view
  (changed ones updated, vanished or cancelled ones retired); a calendar that
  answers 304 is expanded again from the document kept from its last answer,
  so its window of occurrences moves with the clock;
- :mod:`~outreach.sources.report`: the line per source and section.

Nothing here knows a source type: what differs between them is in their
:class:`~outreach.sources.base.Source` subclass.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from outreach.models import SourceStatus
from outreach.settings import Settings
from outreach.sources.base import FetchContext, FetchResult, SourcePlan
from outreach.sources.dedupe import fingerprint
from outreach.sources.fetch import Fetcher
from outreach.sources.plan import Job, plan
from outreach.sources.pool import fetch_all
from outreach.sources.report import Outcome, SourceReport, all_failed
from outreach.sources.state import known_states, save

__all__ = ["SourceReport", "all_failed", "fingerprint", "ingest"]


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
    jobs = plan(config.source_uses(slugs))
    states = known_states(session, [j.key for j in jobs])
    session.commit()  # hold no transaction (or SQLite lock) while fetching

    def context(job: Job) -> FetchContext:
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

    def store(job: Job, result: FetchResult) -> Outcome:
        return save(session, job, result, now)

    outcomes: dict[str, Outcome] = {}
    for job in jobs:
        state = states.get(job.key)
        if state is not None and state.status == SourceStatus.DISABLED:
            error = state.error or "disabled after an earlier answer"
            outcomes[job.key] = Outcome(str(SourceStatus.DISABLED), error=error)
    todo = [j for j in jobs if j.key not in outcomes]
    outcomes.update(fetch_all(todo, context, store, settings.fetch_workers))
    return [
        SourceReport(
            **vars(outcomes[job.key]),
            campaign=campaign,
            section=section,
            source=job.source.describe(),
        )
        for job in jobs
        for campaign, section in job.uses
    ]
