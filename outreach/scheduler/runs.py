"""One campaign run under its lock, and ``run-due``: one pass for system cron.

The daemon's campaign jobs and ``run-due`` share :func:`run_campaign_if_due`, so
both obey one rule: the campaign owes the latest fire time after
``Campaign.last_run_at``; older than its grace time, the run is recorded as
missed and not sent late; otherwise it runs once, under a per-campaign lock, and
``last_run_at`` becomes that fire time (so a second pass finds nothing due).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from outreach.bounces import PollReport, imap_configured
from outreach.bounces import poll as poll_bounces
from outreach.campaigns import Config, sync
from outreach.db import error_line, get_engine, session_scope, unavailable
from outreach.errors import OutreachError
from outreach.l10n import format_datetime
from outreach.models import Campaign
from outreach.scheduler.locks import named_lock
from outreach.scheduler.messages import DEFAULT_TIMEZONE, Msg, _, _n, as_msg, dt_arg, raw, word
from outreach.scheduler.pipeline import Pipeline, RunResult, StagePipeline, load_config
from outreach.scheduler.timing import due
from outreach.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOutcome:
    """What one pass did for one campaign or one periodic task."""

    name: str  # campaign slug, or "fetch" / "send" / "purge" / "run-due"
    status: str  # ok | empty | error | missed | busy | stopped | skipped
    message: Msg
    fire_time: datetime | None = None
    timezone: str = DEFAULT_TIMEZONE  # the campaign's city's, for the fire time

    def lines(self, lang: str = "en") -> list[str]:
        """One line in ``lang`` (fi, sv, en); the fire time in the city's timezone."""
        text = self.message.render(lang, self.timezone)
        status = word(self.status, lang)
        if self.fire_time is None:
            return [f"{self.name}: {status}: {text}"]
        at = format_datetime(self.fire_time, lang, self.timezone)
        return [f"{self.name} ({at}): {status}: {text}"]


@dataclass
class PeriodicIntervals:
    """How often the periodic jobs run (seconds); defaults from the settings."""

    fetch: float = 3600.0
    purge: float = 3600.0
    send: float = 30.0
    #: Polling the bounce mailbox; None: no mailbox is set up, no job.
    bounces: float | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> PeriodicIntervals:
        return cls(
            fetch=settings.fetch_interval_minutes * 60,
            purge=settings.purge_interval_minutes * 60,
            send=settings.send_check_seconds,
            bounces=settings.bounce_imap_interval_minutes * 60
            if imap_configured(settings)
            else None,
        )

    def periodic(self) -> dict[str, float]:
        """The periodic jobs besides sending, by task: fetch, purge and maybe bounces."""
        jobs = {"fetch": self.fetch, "purge": self.purge}
        if self.bounces is not None:
            jobs["bounces"] = self.bounces
        return jobs


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


@dataclass
class RunContext:
    """What a campaign run needs: settings, the loaded files and the stages."""

    settings: Settings
    config: Config
    pipeline: Pipeline
    engine: Engine = field(init=False)

    def __post_init__(self) -> None:
        self.engine = get_engine(self.settings)


def sync_campaigns(session: Session, config: Config, now: datetime) -> None:
    """Upsert campaign rows; a campaign seen for the first time is known from ``now``."""
    known = set(session.scalars(select(Campaign.slug)))
    rows = sync(session, config)
    for slug, row in rows.items():
        if slug not in known:
            row.created_at = now


def _record(session: Session, row: Campaign, fire: datetime, status: str, message: Msg) -> None:
    row.last_run_at = fire
    row.last_run_status = status
    stored = message.dump()
    if len(stored) > 4000:  # a huge error text: keep its start, untranslated
        stored = raw(message.render("en")[:2000]).dump()
    row.last_run_message = stored
    session.flush()


def _missed(fire: datetime, late: timedelta, grace: int) -> Msg:
    return _n(
        "the run of {fire_at} was missed by {late} minute (grace: {grace} min); not sent late",
        "the run of {fire_at} was missed by {late} minutes (grace: {grace} min); not sent late",
        "late",
        fire_at=dt_arg(fire),
        late=_minutes(late),
        grace=grace,
    )


