"""What the scheduler drives: the :class:`Pipeline` protocol and the real stages.

The scheduler decides *when*; a pipeline does the work. :class:`StagePipeline`
calls the sources, issues, delivery and subscriptions stages (imported lazily,
so the scheduler stays importable and testable on its own); tests drive the
same scheduling code with a recording fake.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outreach.campaigns import Config, load, merge_console
from outreach.db import get_engine, session_scope
from outreach.errors import OutreachError
from outreach.issues import send_due_filter, waits_to_send
from outreach.models import Campaign, Delivery, DeliveryStatus, Issue, IssueStatus
from outreach.scheduler.locks import named_lock
from outreach.scheduler.messages import Msg, _, _n, dt_arg, raw
from outreach.settings import Settings

log = logging.getLogger(__name__)

#: The name recorded as the approver of issues of ``approval: auto`` campaigns.
AUTO_APPROVER = "scheduler (approval: auto)"
#: The actor the scheduler's builds and sends are recorded under in an issue's history.
SCHEDULER = "scheduler"


@dataclass(frozen=True)
class RunResult:
    """The outcome of one campaign run or one issue's send pass.

    ``status`` is one of ``ok`` (built, and sent or waiting for approval),
    ``empty`` (nothing new, ``when_empty: skip``), ``held`` (not sent: an item
    was cancelled at the source after approval, or an ``approval: auto`` issue
    has errors in its pre-flight check), ``stopped`` (interrupted by a
    shutdown; the send resumes on the next start), ``idle`` (a send pass with
    nothing due) or ``error``.
    """

    status: str
    message: str | Msg
    issue_id: int | None = None


class Pipeline(Protocol):
    """The stages, as the scheduler calls them. Every method commits its own work."""

    def fetch_all(self) -> str | Msg:
        """Fetch every source; returns a one-line summary."""

    def run_campaign(self, slug: str, fire_time: datetime) -> RunResult:
        """Fetch the campaign's sources, build its issue, approve if ``auto``, send."""

    def send_due(self, stop: threading.Event) -> list[RunResult]:
        """Send approved issues and retry deliveries whose backoff is over."""

    def purge(self) -> dict[str, int]:
        """Purge expired sign-ups and old records; returns rows removed per kind.

        Keys: ``sign_ups`` and those of :func:`outreach.retention.purge_old_records`.
        """


def load_config(settings: Settings) -> Config:
    """The campaigns folder, checked against the templates folder when there is one,
    plus the campaigns written in the staff console."""
    templates = settings.templates_path
    templates_dir = templates if templates.is_dir() else None
    config = load(settings.campaigns_path, templates_dir)
    with session_scope(get_engine(settings)) as session:
        return merge_console(config, session, templates_dir)


def utcnow() -> datetime:
    return datetime.now(UTC)


#: A whole issue's delivery counts, as a campaign's last-run line shows them.
ISSUE_COUNTS = _(
    "issue #{id}: sent {sent} of {total}, failed {failed}, skipped {skipped}, "
    "in progress {remaining}"
).text


#: A run that built an issue, and what it did with it: ``outreach status`` shows what
#: became of the issue since (:func:`outreach.scheduler.status`), in place of the
#: run's ``result``, the counts of its send, or the approval it waited for.
ISSUE_RUN = _("issue #{id} {what}; {result}").text
WAITING = _("issue #{id} {what}; waiting for approval").text
REFUSED = _("issue #{id} {what}; not approved automatically: errors in its check").text


def issue_counts(session: Session, issue_id: int) -> Msg:
    """Every process's share of the issue's send: the counts of all its deliveries.

    Several daemons send one issue, and after a failover the process that records
    the campaign's run sent only part of it; this is the whole.
    """
    rows = session.execute(
        select(Delivery.status, func.count())
        .where(Delivery.issue_id == issue_id)
        .group_by(Delivery.status)
    )
    counts = {str(status): int(n) for status, n in rows}
    active = (DeliveryStatus.PENDING, DeliveryStatus.SENDING)
    return _(
        ISSUE_COUNTS,
        id=issue_id,
        sent=counts.get(DeliveryStatus.SENT, 0),
        total=sum(counts.values()),
        failed=counts.get(DeliveryStatus.FAILED, 0),
        skipped=counts.get(DeliveryStatus.SKIPPED, 0),
        remaining=sum(counts.get(s, 0) for s in active),
    )


