"""Sending an issue: ``send_issue``, ``send_test`` and the dry run.

``send_issue`` starts ``workers`` threads (see :mod:`outreach.delivery.workers`),
which open their connections while it fixes the audience if the issue is
still ``approved`` and renders the first language (each other one when a
recipient needs it), lets them send, and returns when no row is due any more, or
when a burst of policy refusals paused the send (:mod:`outreach.delivery.burst`). Rows
waiting for a retry stay ``pending`` with their ``next_attempt_at``; a later
call (the scheduler's, or ``outreach issue send`` again) sends them. The issue
becomes ``sent`` when no ``pending`` or ``sending`` row remains.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, exists, func, select, update
from sqlalchemy.orm import Session, joinedload

from outreach.campaigns import Config
from outreach.db import get_engine
from outreach.delivery.audience import audience_query, mailable
from outreach.delivery.backends.base import SendResult
from outreach.delivery.burst import pause_for_burst
from outreach.delivery.fill import OutboxFill
from outreach.delivery.message import IssueMessages, Rendered, city_mail_url, send_batch
from outreach.delivery.outbox import FIRST_SLICE_PER_WORKER, reclaim_dead, start_outbox
from outreach.delivery.ratelimit import limiter_for
from outreach.delivery.workers import SendReport, SendRun, quick_switching
from outreach.errors import IssueError, OutreachError, PermanentDeliveryError, msg
from outreach.issues import fixed_audience, send_as
from outreach.models import (
    Delivery,
    DeliveryStatus,
    Issue,
    IssueStatus,
    Subscriber,
    Subscription,
    utcnow,
)
from outreach.render import render_issue
from outreach.settings import Settings
from outreach.suppression import prepare_connection, suppression_key

__all__ = ["SendReport", "send_issue", "send_test"]

log = logging.getLogger(__name__)
ACTIVE = (DeliveryStatus.PENDING, DeliveryStatus.SENDING)
FINAL = (DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.SKIPPED)


def render(settings: Settings, config: Config, issue: Issue, lang: str) -> Rendered:
    """The render stage's output for one language (tests swap in a fixed message)."""
    return render_issue(settings, config, issue, lang)


def _builders(
    settings: Settings,
    config: Config,
    session: Session,
    issue: Issue,
    mail_url: str,
    subject_prefix: str = "",
    languages: list[str] | None = None,
) -> dict[str, IssueMessages]:
    campaign = config.campaign(issue.campaign.slug)
    built = fixed_audience(issue.snapshot or {}, campaign)[1]
    return {
        lang: IssueMessages(
            settings,
            config,
            city_slug=campaign.city,
            campaign_slug=campaign.slug,
            issue_id=issue.id,
            lang=lang,
            rendered=render(settings, config, issue, lang),
            mail_url=mail_url,
            subject_prefix=subject_prefix,
        )
        for lang in (languages or built)
    }


class _Editions(dict[str, IssueMessages]):
    """The issue's message builders per language, each rendered on first use."""

    def __init__(
        self,
        settings: Settings,
        config: Config,
        session: Session,
        issue: Issue,
        mail_url: str,
        languages: list[str],
    ) -> None:
        super().__init__(_builders(settings, config, session, issue, mail_url, "", languages[:1]))
        self.make: Callable[[str], dict[str, IssueMessages]] = lambda lang: _builders(
            settings, config, session, issue, mail_url, "", [lang]
        )
        self.languages = languages
        self.lock = threading.Lock()

    def get(self, lang: str, default: Any = None) -> Any:
        if lang not in self.languages:
            return default
        with self.lock:
            if not dict.__contains__(self, lang):
                self[lang] = self.make(lang)[lang]
            return dict.__getitem__(self, lang)


def _load(session: Session, issue_id: int) -> Issue:
    issue = session.get(Issue, issue_id, options=[joinedload(Issue.campaign)])
    if issue is None:
        raise IssueError(msg("no issue {id}"), id=issue_id)
    return issue