def run_campaign_if_due(ctx: RunContext, slug: str, now: datetime) -> RunOutcome | None:
    """Run ``slug`` if it owes a fire time at ``now``; None when nothing is due."""
    camp = ctx.config.campaign(slug)
    if slug in ctx.config.paused:
        return None  # a paused or archived console campaign
    tz = ctx.config.city_of(camp).timezone
    with session_scope(ctx.engine) as session:
        row = session.scalars(select(Campaign).where(Campaign.slug == slug)).one_or_none()
        if (
            row is None
            or due(camp, tz, last_run_at=row.last_run_at, known_since=row.created_at, now=now)
            is None
        ):
            return None
    with named_lock(ctx.settings, f"campaign:{slug}") as got:
        if not got:
            busy = _("another process is running this campaign; skipped")
            return RunOutcome(slug, "busy", busy, timezone=tz)
        # Re-read under the lock: another process may have just run it.
        with session_scope(ctx.engine) as session:
            row = session.scalars(select(Campaign).where(Campaign.slug == slug)).one()
            owed = due(camp, tz, last_run_at=row.last_run_at, known_since=row.created_at, now=now)
            if owed is None:
                return None
            if owed.missed:
                message = _missed(owed.fire_time, owed.late_by, camp.grace_minutes)
                log.warning("%s: %s", slug, message.render("en", tz))
                _record(session, row, owed.fire_time, "missed", message)
                return RunOutcome(slug, "missed", message, owed.fire_time, tz)
        log.info("%s: running the run of %s (UTC)", slug, owed.fire_time.isoformat())
        result = _guarded(slug, lambda: ctx.pipeline.run_campaign(slug, owed.fire_time))
        message = as_msg(result.message)
        with session_scope(ctx.engine) as session:
            row = session.scalars(select(Campaign).where(Campaign.slug == slug)).one()
            _record(session, row, owed.fire_time, result.status, message)
        log.info("%s: %s: %s", slug, result.status, message.render("en", tz))
        return RunOutcome(slug, result.status, message, owed.fire_time, tz)


def record_missed(ctx: RunContext, slug: str, fire: datetime, now: datetime) -> bool:
    """Record an APScheduler misfire unless that fire time was already handled."""
    if slug not in ctx.config.campaigns:
        return False
    camp = ctx.config.campaigns[slug]
    tz = ctx.config.city_of(camp).timezone
    with session_scope(ctx.engine) as session:
        row = session.scalars(select(Campaign).where(Campaign.slug == slug)).one_or_none()
        if row is None or (row.last_run_at is not None and row.last_run_at >= fire):
            return False
        message = _missed(fire, now - fire, camp.grace_minutes)
        log.warning("%s: %s", slug, message.render("en", tz))
        _record(session, row, fire, "missed", message)
    return True