def _kept_back(issue: Issue, now: datetime) -> Msg:
    """Why an approved issue is not sent now (:func:`outreach.issues.waits_to_send`)."""
    if issue.scheduled_at is not None and issue.scheduled_at > now:
        return _("scheduled to be sent {send_at}", send_at=dt_arg(issue.scheduled_at))
    return _("its schedule was cancelled: it waits to be sent by hand or scheduled again")


class StagePipeline:
    """The real stages: sources → issues → delivery, and subscriptions' purge."""

    def __init__(
        self,
        settings: Settings,
        *,
        config: Config | None = None,
        stop: threading.Event | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.config = config if config is not None else load_config(settings)
        self.stop = stop if stop is not None else threading.Event()
        self.clock = clock
        self.engine = get_engine(settings)

    def hold_cancelled(self, issue_ids: list[int] | None = None) -> int:
        """Hold approved issues whose items were cancelled at the source; tell approvers."""
        from outreach.delivery import tell_approvers
        from outreach.issues import check_cancelled

        with session_scope(self.engine) as session:
            notices = check_cancelled(session, self.config, issue_ids)
        tell_approvers(self.settings, self.config, notices)
        return sum(1 for n in notices if n.action == "held")

    def fetch_all(self) -> str | Msg:
        from outreach.sources import fetch_sources

        with session_scope(self.engine) as session:
            reports = fetch_sources(session, self.settings, self.config, None, now=self.clock())
        self.hold_cancelled()
        errors = [r for r in reports if r.status == "error"]
        return _n(
            "fetched {n} source, {errors} in error",
            "fetched {n} sources, {errors} in error",
            "n",
            n=len(reports),
            errors=len(errors),
        )

    def run_campaign(self, slug: str, fire_time: datetime) -> RunResult:
        from outreach.checks import build_checked
        from outreach.delivery import tell_approvers
        from outreach.sources import fetch_sources

        now = self.clock()
        with session_scope(self.engine) as session:
            fetch_sources(session, self.settings, self.config, [slug], now=now)
        self.hold_cancelled()
        with session_scope(self.engine) as session:
            # builds, runs the pre-flight check, approves an approval: auto issue without errors
            checked = build_checked(
                session,
                self.settings,
                self.config,
                slug,
                now=now,
                by=SCHEDULER,
                auto_by=AUTO_APPROVER,
            )
            built = checked.built
            if built.issue is None or built.skipped:
                reason = _("nothing new")  # built.skipped is the English log line
                return RunResult("empty", _("no issue built: {reason}", reason=reason))
            issue = built.issue
            issue_id = issue.id
            what = _("built") if built.created else _("already built")
            waiting = issue.status == IssueStatus.DRAFT
            # approved earlier and then scheduled for later, or its schedule cancelled:
            # the campaign's fire time does not send it (docs/scheduler.md)
            kept = _kept_back(issue, now) if waits_to_send(issue, now) else None
        if checked.refused is not None:
            log.warning("%s", checked.refused.line())
            tell_approvers(self.settings, self.config, [checked.refused])
            return RunResult("held", _(REFUSED, id=issue_id, what=what), issue_id)
        if waiting:
            return RunResult("ok", _(WAITING, id=issue_id, what=what), issue_id)
        if kept is not None:
            message = _("issue #{id} {what}; {result}", id=issue_id, what=what, result=kept)
            return RunResult("ok", message, issue_id)
        result = self.send_issue(issue_id)
        whole = result.message
        if result.status != "error":
            with session_scope(self.engine) as session:
                whole = issue_counts(session, issue_id)
        message = _(ISSUE_RUN, id=issue_id, what=what, result=whole)
        return RunResult(result.status, message, issue_id)

    def send_issue(self, issue_id: int) -> RunResult:
        """Send what is due of an approved or sending issue (enqueueing it first)."""
        from outreach.delivery import send_issue, start_outbox
        from outreach.issues import record_send_start

        # One process writes an approved issue's outbox; the others leave the
        # issue for their next round, then every process sends (SKIP LOCKED).
        if self.hold_cancelled([issue_id]):
            return RunResult(
                "held",
                _("issue #{id} held: an item was cancelled at the source", id=issue_id),
                issue_id,
            )
        try:
            with named_lock(self.settings, f"enqueue:{issue_id}") as got:
                if not got:
                    elsewhere = _("issue #{id} is enqueued elsewhere", id=issue_id)
                    return RunResult("idle", elsewhere, issue_id)
                with session_scope(self.engine) as session:
                    issue = session.get(Issue, issue_id)
                    if issue is not None and waits_to_send(issue, self.clock()):
                        # scheduled for later or its schedule cancelled since it was chosen
                        return RunResult("idle", _kept_back(issue, self.clock()), issue_id)
                    if issue is not None and issue.status == IssueStatus.APPROVED:
                        start_outbox(
                            session,
                            self.settings,
                            self.config,
                            issue,
                            workers=self.settings.send_workers,
                        )
                        record_send_start(session, issue, by=SCHEDULER, manual=False)
            report = send_issue(
                self.settings,
                self.config,
                issue_id,
                workers=self.settings.send_workers,
                stop=self.stop,
            )
        except OutreachError as exc:
            return RunResult("error", _("send failed: {error}", error=raw(str(exc))), issue_id)
        if report.status != IssueStatus.SENDING.value:
            self.settle([issue_id])
        done = report.sent + report.failed + report.skipped
        interrupted = self.stop.is_set() and report.remaining > 0
        status = "stopped" if interrupted else ("ok" if done else "idle")
        counts = _(
            "issue #{id}: sent {sent}, failed {failed}, skipped {skipped}, "
            "retrying {retrying}, remaining {remaining}",
            id=issue_id,
            sent=report.sent,
            failed=report.failed,
            skipped=report.skipped,
            retrying=report.retrying,
            remaining=report.remaining,
        )
        return RunResult(status, counts, issue_id)

    def send_due(self, stop: threading.Event) -> list[RunResult]:
        self.stop = stop
        with session_scope(self.engine) as session:
            ids = list(
                session.scalars(
                    select(Issue.id)
                    .join(Campaign, Campaign.id == Issue.campaign_id)
                    .where(send_due_filter(self.clock()))
                    .order_by(Issue.id)
                )
            )
        results = []
        for issue_id in ids:
            if stop.is_set():
                break
            results.append(self.send_issue(issue_id))
        if not stop.is_set():
            self.settle()
        results.extend(self.story_digests())
        return results

    def settle(self, issue_ids: list[int] | None = None) -> None:
        """Fold the issues whose send settled (``issue_ids``, or any that did, here or
        elsewhere) for the statistics, so the first figures after a send do not
        (``outreach.stats.settle``)."""
        from outreach.stats import settle

        settle(self.engine, self.config, issue_ids, now=self.clock())

    def story_digests(self) -> list[RunResult]:
        """Tell each city's editors of newly submitted stories (at most hourly)."""
        from outreach.delivery import story_digests

        with session_scope(self.engine) as session:
            done = story_digests(session, self.settings, self.config, self.clock())
        return [
            RunResult(
                "ok",
                _("{city}: new stories: {stories}, digest mailed to editors: {mailed}",
                  city=d.city, stories=d.stories, mailed=d.mailed),
            )
            for d in done
        ]  # fmt: skip

    def purge(self) -> dict[str, int]:
        from outreach.retention import purge_old_records
        from outreach.subscriptions import purge_pending

        now = self.clock()
        with session_scope(self.engine) as session:
            sign_ups = int(purge_pending(session, self.settings, now=now))
        with session_scope(self.engine) as session:
            old = purge_old_records(session, self.settings, now=now)
        return {"sign_ups": sign_ups, **old}
