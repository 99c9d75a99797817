"""Where the pre-flight check runs: build, approve, automatic approval, the console.

- :func:`build_checked` builds an issue (``outreach issue build``, the
  scheduler), checks it and stores the report with the issue (the
  ``issue_checks`` table: an approved issue's snapshot never changes). For an
  ``approval: auto`` campaign it approves the issue only when the report has no
  errors; otherwise the issue stays a draft and a :class:`HoldNotice` is
  returned for the city's approvers (:func:`outreach.delivery.held.tell_approvers`).
- :func:`approve_checked` re-runs the check when the stored one is older than an
  hour or about other content, and refuses while there are errors unless an
  override reason is given; the reason goes into the issue's history
  (``issue_events``, action ``override``).
- :func:`current_report` is what the staff console shows: the stored report
  while it is fresh, else a new one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.campaigns import Config
from outreach.checks.report import VERSION_HEADS, Report, localised
from outreach.checks.run import run_checks
from outreach.errors import IssueError
from outreach.issues import BuildResult, HoldNotice, approve_issue, build_issue, record_event
from outreach.models import Issue, IssueCheck, IssueStatus
from outreach.settings import Settings
from outreach.sources import Fetcher

__all__ = [
    "MAX_AGE",
    "Approval",
    "CheckedBuild",
    "approve_checked",
    "build_checked",
    "current_report",
    "save_report",
    "stored_report",
]

#: A report older than this is run again before approval.
MAX_AGE = timedelta(hours=1)
AUTO_APPROVER = "auto"


def digest(snapshot: dict[str, Any]) -> str:
    """Which content a report is about."""
    text = json.dumps(snapshot, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def save_report(session: Session, issue: Issue, report: Report) -> None:
    """Store ``report`` as ``issue``'s latest (one row per issue, replaced)."""
    row = session.scalar(select(IssueCheck).where(IssueCheck.issue_id == issue.id))
    if row is None:
        row = IssueCheck(issue_id=issue.id)
        session.add(row)
    row.checked_at = report.checked_at
    row.snapshot_digest = digest(issue.snapshot or {})
    row.errors = len(report.errors)
    row.warnings = len(report.warnings)
    row.report = report.to_json()
    session.flush()


def stored_report(
    session: Session, issue: Issue, *, now: datetime | None = None, max_age: timedelta = MAX_AGE
) -> Report | None:
    """The stored report while it is about the issue's content and younger than ``max_age``."""
    row = session.scalar(select(IssueCheck).where(IssueCheck.issue_id == issue.id))
    if row is None or row.snapshot_digest != digest(issue.snapshot or {}):
        return None
    if row.checked_at < (now or datetime.now(UTC)) - max_age:
        return None
    return Report.from_json(row.report)


def current_report(
    session: Session,
    settings: Settings,
    config: Config,
    issue: Issue,
    *,
    now: datetime | None = None,
    max_age: timedelta = MAX_AGE,
    fetcher: Fetcher | None = None,
) -> tuple[Report, bool]:
    """The issue's report (stored while fresh, else run and stored); True when run now."""
    now = now or datetime.now(UTC)
    report = stored_report(session, issue, now=now, max_age=max_age)
    if report is not None:
        return report, False
    report = run_checks(session, settings, config, issue, now=now, fetcher=fetcher)
    save_report(session, issue, report)
    return report, True


@dataclass
class CheckedBuild:
    built: BuildResult
    report: Report | None  # None when nothing was built or the issue is past draft
    #: Automatic approval refused for errors: tell the city's approvers.
    refused: HoldNotice | None = None


def _notice(issue: Issue, report: Report, city_lang: str) -> HoldNotice:
    lines = []
    for f in report.errors:
        head = localised(VERSION_HEADS[f.lang])[city_lang] if f.lang in VERSION_HEADS else ""
        line = f"{head} {f.text(city_lang)}" if head else f.text(city_lang)
        detail = f.detail_text(city_lang)
        lines.append(f"{line} ({detail})" if detail else line)
    snapshot = issue.snapshot or {}
    return HoldNotice(
        issue.id,
        str(snapshot.get("campaign") or ""),
        str(snapshot.get("city") or ""),
        issue.period,
        "refused",
        lines,
    )


def build_checked(
    session: Session,
    settings: Settings,
    config: Config,
    slug: str,
    *,
    period: str | None = None,
    now: datetime | None = None,
    by: str = "outreach",
    auto_by: str = AUTO_APPROVER,
    fetcher: Fetcher | None = None,
) -> CheckedBuild:
    """Build, check and store the report; approve an ``approval: auto`` issue without errors.

    The build is committed before the links are checked, so the database is not
    held while remote servers answer.
    """
    now = now or datetime.now(UTC)
    built = build_issue(
        session, settings, config, slug, period=period, now=now, by=by, auto_approve=False
    )
    issue = built.issue
    if issue is None or issue.status != IssueStatus.DRAFT:
        return CheckedBuild(built, None)
    session.commit()
    report = run_checks(session, settings, config, issue, now=now, fetcher=fetcher)
    save_report(session, issue, report)
    campaign = config.campaign(slug)
    if campaign.approval != "auto":
        return CheckedBuild(built, report)
    if report.ok:
        approve_issue(session, issue.id, by=auto_by, now=now)
        return CheckedBuild(built, report)
    issue.status_message = f"not approved automatically: {len(report.errors)} errors in its check"
    record_event(session, issue, "auto refused", by=auto_by, detail=issue.status_message, now=now)
    city = config.cities[campaign.city]
    return CheckedBuild(built, report, _notice(issue, report, city.languages[0]))


@dataclass
class Approval:
    report: Report
    issue: Issue | None  # None: refused for the report's errors
    rerun: bool  # the check was run now (the stored one was stale or missing)


def approve_checked(
    session: Session,
    settings: Settings,
    config: Config,
    issue: Issue,
    *,
    by: str,
    override: str | None = None,
    now: datetime | None = None,
    fetcher: Fetcher | None = None,
) -> Approval:
    """Approve ``issue`` when its check has no errors, or with an override reason."""
    now = now or datetime.now(UTC)
    if issue.status not in (IssueStatus.DRAFT, IssueStatus.HELD):
        # the state machine's own message says what is allowed
        approve_issue(session, issue.id, by=by, now=now)
    reason = " ".join((override or "").split())
    if override is not None and not reason:
        raise IssueError("--override needs a reason, e.g. --override 'the 404 is fixed at noon'")
    report, rerun = current_report(session, settings, config, issue, now=now, fetcher=fetcher)
    if not report.ok:
        if not reason:
            return Approval(report, None, rerun)
        checks = ", ".join(sorted({f.check for f in report.errors}))
        record_event(session, issue, "override", by=by, detail=f"{reason} [{checks}]", now=now)
    return Approval(report, approve_issue(session, issue.id, by=by, now=now), rerun)
