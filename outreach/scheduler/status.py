"""``outreach status``: what the scheduler will do next and what needs a person."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from outreach.campaigns import Config
from outreach.db import get_engine, is_sqlite, session_scope, unavailable
from outreach.errors import CampaignError
from outreach.issues import send_origins
from outreach.l10n import format_datetime
from outreach.models import Campaign, Delivery, Issue, IssueStatus, SourceState, SourceStatus
from outreach.runtime import Outdated, outdated
from outreach.scheduler.jobs import stored_next_runs
from outreach.scheduler.locks import FileLock, daemon_lock_path, pg_leader_pid
from outreach.scheduler.messages import STATE_WORDS, Msg, _, dt_arg, raw, word
from outreach.scheduler.pipeline import (
    ISSUE_COUNTS,
    ISSUE_RUN,
    REFUSED,
    WAITING,
    issue_counts,
    load_config,
)
from outreach.scheduler.timing import next_fire_time
from outreach.settings import Settings

#: Issues on their way out: approved (waiting for their send time or the next send
#: check), being sent, or paused mid-send.
IN_PROGRESS = (IssueStatus.APPROVED, IssueStatus.SENDING, IssueStatus.PAUSED)
#: Sends in progress: started and not finished (paused mid-send is one).
SENDS = (IssueStatus.SENDING, IssueStatus.PAUSED)
#: How far back ``outreach status`` counts the sends started, by hand or by the scheduler.
RECENT_DAYS = 30
ORIGIN_WORDS: dict[str, Msg] = {
    "manual": _("started by hand"),
    "scheduled": _("started by the scheduler"),
}


@dataclass(frozen=True)
class CampaignStatus:
    slug: str
    timezone: str
    next_run: datetime | None
    last_run_at: datetime | None
    last_run_status: str | None
    last_run_message: str | None
    #: The daemon's job store disagrees with the files (a reload is pending):
    #: its next run, None when it has no job for the campaign.
    differs: bool = False
    job_next_run: datetime | None = None


@dataclass(frozen=True)
class IssueLine:
    id: int
    campaign: str
    period: str
    status: str
    counts: dict[str, int] = field(default_factory=dict)
    origin: str = ""  # manual | scheduled | "" (not recorded)
    started_at: datetime | None = None
    timezone: str = "Europe/Helsinki"
    message: str | None = None
    #: An approved issue's send time, or None (with ``kept_back``: its schedule was cancelled)
    scheduled_at: datetime | None = None
    kept_back: bool = False


@dataclass(frozen=True)
class SourceLine:
    type: str
    url: str | None
    error: str | None
    last_fetched_at: datetime | None


@dataclass
class StatusReport:
    now: datetime
    scheduler: Msg
    campaigns: list[CampaignStatus]
    waiting: list[IssueLine]
    #: Sends in progress: issues being sent, or paused mid-send.
    sending: list[IssueLine]
    source_errors: list[SourceLine]
    #: Sends started in the last RECENT_DAYS days, by hand or by the scheduler.
    recent: list[IssueLine] = field(default_factory=list)
    #: Error lines of the campaign files left out (``cities.yaml``: every campaign).
    broken: dict[str, list[str]] = field(default_factory=dict)
    #: Approved issues held because items were cancelled at the source.
    held: list[IssueLine] = field(default_factory=list)
    runtime: list[Outdated] = field(default_factory=list)
    #: Approved issues not yet sent: scheduled ones first by their send time, then the
    #: rest (sent at the next send check, or kept back) by id.
    approved: list[IssueLine] = field(default_factory=list)

    def lines(self, lang: str = "en") -> list[str]:
        """The report in ``lang`` (fi, sv, en); times in each campaign's city's timezone."""

        def t(message: Msg) -> str:
            return message.render(lang)

        none = t(_("none"))
        out = [t(_("scheduler: {state}", state=self.scheduler)), t(_("campaigns:"))]
        for c in self.campaigns:
            nxt = format_datetime(c.next_run, lang, c.timezone) if c.next_run else none
            if c.differs:
                job = c.job_next_run
                when = format_datetime(job, lang, c.timezone) if job else none
                nxt += " " + t(_("(the daemon's job store: {when})", when=when))
            if c.last_run_at is None:
                last = t(_("never run"))
            else:
                at = format_datetime(c.last_run_at, lang, c.timezone)
                last = f"{at} {word(c.last_run_status or '', lang)}"
                message = Msg.load(c.last_run_message)
                if message is not None:
                    last += ": " + message.render(lang, c.timezone)
            line = _("{slug}: next {next}; last {last}", slug=c.slug, next=nxt, last=last)
            out.append("  " + t(line))
        if not self.campaigns:
            out.append("  " + none)
        if self.broken:
            out.append(t(_("campaign files left out: {n}", n=len(self.broken))))
            out.extend(f"  {line}" for lines in self.broken.values() for line in lines)
        out.append(t(_("waiting for approval: {n}", n=len(self.waiting) or none)))
        for i in self.waiting:
            out.append(f"  {t(_('issue #{id}', id=i.id))} {i.campaign} {i.period}")
        if self.held:
            out.append(t(_("held, items cancelled at the source: {n}", n=len(self.held))))
            for i in self.held:
                head = f"{t(_('issue #{id}', id=i.id))} {i.campaign} {i.period}"
                out.append(f"  {head}: {i.message or ''}".rstrip(": "))
        out.append(t(_("approved, waiting to be sent: {n}", n=len(self.approved) or none)))
        for i in self.approved:
            head = f"{t(_('issue #{id}', id=i.id))} {i.campaign} {i.period}"
            out.append(f"  {head}: {_waits(i, self.now).render(lang, i.timezone)}")
        out.append(t(_("sends in progress: {n}", n=len(self.sending) or none)))
        for i in self.sending:
            counts = ", ".join(
                f"{word(k, lang, STATE_WORDS)} {v}" for k, v in sorted(i.counts.items())
            )
            state = word(i.status, lang, STATE_WORDS)
            if i.origin in ORIGIN_WORDS:
                state += ", " + t(ORIGIN_WORDS[i.origin])
            head = f"{t(_('issue #{id}', id=i.id))} {i.campaign} {i.period} ({state})"
            out.append(f"  {head}: {counts or t(_('no deliveries'))}")
        manual = sum(1 for i in self.recent if i.origin == "manual")
        scheduled = sum(1 for i in self.recent if i.origin == "scheduled")
        out.append(
            t(
                _(
                    "sends started in the last {days} days: {n} "
                    "({manual} by hand, {scheduled} by the scheduler)",
                    days=RECENT_DAYS,
                    n=len(self.recent),
                    manual=manual,
                    scheduled=scheduled,
                )
            )
        )
        for i in self.recent:
            state = word(i.status, lang, STATE_WORDS)
            if i.origin in ORIGIN_WORDS:
                state += ", " + t(ORIGIN_WORDS[i.origin])
            at = format_datetime(i.started_at, lang, i.timezone) if i.started_at else ""
            out.append(f"  {t(_('issue #{id}', id=i.id))} {i.campaign} {i.period} {at} ({state})")
        out.append(t(_("sources in error: {n}", n=len(self.source_errors) or none)))
        for s in self.source_errors:
            out.append(f"  {s.type} {s.url or ''}: {s.error or t(_('unknown error'))}")
        for item in self.runtime:
            warning = _(
                "warning: {component} {running} is older than {fixed}, which fixes {fixes}; "
                "update the runtime",
                component=item.component,
                running=item.running,
                fixed=item.fixed,
                fixes=item.fixes,
            )
            out.append(t(warning))
        return out


def _waits(line: IssueLine, now: datetime) -> Msg:
    """What an approved issue waits for: its send time (in its city's time), the next
    send check (none set, or its time has come), or a person (its schedule cancelled)."""
    if line.scheduled_at is not None and line.scheduled_at > now:
        return _("scheduled for {send_at}", send_at=dt_arg(line.scheduled_at))
    if line.scheduled_at is not None:
        return _("scheduled for {send_at}; sent at the next send check",
                 send_at=dt_arg(line.scheduled_at))  # fmt: skip
    if line.kept_back:
        return _("its schedule was cancelled: waiting to be sent or scheduled")
    return _("sent at the next send check")


def _send_order(line: IssueLine) -> tuple[bool, float, int]:
    """Scheduled issues first, by their send time; then the rest by id."""
    at = line.scheduled_at
    return (at is None, at.timestamp() if at is not None else 0.0, line.id)


def _scheduler_state(settings: Settings) -> Msg:
    engine = get_engine(settings)
    if is_sqlite(engine):
        lock = FileLock(daemon_lock_path(settings))
        if lock.is_locked():
            return _("a daemon is running (pid {pid})", pid=str(lock.holder()))
        return _("no daemon running (use `outreach daemon`, or `outreach run-due` from cron)")
    holder = pg_leader_pid(engine)
    if holder is None:
        return _("no leader (no daemon running, or a takeover is under way)")
    return _("leader {holder}", holder=str(holder))


def _same_second(a: datetime | None, b: datetime | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs((a - b).total_seconds()) < 1


def _issue_now(session: Session, issue_id: int) -> Msg | None:
    """What became of an issue since the run that built it: the counts of its send
    (every sender's share), or where it waits; None while it is a draft."""
    issue = session.get(Issue, issue_id)
    if issue is None or issue.status == IssueStatus.DRAFT:
        return None
    state = issue.status
    if state == IssueStatus.APPROVED:
        if issue.scheduled_at is not None:
            return _("approved; to be sent {send_at}", send_at=dt_arg(issue.scheduled_at))
        if issue.kept_back:
            return _("approved; its schedule was cancelled: waiting to be sent or scheduled")
        return _("approved; sent at the next send check")
    if state == IssueStatus.HELD:
        return _("held: an item was cancelled at the source")
    if state == IssueStatus.DISCARDED:
        return _("discarded")
    counts = issue_counts(session, issue_id)
    if state in (IssueStatus.SENDING, IssueStatus.SENT):
        return counts
    return _("{state}; {counts}", state=STATE_WORDS.get(state, raw(state)), counts=counts)


def _up_to_date(session: Session, stored: str | None) -> str | None:
    """A last-run message brought up to date: what became of the issue the run built
    (approved, scheduled, sent, paused, …) instead of what the run left it as, its
    send's counts every sender's share. An error stays as it was recorded."""
    message = Msg.load(stored)
    if message is None or message.raw:
        return stored
    issue_id, result = message.args.get("id"), message.args.get("result")
    describes_issue = message.text in (WAITING, REFUSED) or (
        message.text == ISSUE_RUN and isinstance(result, Msg) and result.text == ISSUE_COUNTS
    )
    if not describes_issue or not isinstance(issue_id, int):
        return stored
    now = _issue_now(session, issue_id)
    if now is None:
        return stored
    return _(ISSUE_RUN, id=issue_id, what=message.args.get("what", ""), result=now).dump()


def status(
    settings: Settings,
    *,
    now: datetime | None = None,
    runtime: list[Outdated] | None = None,
    config: Config | None = None,
) -> StatusReport:
    """Collect the report; reads only, never runs anything.

    ``runtime`` lists outdated runtime components (default: this process's);
    ``config`` the campaign files already loaded (default: read them now).
    """
    try:
        return _status(settings, now, outdated() if runtime is None else runtime, config)
    except SQLAlchemyError as exc:
        raise unavailable(exc, settings) from None


def _status(
    settings: Settings, now: datetime | None, runtime: list[Outdated], loaded: Config | None
) -> StatusReport:
    moment = now if now is not None else datetime.now(UTC)
    try:
        config = loaded if loaded is not None else load_config(settings)
    except CampaignError as exc:  # a broken cities.yaml: report the rest all the same
        config = Config.unavailable(settings.campaigns_path, [str(exc)])
    engine = get_engine(settings)
    jobs = stored_next_runs(engine)
    with session_scope(engine) as session:
        rows = {c.slug: c for c in session.scalars(select(Campaign))}
        campaigns = []
        for slug, camp in sorted(config.campaigns.items()):
            tz = config.city_of(camp).timezone
            row = rows.get(slug)
            nxt = next_fire_time(camp, tz, moment)
            job_next = None if jobs is None else jobs.get(f"campaign:{slug}")
            differs = jobs is not None and not _same_second(nxt, job_next)
            campaigns.append(
                CampaignStatus(
                    slug,
                    tz,
                    nxt,
                    row.last_run_at if row else None,
                    row.last_run_status if row else None,
                    _up_to_date(session, row.last_run_message) if row else None,
                    differs,
                    job_next,
                )
            )
        slugs = {c.id: c.slug for c in rows.values()}
        issues = list(
            session.scalars(
                select(Issue)
                .where(Issue.status.in_([IssueStatus.DRAFT, IssueStatus.HELD, *IN_PROGRESS]))
                .order_by(Issue.id)
            )
        )
        counts: dict[int, dict[str, int]] = defaultdict(dict)
        ids = [i.id for i in issues if i.status in IN_PROGRESS]
        if ids:
            grouped = session.execute(
                select(Delivery.issue_id, Delivery.status, func.count())
                .where(Delivery.issue_id.in_(ids))
                .group_by(Delivery.issue_id, Delivery.status)
            )
            for issue_id, delivery_status, n in grouped:
                counts[issue_id][str(delivery_status)] = int(n)

        def line(i: Issue) -> IssueLine:
            return IssueLine(
                i.id, slugs.get(i.campaign_id, "?"), i.period, str(i.status),
                scheduled_at=i.scheduled_at, kept_back=i.kept_back,
            )  # fmt: skip

        lines = [
            replace(
                line(i),
                counts=counts[i.id],
                message=i.status_message if i.status == IssueStatus.HELD else None,
            )
            for i in issues
        ]
        since = moment - timedelta(days=RECENT_DAYS)
        started = list(
            session.scalars(
                select(Issue)
                .where(Issue.send_started_at.is_not(None), Issue.send_started_at >= since)
                .order_by(Issue.send_started_at, Issue.id)
            )
        )
        origins = send_origins(session, [i.id for i in issues + started])
        zones = {
            row.id: config.cities[row.city.slug].timezone
            for row in rows.values()
            if row.city.slug in config.cities
        }
        lines = [
            replace(x, origin=origins.get(x.id, ""), timezone=zones.get(i.campaign_id, x.timezone))
            for x, i in zip(lines, issues, strict=True)
        ]
        recent = [
            replace(
                line(i),
                origin=origins.get(i.id, ""),
                started_at=i.send_started_at,
                timezone=zones.get(i.campaign_id, "Europe/Helsinki"),
            )
            for i in started
        ]
        errors = [
            SourceLine(s.type, s.url, s.error, s.last_fetched_at)
            for s in session.scalars(
                select(SourceState).where(SourceState.status == SourceStatus.ERROR)
            )
        ]
    return StatusReport(
        moment,
        _scheduler_state(settings),
        campaigns,
        [x for x in lines if x.status == IssueStatus.DRAFT],
        [x for x in lines if x.status in SENDS],
        errors,
        recent,
        dict(config.broken),
        [x for x in lines if x.status == IssueStatus.HELD],
        runtime,
        sorted((x for x in lines if x.status == IssueStatus.APPROVED), key=_send_order),
    )
