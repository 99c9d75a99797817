"""``outreach daemon``: the scheduler leader, send workers and (optionally) the web app.

Every daemon runs send workers. One daemon at a time — the leader — runs the
APScheduler scheduler: one job per campaign (``campaign:<slug>``) plus the
periodic fetch and purge, kept in the ``apscheduler_jobs`` table. On PostgreSQL
the leader holds an advisory lock on a connection of its own; the others poll
for it every ``poll_interval`` seconds and one takes over when the leader dies.
On SQLite a file lock allows one daemon per database.

Signals: SIGHUP reloads the campaign files (jobs added, changed, removed);
SIGTERM and SIGINT stop claiming work, let the messages in flight finish,
commit and return.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import FrameType
from typing import Any

from outreach.campaigns import Config
from outreach.db import get_engine, is_sqlite, session_scope
from outreach.errors import OutreachError
from outreach.scheduler.locks import (
    FileLeadership,
    FileLock,
    Leadership,
    PgLeadership,
    daemon_lock_path,
)
from outreach.scheduler.pipeline import Pipeline, StagePipeline, load_config
from outreach.scheduler.runs import (
    PeriodicIntervals,
    RunContext,
    record_missed,
    run_campaign_if_due,
    run_periodic,
    sync_campaigns,
)
from outreach.scheduler.timing import send_at_utc
from outreach.settings import Settings

log = logging.getLogger(__name__)

#: APScheduler's own table; alembic autogenerate must ignore it.
JOBS_TABLE = "apscheduler_jobs"

PipelineFactory = Callable[[Settings, Config, threading.Event], Pipeline]


class DaemonRunningError(OutreachError):
    """Another daemon holds the SQLite database's daemon lock."""


class DaemonStopTimeout(OutreachError):
    """Work in flight did not finish within the stop bound."""


@dataclass
class DaemonOptions:
    """Timing knobs: by default from the settings (:meth:`from_settings`); tests shorten them."""

    poll_interval: float = 10.0  # leader lock poll; the takeover bound on PostgreSQL
    stop_timeout: float = 60.0  # SIGTERM → return, at most (in-flight messages finish)
    intervals: PeriodicIntervals = field(default_factory=PeriodicIntervals)

    @classmethod
    def from_settings(cls, settings: Settings) -> DaemonOptions:
        """``OUTREACH_SCHEDULER_POLL_SECONDS``, ``…_STOP_TIMEOUT_SECONDS`` and the intervals."""
        return cls(
            poll_interval=settings.scheduler_poll_seconds,
            stop_timeout=settings.stop_timeout_seconds,
            intervals=PeriodicIntervals.from_settings(settings),
        )


def _stage_pipeline(settings: Settings, config: Config, stop: threading.Event) -> Pipeline:
    return StagePipeline(settings, config=config, stop=stop)


_current: Daemon | None = None


def _daemon() -> Daemon:
    if _current is None:
        raise RuntimeError("no outreach daemon is running in this process")
    return _current


def campaign_job(slug: str) -> None:
    """APScheduler job: run one campaign if it is due (referenced by name in the store)."""
    _daemon().run_campaign(slug)


def periodic_job(task: str) -> None:
    """APScheduler job: fetch or purge."""
    _daemon().run_periodic(task)


