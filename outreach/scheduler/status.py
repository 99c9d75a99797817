"""``outreach status``: what the scheduler will do next and what needs a person."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import func, select

from outreach.db import get_engine, is_sqlite, session_scope
from outreach.models import Campaign, Delivery, Issue, IssueStatus, SourceState, SourceStatus
from outreach.scheduler.locks import FileLock, daemon_lock_path, pg_leader_pid
from outreach.scheduler.pipeline import load_config
from outreach.scheduler.timing import local_label, next_fire_time
from outreach.settings import Settings

IN_PROGRESS = (IssueStatus.APPROVED, IssueStatus.SENDING, IssueStatus.PAUSED)


@dataclass(frozen=True)
class CampaignStatus:
    slug: str
    timezone: str
    next_run: datetime | None
    last_run_at: datetime | None
    last_run_status: str | None
    last_run_message: str | None


@dataclass(frozen=True)
class IssueLine:
    id: int
    campaign: str
    period: str
    status: str
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceLine:
    type: str
    url: str | None
    error: str | None
    last_fetched_at: datetime | None


@dataclass
class StatusReport:
    now: datetime
    scheduler: str
    campaigns: list[CampaignStatus]
    waiting: list[IssueLine]
    sending: list[IssueLine]
    source_errors: list[SourceLine]

    def lines(self) -> list[str]:
        out = [f"scheduler: {self.scheduler}", "campaigns:"]
        for c in self.campaigns:
            nxt = local_label(c.next_run, c.timezone) if c.next_run else "none"
            if c.last_run_at is None:
                last = "never run"
            else:
                last = f"{local_label(c.last_run_at, c.timezone)} {c.last_run_status}"
                if c.last_run_message:
                    last += f": {c.last_run_message}"
            out.append(f"  {c.slug}: next {nxt}; last {last}")
        if not self.campaigns:
            out.append("  none")
        out.append(f"waiting for approval: {len(self.waiting) or 'none'}")
        for i in self.waiting:
            out.append(f"  issue #{i.id} {i.campaign} {i.period}")
        out.append(f"sends in progress: {len(self.sending) or 'none'}")
        for i in self.sending:
            counts = ", ".join(f"{k} {v}" for k, v in sorted(i.counts.items())) or "no deliveries"
            out.append(f"  issue #{i.id} {i.campaign} {i.period} ({i.status}): {counts}")
        out.append(f"sources in error: {len(self.source_errors) or 'none'}")
        for s in self.source_errors:
            out.append(f"  {s.type} {s.url or ''}: {s.error or 'unknown error'}")
        return out


def _scheduler_state(settings: Settings) -> str:
    engine = get_engine(settings)
    if is_sqlite(engine):
        lock = FileLock(daemon_lock_path(settings))
        if lock.is_locked():
            return f"a daemon is running (pid {lock.holder()})"
        return "no daemon running (use `outreach daemon`, or `outreach run-due` from cron)"
    holder = pg_leader_pid(engine)
    if holder is None:
        return "no leader (no daemon running, or a takeover is under way)"
    return f"leader {holder}"


def status(settings: Settings, *, now: datetime | None = None) -> StatusReport:
    """Collect the report; reads only, never runs anything."""
    moment = now if now is not None else datetime.now(UTC)
    config = load_config(settings)
    with session_scope(get_engine(settings)) as session:
        rows = {c.slug: c for c in session.scalars(select(Campaign))}
        campaigns = []
        for slug, camp in sorted(config.campaigns.items()):
            tz = config.city_of(camp).timezone
            row = rows.get(slug)
            campaigns.append(
                CampaignStatus(
                    slug,
                    tz,
                    next_fire_time(camp, tz, moment),
                    row.last_run_at if row else None,
                    row.last_run_status if row else None,
                    row.last_run_message if row else None,
                )
            )
        slugs = {c.id: c.slug for c in rows.values()}
        issues = list(
            session.scalars(
                select(Issue)
                .where(Issue.status.in_([IssueStatus.DRAFT, *IN_PROGRESS]))
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
        lines = [
            IssueLine(i.id, slugs.get(i.campaign_id, "?"), i.period, str(i.status), counts[i.id])
            for i in issues
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
        [x for x in lines if x.status != IssueStatus.DRAFT],
        errors,
    )
