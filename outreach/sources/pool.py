"""The fetch pool: remote sources in parallel threads, local ones in the caller's.

A remote source (``Source.remote``) is read over HTTP in a bounded thread pool
that never touches the database; a local one may read the database, so it runs
in the calling thread. Each result is handed to ``save`` in the calling thread
as soon as it is parsed. A source that raises is reported as an error result,
never raised.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import TypeVar

from outreach.models import SourceStatus
from outreach.sources.base import FetchContext, FetchResult, Source
from outreach.sources.plan import Job

__all__ = ["fetch_all", "safe_fetch"]

log = logging.getLogger(__name__)

T = TypeVar("T")


def safe_fetch(source: Source, ctx: FetchContext) -> FetchResult:
    """``source.fetch(ctx)``; an exception becomes an error result (and a log line)."""
    try:
        return source.fetch(ctx)
    except Exception as exc:  # a broken source is reported, never raised
        log.exception("source %s failed", source.describe())
        return FetchResult(SourceStatus.ERROR, error=f"internal error: {exc.__class__.__name__}")


def fetch_all(
    jobs: list[Job],
    context: Callable[[Job], FetchContext],
    save: Callable[[Job, FetchResult], T],
    workers: int,
) -> dict[str, T]:
    """Fetch every job and ``save`` each result in this thread; by job key."""
    remote = [j for j in jobs if j.source.remote]
    local = [j for j in jobs if not j.source.remote]
    saved: dict[str, T] = {}
    size = max(1, min(workers, len(remote) or 1))
    with ThreadPoolExecutor(max_workers=size, thread_name_prefix="fetch") as pool:
        futures = {pool.submit(safe_fetch, j.source, context(j)): j for j in remote}
        for job in local:  # in this thread: they may read the database
            saved[job.key] = save(job, safe_fetch(job.source, context(job)))
        for future in as_completed(futures):  # store each as soon as it is parsed
            job = futures[future]
            saved[job.key] = save(job, future.result())
    return saved
