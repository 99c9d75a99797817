"""A city's console dashboard, from the same functions as ``outreach status`` and
``outreach issue list``: next runs, drafts waiting for approval, held issues,
approved issues and their send times, sends in progress, the last results, the
city's sources in error, and the issues whose complaints or hard bounces pass
the limits (as ``outreach status`` warns).

The issues are the city's rows in the database, found through the city of their
campaign's row: a campaign file left out because of an error hides none of them
(the dashboard names the file instead)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.bounces import Rates, issues_rates, reported_issues, sent_counts, warnings_of
from outreach.campaigns import Config
from outreach.db import get_engine, session_scope
from outreach.delivery import issues_counts
from outreach.issues import list_issues
from outreach.models import Campaign, City, Issue, IssueStatus
from outreach.scheduler import CampaignStatus, IssueLine, SourceLine, status
from outreach.settings import Settings
from outreach.staff.issue_view import finished_figures_of

#: Issues listed under "last results".
RECENT_ISSUES = 10


@dataclass(frozen=True)
class IssueRow:
    id: int
    campaign: str
    period: str
    status: str
    counts: dict[str, int] = field(default_factory=dict)
    built_at: datetime | None = None
    sent_at: datetime | None = None
    scheduled_at: datetime | None = None


@dataclass
class CityDashboard:
    city: str
    timezone: str
    campaigns: list[CampaignStatus]
    waiting: list[IssueLine]
    held: list[IssueLine]
    #: Sending or paused mid-send.
    sending: list[IssueLine]
    issues: list[IssueRow]
    source_errors: list[SourceLine]
    #: (issue id, rates) of the city's issues whose complaints or hard bounces pass a limit
    rate_warnings: list[tuple[int, Rates]] = field(default_factory=list)
    #: Approved, not yet sending: scheduled ones first, by their send time.
    approved: list[IssueLine] = field(default_factory=list)
    #: The city's campaign files (and console campaigns) left out because of errors.
    left_out: list[str] = field(default_factory=list)


def _city_sources(config: Config, city: str) -> set[tuple[str, str | None]]:
    found: set[tuple[str, str | None]] = set()
    for camp in config.campaigns.values():
        if camp.city != city:
            continue
        for section in getattr(camp, "sections", None) or []:
            for source in section.sources:
                url = source.options().get("url")
                found.add((source.type, str(url) if url is not None else None))
    return found


def campaign_cities(session: Session) -> dict[str, str]:
    """Every campaign row's slug → its city's slug, whatever its file says now."""
    query = select(Campaign.slug, City.slug).join(City, Campaign.city_id == City.id)
    return {str(slug): str(city) for slug, city in session.execute(query)}


def left_out(config: Config, city: str, owners: Mapping[str, str]) -> dict[str, list[str]]:
    """The campaign files (``vantaa-monthly.yaml``) and console campaigns
    (``slug (console)``) of ``city`` that ``config`` left out because of errors, with
    their error lines: those of a campaign the database knows as the city's, and
    those named after the city that it does not know (a new file)."""
    found: dict[str, list[str]] = {}
    for name, lines in config.broken.items():
        label = name.split(" ")[0]
        owner = owners.get(Path(label).stem if label.endswith(".yaml") else label)
        if owner == city or (owner is None and label.startswith(city)):
            found[name] = lines
    return found


def city_dashboard(
    settings: Settings, config: Config, city: str, *, now: datetime | None = None
) -> CityDashboard:
    """The dashboard in a fixed number of statements, whatever the number of issues
    and deliveries (the counts of a finished send are kept a minute)."""
    report = status(settings, now=now, runtime=[], config=config)
    sources = _city_sources(config, city)
    with session_scope(get_engine(settings)) as session:
        owners = campaign_cities(session)
        slugs = {slug for slug, owner in owners.items() if owner == city}
        issues = list_issues(session, campaigns=slugs, limit=RECENT_ISSUES) if slugs else []
        counts = finished_figures_of(
            session, "counts", {i.id: i.status for i in issues},
            lambda ids: {k: {s: n for s, n in c.items() if n}
                         for k, c in issues_counts(session, ids).items()},
        )  # fmt: skip
        rows = [
            IssueRow(
                issue.id,
                issue.campaign.slug,
                issue.period,
                str(issue.status),
                counts[issue.id],
                issue.built_at,
                issue.sent_at,
                issue.scheduled_at if issue.status == IssueStatus.APPROVED else None,
            )
            for issue in issues
        ]
        warnings = _rate_warnings(session, city)
    return CityDashboard(
        city=city,
        timezone=config.cities[city].timezone,
        campaigns=[c for c in report.campaigns if config.campaigns[c.slug].city == city],
        waiting=[i for i in report.waiting if i.campaign in slugs],
        held=[i for i in report.held if i.campaign in slugs],
        sending=[i for i in report.sending if i.campaign in slugs],
        issues=rows,
        source_errors=[s for s in report.source_errors if (s.type, s.url) in sources],
        rate_warnings=warnings,
        approved=[i for i in report.approved if i.campaign in slugs],
        left_out=sorted(left_out(config, city, owners)),
    )


def _rate_warnings(session: Session, city: str) -> list[tuple[int, Rates]]:
    """``outreach.bounces.rate_warnings`` of the city, each finished send's deliveries
    counted once a minute (its reports are counted every time)."""
    reported = reported_issues(session, city=city)
    if not reported:
        return []
    statuses: dict[int, IssueStatus] = {
        int(i): status
        for i, status in session.execute(
            select(Issue.id, Issue.status).where(Issue.id.in_(reported))
        )
    }
    sent = finished_figures_of(
        session, "sent", {i: statuses.get(i, IssueStatus.SENDING) for i in reported},
        lambda ids: {i: {"sent": n} for i, n in sent_counts(session, ids).items()},
    )  # fmt: skip
    known = {issue_id: counts["sent"] for issue_id, counts in sent.items()}
    return warnings_of(issues_rates(session, reported, sent=known))
