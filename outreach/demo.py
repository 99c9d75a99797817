"""``outreach demo``: the whole pipeline on the embedded defaults.

Migrates the SQLite database under ``var/``, loads ``campaigns/``, adds the
example subscribers and stories, ingests the bundled example content in
``examples/`` in place of the campaigns' real URLs, builds, approves and renders
this period's issue of every newsletter, and sends it through the configured
mail backend (by default one ``.eml`` per message in ``var/outbox/``). A second
run finds everything already sent and sends nothing twice.

The demo runs on a fixed clock, the date the examples were written for, so it
shows the same newsletter whatever day it is run.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from outreach import campaigns
from outreach.db import dispose_engines, get_engine, session_scope, upgrade
from outreach.errors import OutreachError
from outreach.l10n import format_datetime, gettext_for, ngettext_for
from outreach.models import IssueStatus
from outreach.settings import SOURCE_ROOT, Settings

DEMO_NOW = datetime(2026, 12, 1, 9, 0, tzinfo=ZoneInfo("Europe/Helsinki"))
EXAMPLES = SOURCE_ROOT / "examples"


def _clean(settings: Settings) -> None:
    dispose_engines()
    url = settings.database_url
    if url.startswith("sqlite:///"):
        db_path = Path(url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    if settings.mail_url.startswith("file://"):
        shutil.rmtree(settings.mail_url.removeprefix("file://"), ignore_errors=True)


def run_demo(
    settings: Settings,
    *,
    clean: bool = False,
    echo: Callable[[str], None] = print,
    lang: str = "en",
) -> list[str]:
    """Run the demo; prints progress through ``echo`` and returns the summary lines."""

    def _(message: str) -> str:
        return gettext_for(lang, "cli", message)

    def _n(singular: str, plural: str, n: int) -> str:
        return ngettext_for(lang, "cli", singular, plural, n)

    from outreach.delivery import enqueue_issue, preview, send_issue
    from outreach.issues import approve_issue, build_issue, record_send_start
    from outreach.sources import Fetcher, import_stories, ingest, load_local_files
    from outreach.subscriptions import import_csv

    if clean:
        _clean(settings)
    upgrade(settings.database_url)
    echo(_("database: {url} (migrated)").format(url=settings.database_url))
    echo(
        _("demo clock: {when} (the date the examples were written for)").format(
            when=format_datetime(DEMO_NOW, lang)
        )
    )
    engine = get_engine(settings)
    config = campaigns.load(settings.campaigns_path, settings.templates_path)
    echo(
        _("campaigns: {cities}, {campaigns} loaded").format(
            cities=_n("{n} city", "{n} cities", len(config.cities)).format(n=len(config.cities)),
            campaigns=_n("{n} campaign", "{n} campaigns", len(config.campaigns)).format(
                n=len(config.campaigns)
            ),
        )
    )

    with session_scope(engine) as session:
        campaigns.sync(session, config)
    for city in config.cities:
        csv_path = EXAMPLES / "subscribers" / f"{city}.csv"
        if csv_path.exists():
            with session_scope(engine) as session:
                report = import_csv(
                    session,
                    settings,
                    config,
                    csv_path,
                    city=city,
                    confirmed=True,
                    consent_note="Demo data: example subscribers that consented in the demo",
                )
            echo(
                _("subscribers ({city}): {summary}").format(city=city, summary=report.summary(lang))
            )
    with session_scope(engine) as session:
        stories = import_stories(session, EXAMPLES / "stories", approve_by="demo")
        echo(_("stories: {n} added").format(n=len(stories)))

    fetcher = Fetcher(settings, local_files=load_local_files(EXAMPLES / "sources.yaml"))
    with session_scope(engine) as session:
        reports = ingest(session, settings, config, now=DEMO_NOW, fetcher=fetcher)
    for source_report in reports:
        echo(_("fetch {line}").format(line=source_report.line()))

    summary: list[str] = []
    preview_dir = settings.var_dir / "previews"
    preview_dir.mkdir(parents=True, exist_ok=True)
    for slug, camp in sorted(config.campaigns.items()):
        if camp.kind != "newsletter":
            continue
        with session_scope(engine) as session:
            result = build_issue(session, settings, config, slug, now=DEMO_NOW, by="demo")
            issue = result.issue
            if issue is None:
                summary.append(
                    _("{slug}: no issue ({reason})").format(slug=slug, reason=_("nothing new"))
                )
                continue
            if issue.status == IssueStatus.DRAFT:
                issue = approve_issue(session, issue.id, by="demo", now=DEMO_NOW)
            for issue_lang in camp.languages:
                path = preview_dir / f"{slug}-{issue.period}-{issue_lang}.html"
                path.write_text(preview(settings, config, issue, issue_lang, text=False), "utf-8")
                summary.append(
                    _("{slug}: preview ({lang}) {path}").format(
                        slug=slug, lang=issue_lang, path=path
                    )
                )
            queued = 0
            if issue.status == IssueStatus.APPROVED:
                queued = enqueue_issue(session, settings, config, issue)
                record_send_start(session, issue, by="demo", manual=True)
            issue_id = issue.id
        sent = send_issue(settings, config, issue_id, workers=2)
        summary.append(
            _("{slug}: issue {id}, {queued} queued, {summary}").format(
                slug=slug, id=issue_id, queued=queued, summary=sent.summary(lang)
            )
        )
    summary.append(_("mail: {url}").format(url=settings.mail_url))
    return summary


__all__ = ["DEMO_NOW", "OutreachError", "run_demo"]
