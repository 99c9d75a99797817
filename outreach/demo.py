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
from outreach.db import database_name, dispose_engines, get_engine, session_scope, upgrade
from outreach.errors import OutreachError
from outreach.l10n import format_datetime, gettext_for, ngettext_for
from outreach.models import IssueStatus
from outreach.settings import SOURCE_ROOT, Settings

DEMO_NOW = datetime(2026, 12, 1, 9, 0, tzinfo=ZoneInfo("Europe/Helsinki"))
EXAMPLES = SOURCE_ROOT / "examples"
DEMO_ACTOR = "demo"
DEMO_CONSENT = "Demo data: example subscribers that consented in the demo"
#: Mail backends that deliver to no one: the demo's example mail goes only there.
OWN_MAIL = frozenset({"file", "memory", "console"})


def _in_use(url: str) -> bool:
    """Whether the database at ``url`` holds what the demo did not make: an issue
    event by anyone else, or a consent given other than in the demo's import."""
    from sqlalchemy import inspect, text

    from outreach.db import create_db_engine

    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return False
    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            if (
                "issue_events" in tables
                and conn.execute(
                    text("SELECT 1 FROM issue_events WHERE actor <> :demo LIMIT 1"),
                    {"demo": DEMO_ACTOR},
                ).first()
            ):
                return True
            return "consent_records" in tables and bool(
                conn.execute(
                    text(
                        "SELECT 1 FROM consent_records "
                        "WHERE detail IS NULL OR detail NOT LIKE :demo LIMIT 1"
                    ),
                    {"demo": f"%{DEMO_CONSENT}%"},
                ).first()
            )
    finally:
        engine.dispose()


def check_own(settings: Settings, lang: str = "en") -> None:
    """Refuse to run the demo with real settings: it adds example subscribers and
    stories, sends example mail and (``--clean``) deletes the database."""

    def _(message: str) -> str:
        return gettext_for(lang, "cli", message)

    scheme = settings.mail_url.split(":", 1)[0].lower()
    if scheme not in OWN_MAIL:
        raise OutreachError(
            _(
                "outreach demo sends its example mail only into files (file://), memory: or "
                "console:, not through {scheme}:; run it in a folder of its own, without "
                "OUTREACH_MAIL_URL"
            ).format(scheme=scheme)
        )
    if _in_use(settings.database_url):
        raise OutreachError(
            _(
                "{url} holds issues or subscribers the demo did not make; outreach demo "
                "runs only on a database of its own: run it in a folder of its own, "
                "without OUTREACH_DATABASE_URL"
            ).format(url=database_name(settings.database_url))
        )


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

    check_own(settings, lang)
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
                    consent_note=DEMO_CONSENT,
                )
            echo(
                _("subscribers ({city}): {summary}").format(city=city, summary=report.summary(lang))
            )
    with session_scope(engine) as session:
        stories = import_stories(session, EXAMPLES / "stories", approve_by=DEMO_ACTOR)
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
            result = build_issue(session, settings, config, slug, now=DEMO_NOW, by=DEMO_ACTOR)
            issue = result.issue
            if issue is None:
                summary.append(
                    _("{slug}: no issue ({reason})").format(slug=slug, reason=_("nothing new"))
                )
                continue
            if issue.status == IssueStatus.DRAFT:
                issue = approve_issue(session, issue.id, by=DEMO_ACTOR, now=DEMO_NOW)
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
                record_send_start(session, issue, by=DEMO_ACTOR, manual=True)
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