def send_issue(
    settings: Settings,
    config: Config,
    issue_id: int,
    *,
    workers: int | None = None,
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
    stop: threading.Event | None = None,
    lease_seconds: float = 600.0,
    retry_base_seconds: float = 60.0,
) -> SendReport:
    """Send every due delivery of the issue; see the module docstring.

    ``stop`` is the caller's (a daemon's, a command's Ctrl-C): once set, each
    worker finishes the message it is handing over and gives the rest back. The
    send never sets it: a worker that fails stops only this send's threads (its own
    :class:`~outreach.delivery.workers.SendStop`), and the error is raised as
    :class:`OutreachError` for the caller to report.
    """
    started = time.monotonic()
    engine = get_engine(settings)
    report = SendReport(issue_id)
    with contextlib.ExitStack() as sending, Session(engine, expire_on_commit=False) as session:
        issue = _load(session, issue_id)
        campaign = config.campaign(issue.campaign.slug)
        mail_url = city_mail_url(settings, config, campaign.city)
        if dry_run:
            return _dry_run(settings, config, session, issue, mail_url, started)
        if issue.status == IssueStatus.SENT:
            return SendReport(issue_id, status=issue.status.value)
        if issue.status not in (IssueStatus.APPROVED, IssueStatus.SENDING):
            raise IssueError(
                msg("issue {id} is {status}; resume it first")
                if issue.status == IssueStatus.PAUSED
                else msg("issue {id} is {status}; it cannot be sent"),
                id=issue_id,
                status=issue.status.value,
            )
        connections = max(1, workers or settings.send_workers)
        run = SendRun(
            settings,
            engine,
            issue_id,
            mail_url,
            lease_seconds=lease_seconds,
            retry_base_seconds=retry_base_seconds,
            stop=stop,
            progress=progress,
            limiter=limiter_for(mail_url, settings.rate_per_second, settings.rate_per_hour),
            report=report,
            connections=connections,
        )
        sending.enter_context(quick_switching())
        # The workers open their connections while the outbox is written and the
        # issue rendered; they claim nothing before run.begin().
        try:
            run.start()
            builders, fill, total, done = _prepare(
                settings, config, session, engine, issue, mail_url, connections, progress, run.stop
            )
        except BaseException:
            run.abort()
            raise
        run.begin(builders, builders.languages[0], total=total, done=done, fill=fill)
        session.close()  # its connection back to the pool while the workers send
        run.join()
    report.interrupted = stop is not None and stop.is_set()
    burst = run.policy.burst
    if burst is not None and pause_for_burst(settings, config, issue_id, burst):
        report.burst = burst
    _finish(settings, issue_id, report)
    report.elapsed = time.monotonic() - started
    if report.errors:
        raise OutreachError(f"issue {issue_id}: sending stopped: {report.errors[0]}")
    return report


def _prepare(
    settings: Settings,
    config: Config,
    session: Session,
    engine: Engine,
    issue: Issue,
    mail_url: str,
    connections: int,
    progress: Callable[[int, int], None] | None,
    stop: threading.Event,
) -> tuple[_Editions, OutboxFill | None, int, int]:
    """Everything before the first claim: the outbox's first slice (or, on SQLite,
    the whole outbox), the first language rendered, and for a send resumed the
    rows of a dead process on this host reclaimed. Returns the editions, the fill
    still to run (PostgreSQL), and the rows in the outbox and those done, which
    the progress starts from."""
    issue_id = issue.id
    campaign = config.campaign(issue.campaign.slug)
    started_here = issue.status == IssueStatus.APPROVED
    written = 0
    if started_here:
        # PostgreSQL: the first slice now, the rest while it is sent (delivery.fill).
        # The rows written are what the progress starts from; the fill counts the rest.
        written = start_outbox(session, settings, config, issue, workers=connections, count=False)
        session.commit()
        log.info("issue %s: sending started, %d recipients in the outbox", issue_id, written)
    # The rest of the outbox: after the first slice, or after a send that stopped
    # before it was complete.
    complete = issue.outbox_complete
    # The first language now (its errors stop the send before anything goes
    # out), the others when a recipient needs them: an edition nobody reads
    # is never rendered. The languages are the issue's, as built and approved.
    languages = fixed_audience(issue.snapshot or {}, campaign)[1]
    builders = _Editions(settings, config, session, issue, mail_url, languages)
    fill = None
    if not complete:
        fill = OutboxFill(
            engine,
            settings,
            config,
            issue_id,
            size=2 * FIRST_SLICE_PER_WORKER * connections,
            stop=stop,
        )
        if engine.dialect.name != "postgresql":
            fill.run()  # one writer: the whole outbox before the send
            if fill.error is not None:
                raise OutreachError(f"issue {issue_id}: filling the outbox failed: {fill.error}")
            fill = None
    if started_here:
        # An approved issue was never sent (no transition leads back to approved
        # from sending): no process, dead or alive, holds a row of its outbox.
        return builders, fill, written, 0
    reclaim_dead(engine, issue_id)
    # A send resumed: what its progress starts from, and what its claims share.
    with Session(engine) as counting:
        total, done = counting.execute(
            select(func.count(), func.count().filter(Delivery.status.in_(FINAL))).where(
                Delivery.issue_id == issue_id
            )
        ).one()
    return builders, fill, total, done