class Daemon:
    """One daemon process; :meth:`run` blocks until SIGTERM / SIGINT or :meth:`stop`."""

    def __init__(
        self,
        settings: Settings,
        *,
        pipeline_factory: PipelineFactory | None = None,
        options: DaemonOptions | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.settings = settings
        self.options = options or DaemonOptions.from_settings(settings)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.stopping = threading.Event()
        self.reload_requested = threading.Event()
        self._factory = pipeline_factory or _stage_pipeline
        self.engine = get_engine(settings)
        self.scheduler: Any = None  # BackgroundScheduler while leading
        self.heartbeat = time.monotonic()
        self._threads: list[threading.Thread] = []
        self._web: Any = None
        self._ctx: RunContext | None = None

    # -- state ------------------------------------------------------------

    def _context(self, config: Config) -> RunContext:
        with session_scope(self.engine) as session:
            sync_campaigns(session, config, self.clock())
        return RunContext(
            self.settings, config, self._factory(self.settings, config, self.stopping)
        )

    @property
    def ctx(self) -> RunContext:
        if self._ctx is None:
            self._ctx = self._context(load_config(self.settings))
        return self._ctx

    @property
    def is_leader(self) -> bool:
        return self.scheduler is not None

    def alive(self) -> bool:
        """For /healthz: the main loop ticks and the scheduler (if leading) runs."""
        fresh = time.monotonic() - self.heartbeat < 3 * self.options.poll_interval + 5
        scheduling = self.scheduler is None or bool(self.scheduler.running)
        return fresh and scheduling and not self.stopping.is_set()

    def stop(self) -> None:
        self.stopping.set()

    # -- work -------------------------------------------------------------

    def run_campaign(self, slug: str) -> None:
        ctx = self.ctx
        # A job may fire just before a reload removes its campaign.
        if not self.stopping.is_set() and slug in ctx.config.campaigns:
            run_campaign_if_due(ctx, slug, self.clock())

    def run_periodic(self, task: str) -> None:
        if not self.stopping.is_set():
            for outcome in run_periodic(self.ctx, task, self.stopping):
                log.info("%s", outcome.lines()[0])

    def catch_up(self) -> None:
        for slug in sorted(self.ctx.config.campaigns):
            if self.stopping.is_set():
                return
            run_campaign_if_due(self.ctx, slug, self.clock())

    def _send_loop(self) -> None:
        while not self.stopping.is_set():
            for outcome in run_periodic(self.ctx, "send", self.stopping):
                if outcome.status != "idle":
                    log.info("%s", outcome.lines()[0])
            self.stopping.wait(self.options.intervals.send)

    def reload(self) -> None:
        """Re-read the campaign files; on an error keep running the previous ones."""
        self.reload_requested.clear()
        try:
            config = load_config(self.settings).keeping(self.ctx.config)
        except OutreachError as exc:
            log.error("reload failed, keeping the previous campaigns: %s", exc)
            return
        self._ctx = self._context(config)
        if self.scheduler is not None:
            self._sync_jobs(replace_all=False)
        log.info("reloaded %d campaigns", len(config.campaigns))

    # -- the scheduler ----------------------------------------------------

    def _make_scheduler(self) -> Any:
        from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
        from apscheduler.schedulers.background import BackgroundScheduler

        sched = BackgroundScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=self.engine, tablename=JOBS_TABLE)},
            executors={"default": ThreadPoolExecutor(4)},
            job_defaults={"coalesce": True, "max_instances": 1},
            timezone=UTC,
        )
        sched.add_listener(self._on_event, EVENT_JOB_MISSED | EVENT_JOB_ERROR)
        return sched

    def _on_event(self, event: Any) -> None:
        from apscheduler.events import EVENT_JOB_MISSED

        if event.code == EVENT_JOB_MISSED and event.job_id.startswith("campaign:"):
            slug = event.job_id.removeprefix("campaign:")
            record_missed(self.ctx, slug, event.scheduled_run_time, self.clock())
        elif event.code != EVENT_JOB_MISSED:
            log.error("job %s failed: %s", event.job_id, event.exception)

    def _sync_jobs(self, *, replace_all: bool) -> None:
        """Make the store's campaign jobs match the loaded files."""
        from apscheduler.triggers.date import DateTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        sched = self.scheduler
        config = self.ctx.config
        now = self.clock()
        wanted: dict[str, tuple[str, Any, int]] = {}
        for slug, camp in config.campaigns.items():
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
        existing = {job.id: job for job in sched.get_jobs(jobstore="default")}
        for job_id in existing:
            if job_id.startswith("campaign:") and job_id not in wanted:
                sched.remove_job(job_id, jobstore="default")
                log.info("removed job %s", job_id)
        for job_id, (name, trigger, grace) in wanted.items():
            old = existing.get(job_id)
            if old is not None and old.name == name and not replace_all:
                continue
            sched.add_job(
                campaign_job,
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
        intervals = self.options.intervals
        for task, every in (("fetch", intervals.fetch), ("purge", intervals.purge)):
            sched.add_job(
                periodic_job,
                IntervalTrigger(seconds=every),
                args=[task],
                id=f"periodic:{task}",
                name=task,
                jobstore="default",
                replace_existing=True,
                misfire_grace_time=max(1, int(every)),
                coalesce=True,
                max_instances=1,
            )

    def _lead(self) -> None:
        log.info("this daemon is now the scheduler leader")
        self.scheduler = self._make_scheduler()
        self.scheduler.start(paused=True)
        self._sync_jobs(replace_all=True)
        self.scheduler.resume()
        # What fell due while no daemon led: same grace rule as run-due.
        self._start_thread("catch-up", self.catch_up)

    def _step_down(self) -> None:
        log.warning("lost the scheduler leader lock; standing by")
        sched, self.scheduler = self.scheduler, None
        if sched is not None:
            sched.shutdown(wait=False)

    # -- the process ------------------------------------------------------

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def on_stop(signum: int, _frame: FrameType | None) -> None:
            log.info("received %s; stopping", signal.Signals(signum).name)
            self.stopping.set()

        def on_hup(_signum: int, _frame: FrameType | None) -> None:
            self.reload_requested.set()

        signal.signal(signal.SIGTERM, on_stop)
        signal.signal(signal.SIGINT, on_stop)
        signal.signal(signal.SIGHUP, on_hup)

    def _leadership(self) -> Leadership:
        if is_sqlite(self.engine):
            lock = FileLeadership(daemon_lock_path(self.settings))
            if not lock.try_acquire():
                holder = FileLock(daemon_lock_path(self.settings)).holder()
                raise DaemonRunningError(
                    f"another outreach daemon (pid {holder}) is running on this SQLite "
                    "database; only one may run (use PostgreSQL for several)"
                )
            return lock
        return PgLeadership(self.settings.database_url)

    def _start_thread(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _start_web(self, host: str, port: int) -> None:
        import uvicorn

        from outreach.web import create_app

        app = create_app(self.settings, health_checks={"scheduler": self.alive})
        self._web = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="info"))
        self._start_thread("web", self._web.run)

    def run(self, *, web: bool = False, host: str = "127.0.0.1", port: int = 8000) -> None:
        global _current
        leadership = self._leadership()  # on SQLite: fails before touching anything
        try:
            self._ctx = self._context(load_config(self.settings))
        except BaseException:
            leadership.release()
            raise
        _current = self
        self._install_signals()
        try:
            self._start_thread("send", self._send_loop)
            if web:
                self._start_web(host, port)
            while not self.stopping.is_set():
                if self.scheduler is None:
                    if leadership.try_acquire():
                        self._lead()
                elif not leadership.still_held():
                    self._step_down()
                if self.reload_requested.is_set():
                    self.reload()
                self.heartbeat = time.monotonic()
                self.stopping.wait(self.options.poll_interval)
        finally:
            self.stopping.set()
            self._shutdown()
            leadership.release()
            _current = None

    def _shutdown(self) -> None:
        deadline = time.monotonic() + self.options.stop_timeout
        if self.scheduler is not None:
            sched, self.scheduler = self.scheduler, None
            stopper = threading.Thread(target=sched.shutdown, name="scheduler-stop", daemon=True)
            stopper.start()
            self._threads.append(stopper)
        if self._web is not None:
            self._web.should_exit = True
        late = []
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                late.append(thread.name)
        self._threads.clear()
        if late:
            raise DaemonStopTimeout(
                f"stopped waiting after {self.options.stop_timeout:.0f} s for: "
                f"{', '.join(late)}; messages in flight may be sent again on the next start"
            )
        log.info("daemon stopped cleanly")


def daemon(
    settings: Settings,
    *,
    web: bool = False,
    host: str = "127.0.0.1",
    port: int = 8000,
    pipeline_factory: PipelineFactory | None = None,
    options: DaemonOptions | None = None,
) -> int:
    """Run the daemon until SIGTERM / SIGINT; returns the exit status (0).

    Raises :class:`DaemonRunningError` when another daemon holds a SQLite database
    and :class:`DaemonStopTimeout` when work in flight outlives the stop bound.
    """
    Daemon(settings, pipeline_factory=pipeline_factory, options=options).run(
        web=web, host=host, port=port
    )
    return 0
