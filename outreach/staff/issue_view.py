"""What the console's issue page shows: per language the subject, preheader,
audience and size against Gmail's clipping limit; the pre-flight check report;
the send's progress, failures with the server's reason and the unsubscribes
that followed the issue. The preview is rendered exactly as ``outreach issue
preview`` renders it (example links and name in place of the recipient's)."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outreach.bounces import Rates, issue_rates
from outreach.campaigns import Config
from outreach.checks import MAX_AGE, Report, digest, run_checks, save_report
from outreach.db import get_engine, session_scope
from outreach.delivery import IssueOverview, issue_counts, issue_overview, preview
from outreach.errors import OutreachError
from outreach.models import (
    ISSUE_FINISHED,
    ConsentRecord,
    Delivery,
    DeliveryStatus,
    Issue,
    IssueCheck,
    IssueStatus,
)
from outreach.render import HTML_LIMIT, render_issue
from outreach.settings import Settings
from outreach.staff.workflow import (
    Refused,
    four_eyes,
    languages_of,
    last_editor,
    test_addresses,
)

log = logging.getLogger(__name__)
_running: set[int] = set()
_running_lock = threading.Lock()
#: Gmail clips a message whose HTML is over 102 KB.
CLIP_KB = 102
#: Statuses whose page follows the send's progress.
LIVE = (IssueStatus.SENDING, IssueStatus.PAUSED)
#: Statuses whose page shows the pre-flight check.
CHECKED = (IssueStatus.DRAFT, IssueStatus.HELD)


@dataclass(frozen=True)
class LanguageView:
    lang: str
    subject: str
    preheader: str
    audience: int
    size_kb: float  # the HTML part, before the per-recipient values
    over_limit: bool
    error: str | None = None  # the render failed: why


@dataclass
class IssuePage:
    issue: Issue
    overview: IssueOverview
    languages: list[LanguageView]
    report: Report | None
    last_editor: str | None
    four_eyes: bool
    test_addresses: list[str]
    unsubscribes: dict[str, int] = field(default_factory=dict)
    #: Bounces and complaints of a sent issue (``rates.too_many_…`` warn).
    rates: Rates | None = None
    report_at: datetime | None = None
    #: The report is about the content as it is now and younger than an hour.
    report_fresh: bool = False

    @property
    def needs_check(self) -> bool:
        """A draft whose shown report is missing or stale: run one in the background."""
        return self.issue.status in CHECKED and not self.report_fresh

    @property
    def live(self) -> bool:
        return self.issue.status in LIVE


def preview_of(settings: Settings, config: Config, issue: Issue, lang: str, text: bool) -> str:
    """The issue in ``lang`` as a subscriber gets it (HTML, or the plain-text part)."""
    return preview(settings, config, issue, lang, text=text)


#: Rendered sizes by (issue, snapshot digest, language, templates): an issue page asks
#: again and again for the same content, and inlining the CSS is the slow part.
_sizes: OrderedDict[tuple[int, str, str, str], tuple[str, str, int]] = OrderedDict()
_SIZES_KEPT = 256


def _rendered(settings: Settings, config: Config, issue: Issue, lang: str) -> tuple[str, str, int]:
    """Subject, preheader and HTML size of the issue in ``lang`` (cached per content)."""
    key = (issue.id, digest(issue.snapshot or {}), lang, str(settings.templates_path))
    with _running_lock:
        found = _sizes.get(key)
    if found is not None:
        return found
    message = render_issue(settings, config, issue, lang, size_limit=False)
    value = (message.subject, message.preheader, len(message.html.encode("utf-8")))
    with _running_lock:
        _sizes[key] = value
        while len(_sizes) > _SIZES_KEPT:
            _sizes.popitem(last=False)
    return value


def _language(
    settings: Settings, config: Config, issue: Issue, lang: str, audience: int
) -> LanguageView:
    data = ((issue.snapshot or {}).get("languages") or {}).get(lang) or {}
    subject, preheader = str(data.get("subject") or ""), str(data.get("preheader") or "")
    try:
        subject, preheader, size = _rendered(settings, config, issue, lang)
    except OutreachError as exc:
        return LanguageView(lang, subject, preheader, audience, 0.0, False, str(exc))
    return LanguageView(
        lang, subject, preheader, audience, round(size / 1024, 1), size > HTML_LIMIT
    )


#: Figures of a finished send are reused this long (they change only by unsubscribes).
FIGURES_SECONDS = 60.0
_figures: dict[tuple[str, str, int], tuple[float, dict[str, int]]] = {}


def finished_figures(
    session: Session, name: str, issue: Issue, work: Callable[[], dict[str, int]]
) -> dict[str, int]:
    """``work()``, kept a minute for a finished send (pages ask on every view)."""
    found = finished_figures_of(
        session, name, {issue.id: issue.status}, lambda ids: {issue.id: work()}
    )
    return found[issue.id]


def finished_figures_of(
    session: Session,
    name: str,
    statuses: dict[int, IssueStatus],
    work: Callable[[list[int]], dict[int, dict[str, int]]],
) -> dict[int, dict[str, int]]:
    """:func:`finished_figures` of several issues (``statuses``: id -> status): those
    kept as kept, the others from one ``work(ids)`` call."""
    url = str(session.get_bind().engine.url)
    now = time.monotonic()
    found: dict[int, dict[str, int]] = {}
    with _running_lock:
        for issue_id, status in statuses.items():
            kept = _figures.get((name, url, issue_id)) if status in ISSUE_FINISHED else None
            if kept is not None and now - kept[0] < FIGURES_SECONDS:
                found[issue_id] = dict(kept[1])
    missing = [issue_id for issue_id in statuses if issue_id not in found]
    if not missing:
        return found
    made = work(missing)
    with _running_lock:
        for issue_id in missing:
            found[issue_id] = made[issue_id]
            if statuses[issue_id] in ISSUE_FINISHED:
                _figures[(name, url, issue_id)] = (now, dict(made[issue_id]))
        for stale in [k for k, (at, _) in _figures.items() if now - at >= FIGURES_SECONDS]:
            del _figures[stale]
    return found


def forget_figures() -> None:
    """Drop the kept figures of finished sends (each is counted again when next asked)."""
    with _running_lock:
        _figures.clear()


def unsubscribes(session: Session, issue: Issue) -> dict[str, int]:
    return finished_figures(session, "unsubscribes", issue, lambda: _unsubscribes(session, issue))


def _unsubscribes(session: Session, issue: Issue) -> dict[str, int]:
    """Recipients of the issue who unsubscribed after it went out, per language.

    Counted from the send's start until the campaign's next send started (or
    now): a withdrawal of a subscription the issue was delivered to.
    """
    if issue.send_started_at is None:
        return {}
    until = session.scalar(
        select(func.min(Issue.send_started_at)).where(
            Issue.campaign_id == issue.campaign_id, Issue.send_started_at > issue.send_started_at
        )
    )
    query = (
        select(Delivery.language, func.count(func.distinct(ConsentRecord.subscription_id)))
        .join(ConsentRecord, ConsentRecord.subscription_id == Delivery.subscription_id)
        .where(
            Delivery.issue_id == issue.id,
            Delivery.status == DeliveryStatus.SENT,
            ConsentRecord.action == "withdrawn",
            ConsentRecord.created_at >= issue.send_started_at,
        )
        .group_by(Delivery.language)
    )
    if until is not None:
        query = query.where(ConsentRecord.created_at < until)
    return {str(lang): int(n) for lang, n in session.execute(query)}


def issue_page(
    session: Session,
    settings: Settings,
    config: Config,
    issue: Issue,
    *,
    now: datetime | None = None,
    check: bool = True,
) -> IssuePage:
    """Everything the issue page shows; ``check``: with the last stored check report
    (never run here: the page answers at once, the caller runs a stale one after)."""
    overview = issue_overview(session, settings, config, issue)
    languages = [
        _language(settings, config, issue, lang, overview.audience.get(lang, 0))
        for lang in languages_of(config, issue)
    ]
    report, report_at, fresh = None, None, False
    if check and issue.status in CHECKED:
        report, report_at, fresh = last_report(session, issue, now or datetime.now(UTC))
    return IssuePage(
        issue=issue,
        overview=overview,
        languages=languages,
        report=report,
        last_editor=last_editor(session, issue),
        four_eyes=four_eyes(config, issue),
        test_addresses=test_addresses(session, issue.campaign.city.slug),
        unsubscribes=unsubscribes(session, issue),
        rates=issue_rates(session, issue.id) if issue.send_started_at is not None else None,
        report_at=report_at,
        report_fresh=fresh,
    )


def last_report(
    session: Session, issue: Issue, now: datetime
) -> tuple[Report | None, datetime | None, bool]:
    """The issue's last stored report whatever its age, when it ran, and whether it is
    fresh (about the content as it is now, and younger than the check's hour)."""
    row = session.scalar(select(IssueCheck).where(IssueCheck.issue_id == issue.id))
    if row is None:
        return None, None, False
    fresh = row.snapshot_digest == digest(issue.snapshot or {}) and row.checked_at >= now - MAX_AGE
    return Report.from_json(row.report), row.checked_at, fresh


def progress(session: Session, issue: Issue) -> dict[str, object]:
    """The send's counts now, for the progress endpoint."""
    counts = issue_counts(session, issue.id)
    total = counts.get("total") or sum(v for k, v in counts.items() if k != "total")
    done = sum(counts.get(s, 0) for s in ("sent", "failed", "skipped", "cancelled"))
    return {
        "issue": issue.id,
        "status": issue.status.value,
        "counts": counts,
        "done": done,
        "total": total,
        "finished": issue.status not in LIVE,
        "checked": last_report(session, issue, datetime.now(UTC))[2],
    }


def check_now(
    session: Session, settings: Settings, config: Config, issue: Issue, now: datetime | None = None
) -> int:
    """Run the pre-flight check of a draft or held issue now and store it; its errors."""
    if issue.status not in (IssueStatus.DRAFT, IssueStatus.HELD):
        raise Refused("not_draft")
    report = run_checks(session, settings, config, issue, now=now or datetime.now(UTC))
    save_report(session, issue, report)
    return len(report.errors)


def check_in_background(settings: Settings, config: Config, issue_id: int) -> None:
    """Run and store the check of a draft in its own transaction (after a page answered).

    One check per issue at a time in this process; a failure is logged, the page
    keeps showing the last report.
    """
    with _running_lock:
        if issue_id in _running:
            return
        _running.add(issue_id)
    try:
        with session_scope(get_engine(settings)) as session:
            issue = session.get(Issue, issue_id)
            if issue is not None and issue.status in (IssueStatus.DRAFT, IssueStatus.HELD):
                check_now(session, settings, config, issue)
    except OutreachError as exc:
        log.warning("check of issue %s in the background failed: %s", issue_id, exc)
    finally:
        with _running_lock:
            _running.discard(issue_id)


def checking(issue_id: int) -> bool:
    """Whether a background check of the issue runs in this process now."""
    with _running_lock:
        return issue_id in _running