def _minutes(delta: timedelta) -> int:
    return int(delta.total_seconds() // 60)


def _guarded(name: str, work: Callable[[], RunResult]) -> RunResult:
    """Run ``work``; a failure becomes an ``error`` result instead of a crash."""
    try:
        return work()
    except OutreachError as exc:
        log.error("%s: %s", name, exc)
        return RunResult("error", raw(str(exc)))
    except SQLAlchemyError as exc:  # the database went away: one line, no traceback
        unreachable = f"the database is unreachable: {error_line(exc)}"
        log.error("%s: %s", name, unreachable)
        return RunResult("error", raw(unreachable))
    except Exception as exc:
        log.exception("%s failed", name)
        detail = raw(f"{exc.__class__.__name__}: {exc}")
        return RunResult("error", _("{error} (see the log)", error=detail))


def run_periodic(
    ctx: RunContext, task: str, stop: threading.Event | None = None
) -> list[RunOutcome]:
    """Run one periodic task now (fetch, purge, bounces or send) and describe what it did."""
    if task == "bounces":
        res = _guarded("bounces", lambda: _polled(poll_bounces(ctx.settings)))
        return [RunOutcome("bounces", res.status, as_msg(res.message))]
    if task == "fetch":
        res = _guarded("fetch", lambda: RunResult("ok", ctx.pipeline.fetch_all()))
        return [RunOutcome("fetch", res.status, as_msg(res.message))]
    if task == "purge":
        res = _guarded("purge", lambda: RunResult("ok", _purged(ctx.pipeline.purge())))
        return [RunOutcome("purge", res.status, as_msg(res.message))]
    event = stop if stop is not None else threading.Event()
    try:
        results = ctx.pipeline.send_due(event)
    except SQLAlchemyError as exc:  # the caller logs the line (the daemon: rate-limited)
        return [RunOutcome("send", "error", raw(f"database unreachable: {error_line(exc)}"))]
    except Exception as exc:
        log.exception("send failed")
        return [RunOutcome("send", "error", raw(f"{exc.__class__.__name__}: {exc}"))]
    return [RunOutcome("send", r.status, as_msg(r.message)) for r in results]


def _polled(report: PollReport) -> RunResult:
    """The bounce mailbox poll; messages left flagged for a person make it an error."""
    message = _(
        "bounce mailbox: messages processed {processed}, addresses suppressed {suppressed}, "
        "unsubscribed {unsubscribed}, left flagged for a person to read {flagged}",
        processed=report.processed,
        suppressed=report.outcome.suppressed,
        unsubscribed=report.outcome.unsubscribed,
        flagged=len(report.failed),
    )
    return RunResult("error" if report.failed else "ok", message)


def _purged(counts: dict[str, int]) -> Msg:
    return _(
        "purged: unconfirmed sign-ups {sign_ups}, deliveries of old issues {deliveries} "
        "(issues: {issues}), unused content items {content_items}",
        sign_ups=counts.get("sign_ups", 0),
        deliveries=counts.get("deliveries", 0),
        issues=counts.get("issues", 0),
        content_items=counts.get("content_items", 0),
    )


class PeriodicState:
    """When ``run-due`` last ran each periodic task (``var/run-due.json``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            raw = json.loads(path.read_text())
            self.last = {k: datetime.fromisoformat(v) for k, v in raw.items()}
        except (OSError, ValueError, AttributeError):
            self.last = {}

    def is_due(self, task: str, every: float, now: datetime) -> bool:
        last = self.last.get(task)
        return last is None or now - last >= timedelta(seconds=every) or last > now

    def mark(self, task: str, now: datetime) -> None:
        self.last[task] = now
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps({k: v.isoformat() for k, v in self.last.items()}))


def run_due(
    settings: Settings,
    *,
    now: datetime | None = None,
    pipeline: Pipeline | None = None,
    intervals: PeriodicIntervals | None = None,
) -> list[RunOutcome]:
    """One pass of everything due at ``now``: campaigns, then fetch, purge and send.

    A second ``run-due`` while one is running skips with a message; a pass right
    after another finds nothing due and returns an empty list.
    """
    try:
        return _run_due(settings, now, pipeline, intervals)
    except SQLAlchemyError as exc:
        raise unavailable(exc, settings) from None


def _run_due(
    settings: Settings,
    now: datetime | None,
    pipeline: Pipeline | None,
    intervals: PeriodicIntervals | None,
) -> list[RunOutcome]:
    moment = now if now is not None else datetime.now(UTC)
    every = intervals if intervals is not None else PeriodicIntervals.from_settings(settings)
    with named_lock(settings, "run-due") as got:
        if not got:
            return [RunOutcome("run-due", "skipped", _("another run-due is in progress"))]
        config = load_config(settings)
        engine = get_engine(settings)
        with session_scope(engine) as session:
            sync_campaigns(session, config, moment)
        work = pipeline or StagePipeline(settings, config=config, clock=lambda: moment)
        ctx = RunContext(settings, config, work)
        outcomes: list[RunOutcome] = []
        for slug in sorted(config.campaigns):
            outcome = run_campaign_if_due(ctx, slug, moment)
            if outcome is not None:
                outcomes.append(outcome)
        state = PeriodicState(settings.var_dir / "run-due.json")
        for task, period in every.periodic().items():
            if state.is_due(task, period, moment):
                outcomes.extend(run_periodic(ctx, task))
                state.mark(task, moment)
        outcomes.extend(o for o in run_periodic(ctx, "send") if o.status != "idle")
        return outcomes
