"""The leader's APScheduler jobs: made to match the campaign files, and read back.

:func:`sync_jobs` writes one job per campaign (``campaign:<slug>``) and the
periodic ``periodic:fetch`` and ``periodic:purge`` into the job store (the
``apscheduler_jobs`` table). A periodic job already in the store keeps its next
run time, so neither a reload nor a new leader pushes the fetch and purge back
by a whole interval; a changed interval counts from the last run.
:func:`stored_next_runs` reads the store for ``outreach status``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, inspect, text

from outreach.campaigns import Config
from outreach.scheduler.timing import send_at_utc

log = logging.getLogger(__name__)

#: APScheduler's own table; alembic autogenerate must ignore it.
JOBS_TABLE = "apscheduler_jobs"


def make_scheduler(engine: Engine, listener: Callable[[Any], None]) -> Any:
    """A BackgroundScheduler on the database's job store; ``listener`` hears misses, errors."""
    from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    class SharedEngineJobStore(SQLAlchemyJobStore):  # type: ignore[misc]
        """APScheduler's store, except that stopping the scheduler (a leader stepping
        down, the daemon stopping) leaves the engine alone: the daemon's other threads
        use it. Disposed of under them, the connections they hold go back to the pool
        it dropped and are garbage-collected still open."""

        def shutdown(self) -> None:
            pass

    sched = BackgroundScheduler(
        jobstores={"default": SharedEngineJobStore(engine=engine, tablename=JOBS_TABLE)},
        executors={"default": ThreadPoolExecutor(4)},
        job_defaults={"coalesce": True, "max_instances": 1},
        timezone=UTC,
    )
    sched.add_listener(listener, EVENT_JOB_MISSED | EVENT_JOB_ERROR)
    return sched


def _campaign_jobs(config: Config, now: datetime) -> dict[str, tuple[str, Any, int]]:
    from apscheduler.triggers.date import DateTrigger

    wanted: dict[str, tuple[str, Any, int]] = {}
    for slug, camp in config.campaigns.items():
        if slug in config.paused:
            continue  # a paused or archived console campaign
        tz = config.city_of(camp).timezone
        if camp.schedule is not None:
            trigger = camp.schedule.trigger(tz)
        else:
            at = send_at_utc(camp, tz)
            if at is None or at <= now:
                continue  # a past one-off is the catch-up's business
            trigger = DateTrigger(run_date=at)
        name = f"{slug} [{config.hashes.get(slug, '')[:12]}]"
        wanted[f"campaign:{slug}"] = (name, trigger, max(1, camp.grace_minutes * 60))
    return wanted


def sync_jobs(
    sched: Any,
    config: Config,
    *,
    campaign_func: Callable[[str], None],
    periodic_func: Callable[[str], None],
    periodic: dict[str, float],
    now: datetime,
    replace_all: bool,
) -> None:
    """Make the store's jobs match ``config`` and the ``periodic`` intervals (seconds)."""
    from apscheduler.triggers.interval import IntervalTrigger

    wanted = _campaign_jobs(config, now)
    existing = {job.id: job for job in sched.get_jobs(jobstore="default")}
    for job_id in existing:
        gone = job_id.startswith("campaign:") and job_id not in wanted
        # a periodic job no longer wanted (the bounce mailbox was unset)
        if gone or (job_id.startswith("periodic:") and job_id[9:] not in periodic):
            sched.remove_job(job_id, jobstore="default")
            log.info("removed job %s", job_id)
    for job_id, (name, trigger, grace) in wanted.items():
        old = existing.get(job_id)
        if old is not None and old.name == name and not replace_all:
            continue
        sched.add_job(
            campaign_func,
            trigger,
            args=[job_id.removeprefix("campaign:")],
            id=job_id,
            name=name,
            jobstore="default",
            replace_existing=True,
            misfire_grace_time=grace,
            coalesce=True,
            max_instances=1,
        )
        log.info("%s job %s: %s", "changed" if old else "added", job_id, trigger)
    wall = datetime.now(UTC)  # APScheduler runs on the real clock
    for task, every in periodic.items():
        job_id = f"periodic:{task}"
        old = existing.get(job_id)
        interval = timedelta(seconds=every)
        kept: dict[str, Any] = {}
        if old is not None and old.next_run_time is not None:
            old_interval = getattr(old.trigger, "interval", None)
            if old_interval == interval and old.func is periodic_func:
                continue  # keep its next run time
            if isinstance(old_interval, timedelta):
                # The interval changed: count from the last run.
                kept["next_run_time"] = max(wall, old.next_run_time - old_interval + interval)
        sched.add_job(
            periodic_func,
            IntervalTrigger(seconds=every),
            args=[task],
            id=job_id,
            name=task,
            jobstore="default",
            replace_existing=True,
            misfire_grace_time=max(1, int(every)),
            coalesce=True,
            max_instances=1,
            **kept,
        )


def stored_next_runs(engine: Engine) -> dict[str, datetime | None] | None:
    """Job id → next run time as the daemon's job store has it; None without a store."""
    if not inspect(engine).has_table(JOBS_TABLE):  # no daemon has run on this database
        return None
    with engine.connect() as conn:
        rows = conn.execute(text(f"SELECT id, next_run_time FROM {JOBS_TABLE}")).all()
    return {
        str(job_id): None if at is None else datetime.fromtimestamp(float(at), UTC)
        for job_id, at in rows
    }