def _finish(settings: Settings, issue_id: int, report: SendReport) -> None:
    with Session(get_engine(settings)) as session:
        active = exists().where(Delivery.issue_id == issue_id, Delivery.status.in_(ACTIVE))
        finished = session.scalar(
            update(Issue)
            .where(
                Issue.id == issue_id,
                Issue.status == IssueStatus.SENDING,
                Issue.outbox_complete.is_(True),
                ~active,
            )
            .values(status=IssueStatus.SENT, sent_at=utcnow())
            .returning(Issue.id)
        )
        session.commit()
        if finished is not None:  # nothing pending or sending is left: no more to ask
            report.remaining, report.status = 0, IssueStatus.SENT.value
            return
        report.remaining = (
            session.scalar(
                select(func.count()).where(
                    Delivery.issue_id == issue_id, Delivery.status.in_(ACTIVE)
                )
            )
            or 0
        )
        status = session.scalar(select(Issue.status).where(Issue.id == issue_id))
        report.status = status.value if status is not None else ""


def _dry_run(
    settings: Settings,
    config: Config,
    session: Session,
    issue: Issue,
    mail_url: str,
    started: float,
) -> SendReport:
    """Everything but the backend and the writes: read, re-check, build, discard."""
    report = SendReport(issue.id, dry_run=True, status=issue.status.value)
    builders = _builders(settings, config, session, issue, mail_url)
    campaign = config.campaign(issue.campaign.slug)
    chosen, languages = fixed_audience(issue.snapshot or {}, campaign)
    prepare_connection(session)
    key = suppression_key(settings)
    eligible = mailable(Subscriber.email, key)
    has_rows = session.scalar(select(exists().where(Delivery.issue_id == issue.id)))
    stmt: Any
    if has_rows:
        stmt = (
            select(
                Delivery.email,
                Delivery.subscriber_id,
                Delivery.subscription_id,
                Delivery.language,
                Subscription.token_salt,
                Subscriber.contact_name,
                eligible.label("eligible"),
            )
            .join(Subscription, Subscription.id == Delivery.subscription_id)
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
            .where(Delivery.issue_id == issue.id, Delivery.status == DeliveryStatus.PENDING)
        )
    else:
        aud = audience_query(
            issue.campaign.city_id,
            chosen,
            languages,
            key=key,
            send_as=send_as(issue.snapshot or {}),
        ).subquery()
        stmt = (
            select(
                aud.c.email,
                aud.c.subscriber_id,
                aud.c.subscription_id,
                aud.c.language,
                Subscription.token_salt,
                Subscriber.contact_name,
                eligible.label("eligible"),
            )
            .join(Subscription, Subscription.id == aud.c.subscription_id)
            .join(Subscriber, Subscriber.id == aud.c.subscriber_id)
        )
    for row in session.execute(stmt.execution_options(yield_per=500)):
        if not row.eligible:
            report.skipped += 1
            continue
        builder = builders.get(row.language) or builders[languages[0]]
        try:
            builder.build(
                email=row.email,
                subscriber_id=row.subscriber_id,
                subscription_id=row.subscription_id,
                token_salt=row.token_salt,
                contact_name=row.contact_name,
            )
        except PermanentDeliveryError:
            report.failed += 1
            continue
        report.sent += 1
    report.elapsed = time.monotonic() - started
    return report


def send_test(
    settings: Settings, config: Config, issue: Issue, lang: str, to: list[str]
) -> list[SendResult]:
    """Send the issue to ``to`` with "[TEST] " before the subject; records nothing."""
    engine = get_engine(settings)
    with Session(engine, expire_on_commit=False) as session:
        loaded = _load(session, issue.id)
        campaign = config.campaign(loaded.campaign.slug)
        languages = fixed_audience(loaded.snapshot or {}, campaign)[1]
        if lang not in languages:
            raise IssueError(
                msg("{campaign} has no {lang} edition (languages: {languages})"),
                campaign=campaign.slug,
                lang=repr(lang),
                languages=languages,
            )
        mail_url = city_mail_url(settings, config, campaign.city)
        builder = _builders(settings, config, session, loaded, mail_url, "[TEST] ", [lang])[lang]
    results: list[SendResult | None] = [None] * len(to)
    messages = []
    positions = []
    for i, address in enumerate(to):
        try:
            messages.append(builder.build_test(address))
            positions.append(i)
        except PermanentDeliveryError as exc:
            results[i] = SendResult("permanent", str(exc))
    sent = send_batch(mail_url, messages) if messages else []
    for i, result in zip(positions, sent, strict=True):
        results[i] = result
    return [r if r is not None else SendResult("temporary", "not sent") for r in results]
