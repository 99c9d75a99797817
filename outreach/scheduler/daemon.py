"""``outreach daemon``: the scheduler leader, send workers and (optionally) the web app.

Its process (signals, threads, the web server, a bounded stop) is in
:mod:`outreach.scheduler.process`; the jobs it schedules in
:mod:`outreach.scheduler.jobs`, what they run in :mod:`outreach.scheduler.runs`.

Every daemon runs send workers. One daemon at a time — the leader — runs the
APScheduler scheduler: one job per campaign (``campaign:<slug>``) plus the
periodic fetch and purge, kept in the ``apscheduler_jobs`` table. On PostgreSQL
the leader holds an advisory lock on a connection of its own; the others poll
for it every ``poll_interval`` seconds and one takes over when the leader dies.
On SQLite a file lock allows one daemon per database.

Signals: SIGHUP reloads the campaign files (jobs added, changed, removed);
campaigns changed in the staff console are reloaded the same way without a
signal, on every host: each pass of the main loop reads their version
(:func:`outreach.campaigns.console.version`) and reloads when it moved;
SIGTERM and SIGINT stop claiming work, let the messages in flight finish,
commit and return.

A database outage never ends the daemon: a pass of the main loop, a reload, a
job or the catch-up that cannot reach the database logs one line (at most one
per 30 s) and is tried again; a leader that loses its lock steps down and
takes it again when the database is back. Only at start does an unreachable
database end the daemon, with one line (:class:`DatabaseUnavailable`).

With ``--web``, a daemon whose campaign files do not load at start (a broken
``cities.yaml``) serves the web app alone until a reload loads them
(:meth:`Daemon._await_files`); then the scheduler starts.

Why over 400 lines: ``campaign_job`` and ``periodic_job`` must stay here,
because the APScheduler job store refers to them by this module's path, and
they need the :class:`Daemon` whose start, loop and reloads are one piece.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from outreach.campaigns import Config, console
from outreach.db import error_line, get_engine, session_scope, unavailable
from outreach.errors import CampaignError, OutreachError
from outreach.logthrottle import ThrottledLog
from outreach.scheduler.jobs import JOBS_TABLE, make_scheduler, sync_jobs
from outreach.scheduler.locks import Leadership, daemon_leadership
from outreach.scheduler.pipeline import Pipeline, StagePipeline, load_config
from outreach.scheduler.process import Threads, install_signals
from outreach.scheduler.runs import (
    DaemonOptions,
    RunContext,
    record_missed,
    run_campaign_if_due,
    run_periodic,
    sync_campaigns,
)
from outreach.settings import Settings

log = logging.getLogger(__name__)

__all__ = ["JOBS_TABLE", "Daemon", "DaemonOptions", "daemon"]

PipelineFactory = Callable[[Settings, Config, threading.Event], Pipeline]


def _stage_pipeline(settings: Settings, config: Config, stop: threading.Event) -> Pipeline:
    return StagePipeline(settings, config=config, stop=stop)


_current: Daemon | None = None


def _daemon() -> Daemon:
    if _current is None:
        raise RuntimeError("no outreach daemon is running in this process")
    return _current


def campaign_job(slug: str) -> None:
    """APScheduler job: run one campaign if it is due (referenced by name in the store)."""
    d = _daemon()
    d.guard(f"campaign {slug}", lambda: d.run_campaign(slug))


def periodic_job(task: str) -> None:
    """APScheduler job: fetch, purge or poll the bounce mailbox."""
    d = _daemon()
    d.guard(task, lambda: d.run_periodic(task))


#: Makes the web app a daemon serves (``daemon --web``): given named health checks
#: and a callable of extra ``/healthz`` fields. The face that starts the daemon
#: (the CLI) provides it, so the scheduler does not import the web stage. A factory
#: with a ``reload_files(config)`` method is given the campaign files each reload loads
#: (also those the daemon started without, a broken ``cities.yaml``), so the app
#: serves what the scheduler runs: a city added or changed, the files now broken.
WebAppFactory = Callable[[dict[str, Callable[[], bool]], Callable[[], dict[str, Any]]], Any]


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
        self._threads = Threads()
        self._ctx: RunContext | None = None
        self._web: WebAppFactory | None = None  # daemon --web: told of each reload
        self.last_tick_at: datetime | None = None  # wall clock, of the last good pass
        self._role = ""  # "leader" or "standby", logged when it changes
        self._catch_up_due = False
        #: Misfires whose record failed (the database was busy or away): retried each pass.
        self._missed: list[tuple[str, datetime]] = []
        self._missed_lock = threading.Lock()
        self._db_log = ThrottledLog(log)  # the database is unreachable
        self._send_log = ThrottledLog(log)  # a send check failed
        self._reload_log = ThrottledLog(log)
        #: The console campaigns' version the loaded config reflects (None: unknown).
        self._console_version: tuple[int, int] | None = None

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
        """Leading, with the jobs written (not while taking over)."""
        return self.scheduler is not None and self._role == "leader"

    def alive(self) -> bool:
        """For /healthz: the main loop ticks and the scheduler (if leading) runs."""
        fresh = time.monotonic() - self.heartbeat < 3 * self.options.poll_interval + 5
        scheduling = self.scheduler is None or bool(self.scheduler.running)
        return fresh and scheduling and not self.stopping.is_set()

    def health_details(self) -> dict[str, Any]:
        """For /healthz: whether this daemon leads, and its last good pass of the loop."""
        tick = self.last_tick_at
        return {"leader": self.is_leader, "last_tick_at": tick.isoformat() if tick else None}

    def stop(self) -> None:
        self.stopping.set()

    def guard(self, what: str, work: Callable[[], object]) -> bool:
        """Run ``work``; an unreachable database is one line, not a crash. False then."""
        try:
            work()
        except SQLAlchemyError as exc:
            self._db_log.warning("%s: the database is unreachable: %s", what, error_line(exc))
            return False
        return True

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
        def work() -> None:
            for slug in sorted(self.ctx.config.campaigns):
                if self.stopping.is_set():
                    return
                run_campaign_if_due(self.ctx, slug, self.clock())

        if not self.guard("catch-up", work):
            self._catch_up_due = True  # the main loop starts it again

    def _send_loop(self) -> None:
        """Send checks until the daemon stops. A check that fails (the mail server or
        the database cannot be reached) is one line, and the next check tries again."""
        while not self.stopping.is_set():
            failed = False
            for outcome in run_periodic(self.ctx, "send", self.stopping):
                if outcome.status == "error":
                    failed = True
                    self._send_log.warning("%s", outcome.lines()[0])
                elif outcome.status != "idle":
                    log.info("%s", outcome.lines()[0])
            if not failed:
                self._send_log.recovered("send checks pass again")
            self.stopping.wait(self.options.intervals.send)

    def reload(self) -> None:
        """Re-read the campaign files; on an error keep running the previous ones."""
        self.reload_requested.clear()
        try:
            config = load_config(self.settings).keeping(self.ctx.config)
        except OutreachError as exc:
            log.error("reload failed, keeping the previous campaigns: %s", exc)
            return
        except SQLAlchemyError as exc:  # the console campaigns are read from the database
            self._postpone_reload(exc)
            return
        try:
            ctx = self._context(config)
            if self.scheduler is not None:
                self._sync_jobs(ctx.config, replace_all=False)
        except SQLAlchemyError as exc:
            self._postpone_reload(exc)
            return
        self._ctx = ctx
        self._reload_web(ctx.config)
        self._reload_log.recovered("the postponed reload is done")
        log.info("reloaded %d campaigns", len(config.campaigns))

    def _reload_web(self, config: Config) -> None:
        """The campaign files just loaded, to the web app ``daemon --web`` serves."""
        reload_files = getattr(self._web, "reload_files", None)
        if reload_files is not None:
            reload_files(config)

    def _postpone_reload(self, exc: SQLAlchemyError) -> None:
        self.reload_requested.set()  # the next pass of the loop tries again
        self._reload_log.warning(
            "reload postponed: the database is unreachable (%s); trying again", error_line(exc)
        )

    # -- the scheduler ----------------------------------------------------

    def _make_scheduler(self) -> Any:
        return make_scheduler(self.engine, self._on_event)

    def _on_event(self, event: Any) -> None:
        from apscheduler.events import EVENT_JOB_MISSED

        if event.code == EVENT_JOB_MISSED and event.job_id.startswith("campaign:"):
            slug = event.job_id.removeprefix("campaign:")
            if not self._record_missed(slug, event.scheduled_run_time):
                with self._missed_lock:
                    self._missed.append((slug, event.scheduled_run_time))
        elif event.code != EVENT_JOB_MISSED:
            log.error("job %s failed: %s", event.job_id, event.exception)

    def _record_missed(self, slug: str, fire: datetime) -> bool:
        return self.guard(
            f"missed run of {slug}", lambda: record_missed(self.ctx, slug, fire, self.clock())
        )

    def _retry_missed(self) -> None:
        """Record the misfires a busy or unreachable database refused earlier."""
        with self._missed_lock:
            pending, self._missed = self._missed, []
        failed = [(slug, fire) for slug, fire in pending if not self._record_missed(slug, fire)]
        with self._missed_lock:
            self._missed[:0] = failed

    def _sync_jobs(self, config: Config, *, replace_all: bool) -> None:
        """Make the store's jobs match ``config``; periodic jobs keep their next run."""
        intervals = self.options.intervals
        sync_jobs(
            self.scheduler,
            config,
            campaign_func=campaign_job,
            periodic_func=periodic_job,
            periodic=intervals.periodic(),
            now=self.clock(),
            replace_all=replace_all,
        )

    def _lead(self) -> None:
        sched = self._make_scheduler()
        try:
            sched.start(paused=True)
            self.scheduler = sched  # running (paused) before /healthz sees it
            self._sync_jobs(self.ctx.config, replace_all=True)
        except SQLAlchemyError:
            self.scheduler = sched
            self._drop_scheduler()  # the next pass of the loop tries again
            raise
        self.scheduler.resume()
        self._set_role("leader", "this daemon is now the scheduler leader")
        # What fell due while no daemon led: same grace rule as run-due.
        self._catch_up_due = True

    def _drop_scheduler(self) -> None:
        sched, self.scheduler = self.scheduler, None
        if sched is not None and sched.running:
            sched.shutdown(wait=False)

    def _step_down(self) -> None:
        self._drop_scheduler()
        self._set_role(
            "standby", "lost the scheduler leader lock; this daemon stands by", logging.WARNING
        )

    def _set_role(self, role: str, message: str, level: int = logging.INFO) -> None:
        """Log ``message`` when this daemon becomes leader or follower (once per change)."""
        if role != self._role:
            self._role = role
            log.log(level, message)

    def _console_version_now(self) -> tuple[int, int] | None:
        try:
            with session_scope(self.engine) as session:
                return console.version(session)
        except SQLAlchemyError:
            return None  # the pass below reports the outage

    def _watch_console(self) -> None:
        """Ask for a reload when a campaign changed in the console (any host)."""
        current = self._console_version_now()
        if current is None:
            return
        if self._console_version is not None and current != self._console_version:
            log.info("campaigns changed in the console; reloading")
            self.reload_requested.set()
        self._console_version = current

    def _tick(self, leadership: Leadership) -> bool:
        """One pass of the main loop; False when the database could not be reached."""
        self._watch_console()
        if self.reload_requested.is_set():
            self.reload()
        try:
            if self.scheduler is None:
                if leadership.try_acquire():
                    self._lead()
                else:
                    self._set_role(
                        "standby",
                        "another daemon leads the scheduler; this one stands by (it sends, "
                        f"and polls for the lead every {self.options.poll_interval:g} s)",
                    )
            elif not leadership.still_held():
                self._step_down()
        except SQLAlchemyError as exc:
            self._db_log.warning(
                "the database is unreachable: %s; trying again every %g s",
                error_line(exc),
                self.options.poll_interval,
            )
            return False
        if self._missed:
            self._retry_missed()
        if self.scheduler is not None and self._catch_up_due:
            self._catch_up_due = False
            self._threads.start("catch-up", self.catch_up)
        if self.reload_requested.is_set() or (self.is_leader and not self.scheduler.running):
            return False
        self._db_log.recovered("the database answers again")
        return True

    # -- the process ------------------------------------------------------

    def run(
        self, *, web: WebAppFactory | None = None, host: str = "127.0.0.1", port: int = 8000
    ) -> None:
        """``web`` makes the web app served beside the daemon (``daemon --web``), given
        the daemon's health check and its ``/healthz`` details. With ``web``, campaign
        files that do not load (a broken ``cities.yaml``) leave the web app serving
        alone, the emailed links working, until a reload (SIGHUP) loads them."""
        global _current
        self._web = web
        leadership = daemon_leadership(self.settings)  # SQLite: fails before anything
        broken: CampaignError | None = None
        try:
            self._console_version = self._console_version_now()
            try:
                config = load_config(self.settings)
            except CampaignError as exc:
                if web is None:
                    raise
                broken = exc  # the emailed links must keep working: the web app serves
            else:
                self._ctx = self._context(config)
        except SQLAlchemyError as exc:
            leadership.release()
            raise unavailable(exc, self.settings) from None
        except BaseException:
            leadership.release()
            raise
        _current = self
        install_signals(self.stopping, self.reload_requested)
        # From here SIGTERM stops it cleanly (before, the signal's default action).
        try:
            if broken is None:
                log.info("daemon started, %d campaigns", len(self.ctx.config.campaigns))
                self._threads.start("send", self._send_loop)
            else:
                log.error(
                    "daemon started without the scheduler: %s; the web app serves alone "
                    "until a reload (SIGHUP) loads the campaign files",
                    broken,
                )
            if web is not None:
                app = web({"scheduler": self.alive}, self.health_details)
                self._threads.serve(app, host, port)
            if broken is not None:
                if not self._await_files(web):
                    return  # stopped first
                self._threads.start("send", self._send_loop)
            while not self.stopping.is_set():
                if self._tick(leadership):
                    self.last_tick_at = datetime.now(UTC)
                self.heartbeat = time.monotonic()
                self.stopping.wait(self.options.poll_interval)
        finally:
            self.stopping.set()
            self._shutdown()
            leadership.release()
            _current = None

    def _await_files(self, web: WebAppFactory | None) -> bool:
        """Serve the web app alone until a reload (SIGHUP) loads the campaign files:
        True then, and the scheduler starts; False when the daemon stops first."""
        from outreach.delivery import require_base_url

        while not self.stopping.is_set():
            self.heartbeat = time.monotonic()
            if self.reload_requested.is_set():
                self.reload_requested.clear()
                try:
                    config = load_config(self.settings)
                    require_base_url(self.settings, config)
                    ctx = self._context(config)
                except OutreachError as exc:
                    log.error("reload failed: %s; the scheduler still does not start", exc)
                except SQLAlchemyError as exc:
                    self._postpone_reload(exc)
                else:
                    self._ctx = ctx
                    self._console_version = self._console_version_now()
                    self._reload_web(ctx.config)  # the sign-up pages open again
                    log.info("reloaded %d campaigns; the scheduler starts", len(config.campaigns))
                    return True
            self.stopping.wait(self.options.poll_interval)
        return False

    def _shutdown(self) -> None:
        sched, self.scheduler = self.scheduler, None
        self._threads.stop(self.options.stop_timeout, sched)
        log.info("daemon stopped cleanly")


def daemon(
    settings: Settings,
    *,
    web: WebAppFactory | None = None,
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
