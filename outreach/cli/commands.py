"""The pipeline's commands: database, campaigns, fetch, issues, stories, scheduler, demo."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from outreach.campaigns import Config
from outreach.cli.base import App, Group, _, cli_language, echo_lines, fail, main, pass_app

if TYPE_CHECKING:
    from outreach.issues.hold import HoldNotice

# -- db ---------------------------------------------------------------------


@main.group(cls=Group)
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@pass_app
def db_upgrade(app: App, revision: str) -> None:
    """Apply migrations (alembic upgrade)."""
    from outreach.db import upgrade

    upgrade(app.settings.database_url, revision)
    click.echo(_("Database is at revision {rev}.").format(rev=revision))


# -- campaigns --------------------------------------------------------------


@main.group(cls=Group)
def campaigns() -> None:
    """Campaign files."""


@campaigns.command("validate")
@pass_app
def campaigns_validate(app: App) -> None:
    """Check every campaign file; print every error and each campaign's next runs."""
    from outreach.campaigns import collect

    config, errors = collect(app.settings.campaigns_path, app.settings.templates_path)
    for line in errors:
        click.echo(line, err=True)
    if config is not None:
        _print_schedules(app, config)
    if errors:
        files = len(config.broken) if config is not None else 1
        click.echo(_("{n} files with errors are left out until they are fixed.").format(n=files))
        sys.exit(1)
    assert config is not None
    click.echo(
        _("{n} cities and {m} campaigns are valid.").format(
            n=len(config.cities), m=len(config.campaigns)
        )
    )


def _print_schedules(app: App, config: Config) -> None:
    """Each campaign's next three runs in its city's time zone; a warning for a
    schedule that runs every hour of the days it matches."""
    from datetime import UTC, datetime

    from outreach.l10n import format_datetime
    from outreach.scheduler.timing import next_runs

    lang = cli_language(app.settings)
    now = datetime.now(UTC)
    for slug, camp in sorted(config.campaigns.items()):
        tz = config.city_of(camp).timezone
        if camp.schedule is not None and camp.schedule.hour is None:
            click.echo(
                _("warning: {file}: schedule: no hour, so it runs every hour of each day it "
                  "matches; add e.g. hour: 9").format(file=config.root / f"{slug}.yaml"),
                err=True,
            )  # fmt: skip
        runs = next_runs(camp, tz, now)
        if runs:
            times = ", ".join(format_datetime(run, lang, tz) for run in runs)
            click.echo(_("{slug}: next runs {times}").format(slug=slug, times=times))
        else:
            click.echo(_("{slug}: no runs ahead").format(slug=slug))


@campaigns.command("list")
@pass_app
def campaigns_list(app: App) -> None:
    """List campaigns with their schedule."""
    config = app.config()
    for slug, camp in sorted(config.campaigns.items()):
        when = camp.schedule.cron_kwargs() if camp.schedule else {"send_at": str(camp.send_at)}
        sched = " ".join(f"{k}={v}" for k, v in when.items())
        langs = ",".join(camp.languages)
        click.echo(f"{slug:32} {camp.kind:12} {camp.city:10} {langs:6} {camp.approval:6} {sched}")


# -- fetch ------------------------------------------------------------------


@main.command()
@click.argument("campaign", required=False)
@pass_app
def fetch(app: App, campaign: str | None) -> None:
    """Ingest sources now; a line per source."""
    from outreach.delivery.held import tell_approvers
    from outreach.issues.hold import check_cancelled
    from outreach.sources import fetch_sources
    from outreach.sources.ingest import all_failed

    with app.session() as session:
        config = app.synced(session)
        if campaign:
            config.campaign(campaign)
        reports = fetch_sources(session, app.settings, config, [campaign] if campaign else None)
        notices = check_cancelled(session, config)
    for report in reports:
        click.echo(report.line())
    _echo_holds(notices)
    tell_approvers(app.settings, config, notices)
    if all_failed(reports):
        fail(_("every source failed"))


def _echo_holds(notices: list[HoldNotice]) -> None:
    for n in notices:
        ref = f"{n.campaign}/{n.period}"
        titles = "; ".join(n.titles)
        if n.action == "held":
            line = _("Issue {id} ({ref}) held, not sent: cancelled at the source: {titles}")
        else:
            line = _("Issue {id} ({ref}): marked cancelled in the message: {titles}")
        click.echo(line.format(id=n.issue_id, ref=ref, titles=titles), err=True)


# -- issues -----------------------------------------------------------------


@main.group(cls=Group)
def issue() -> None:
    """Build, preview, approve and send issues."""


@issue.command("build")
@click.argument("campaign")
@click.option("--period", help="YYYY-MM (default: this month in the city's timezone)")
@pass_app
def issue_build(app: App, campaign: str, period: str | None) -> None:
    """Assemble an issue from the content at hand and run its pre-flight check."""
    from outreach.checks.flow import build_checked
    from outreach.cli.checks import summary
    from outreach.delivery.held import tell_approvers

    with app.session() as session:
        config = app.synced(session)
        checked = build_checked(session, app.settings, config, campaign, period=period, by=_user())
    result = checked.built
    if result.issue is None:
        click.echo(_("No issue built: {reason}").format(reason=result.skipped))
        return
    if result.created:
        verb = _("Built")
    elif checked.report is not None:
        verb = _("Rebuilt")
    else:
        verb = _("Kept (already past draft)")
    click.echo(
        _("{verb} issue {id} ({slug}/{period}, {status}) with {n} items.").format(
            verb=verb,
            id=result.issue.id,
            slug=campaign,
            period=result.issue.period,
            status=result.issue.status.value,
            n=result.items,
        )
    )
    if checked.report is not None:
        click.echo(summary(checked.report))
        if checked.report.findings:
            click.echo(_("`outreach issue check {id}` lists them.").format(id=result.issue.id))
    if checked.refused is not None:
        click.echo(_("Not approved automatically: the check found errors."), err=True)
        tell_approvers(app.settings, config, [checked.refused])
    for lang, target in sorted(result.languages.items()):
        if target is None:
            note = _(
                "{lang}: no items in this language, so it is skipped: its readers get no issue"
            )
        else:
            note = _("{lang}: no items in this language; its readers get the {to} version")
        click.echo(note.format(lang=lang, to=target))


def _user() -> str:
    return os.environ.get("USER", "staff")


@issue.command("preview")
@click.argument("ref")
@click.option("--lang", help="Language (default: the campaign's first).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--text", is_flag=True, help="The plain-text part instead of HTML.")
@pass_app
def issue_preview(app: App, ref: str, lang: str | None, out: Path | None, text: bool) -> None:
    """Write what a subscriber would get."""
    from outreach.delivery.preview import preview
    from outreach.issues import get_issue

    with app.session() as session:
        config = app.synced(session)
        iss = get_issue(session, ref)
        camp = config.campaign(iss.campaign.slug)
        lang = lang or camp.languages[0]
        if lang not in camp.languages:
            fail(_("{lang} is not a language of {slug}").format(lang=lang, slug=camp.slug))
        body = preview(app.settings, config, iss, lang, text=text)
    if out is None:
        click.echo(body)
    else:
        out.write_text(body, encoding="utf-8")
        click.echo(_("Wrote {path}").format(path=out))


@issue.command("approve")
@click.argument("ref")
@click.option("--by", default=lambda: os.environ.get("USER", "staff"), show_default="$USER")
@click.option("--override", metavar="REASON", help="Approve despite errors in the check.")
@pass_app
def issue_approve(app: App, ref: str, by: str, override: str | None) -> None:
    """Approve a draft for sending, after its pre-flight check."""
    from outreach.checks.flow import approve_checked
    from outreach.cli.checks import echo_report, summary
    from outreach.issues import get_issue

    with app.session() as session:
        config = app.synced(session)
        iss = get_issue(session, ref)
        outcome = approve_checked(session, app.settings, config, iss, by=by, override=override)
    if outcome.rerun or outcome.report.findings:
        echo_report(outcome.report)
    if outcome.issue is None:
        fail(
            _(
                "issue {id} has {n} errors in its pre-flight check; fix them, or approve "
                "with --override REASON"
            ).format(id=iss.id, n=len(outcome.report.errors))
        )
    if not outcome.report.findings:
        click.echo(summary(outcome.report))
    click.echo(_("Issue {id} approved by {by}.").format(id=outcome.issue.id, by=by))


@issue.command("send")
@click.argument("ref")
@click.option("--dry-run", is_flag=True, help="Everything but handing mail to the backend.")
@click.option("--test-to", "test_to", multiple=True, help="Send a [TEST] copy only.")
@click.option("--lang", help="Language of the test copy.")
@click.option("--workers", type=click.IntRange(1, 64), help="Parallel connections.")
@pass_app
def issue_send(
    app: App,
    ref: str,
    dry_run: bool,
    test_to: tuple[str, ...],
    lang: str | None,
    workers: int | None,
) -> None:
    """Send an approved issue to its audience (or a test copy)."""
    from outreach.delivery import enqueue_issue, send_issue, send_test
    from outreach.delivery.base_url import require_base_url
    from outreach.delivery.held import tell_approvers
    from outreach.delivery.progress import progress_reporter
    from outreach.issues import get_issue
    from outreach.issues.history import record_send_start
    from outreach.issues.hold import check_cancelled
    from outreach.models import IssueStatus

    with app.session() as session:
        config = app.synced(session)
        iss = get_issue(session, ref)
        if not dry_run:
            require_base_url(app.settings, config, config.campaign(iss.campaign.slug).city)
        if not test_to and not dry_run:
            notices = check_cancelled(session, config, [iss.id])
            if notices:
                session.commit()
                _echo_holds(notices)
                tell_approvers(app.settings, config, notices)
        if test_to:
            camp = config.campaign(iss.campaign.slug)
            results = send_test(app.settings, config, iss, lang or camp.languages[0], list(test_to))
            for to, res in zip(test_to, results, strict=True):
                click.echo(f"{res.status:10} {to} {res.reply or ''}".rstrip())
            return
        starting = iss.status == IssueStatus.APPROVED
        queued = enqueue_issue(session, app.settings, config, iss) if not dry_run else 0
        if starting and not dry_run:
            record_send_start(session, iss, by=_user(), manual=True)
        issue_id = iss.id
    if not dry_run:
        click.echo(_("{n} recipients queued.").format(n=queued))
    report = send_issue(
        app.settings,
        config,
        issue_id,
        workers=workers or app.settings.send_workers,
        dry_run=dry_run,
        progress=progress_reporter(_("Sending")),
    )
    echo_lines(report.lines(cli_language(app.settings)))


@issue.command("list")
@click.option("--campaign")
@pass_app
def issue_list(app: App, campaign: str | None) -> None:
    """Issues with their status and delivery counts."""
    from outreach.delivery import issue_counts
    from outreach.issues import list_issues

    with app.session() as session:
        issues = list_issues(session, campaign)
        if not issues:
            click.echo(_("No issues yet: `outreach issue build CAMPAIGN` makes one."))
            return
        head = (_("id"), _("campaign"), _("period"), _("status"), _("deliveries"))
        click.echo(f"{head[0]:>5} {head[1]:32} {head[2]:10} {head[3]:10} {head[4]}")
        for iss in issues:
            counts = issue_counts(session, iss.id)
            shown = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if v)
            click.echo(
                f"{iss.id:5} {iss.campaign.slug:32} {iss.period:10} {iss.status.value:10} {shown}"
            )


@issue.command("show")
@click.argument("ref")
@pass_app
def issue_show(app: App, ref: str) -> None:
    """Subject, local times, audience, content per language, deliveries and history."""
    from outreach.delivery.overview import issue_overview
    from outreach.issues import get_issue
    from outreach.issues.hold import cancelled_items
    from outreach.models import IssueStatus

    with app.session() as session:
        config = app.synced(session)
        iss = get_issue(session, ref)
        overview = issue_overview(session, app.settings, config, iss)
        held = (
            [item.title for _link, item in cancelled_items(session, iss.id)]
            if iss.status == IssueStatus.HELD
            else []
        )
        slug, period, issue_id = iss.campaign.slug, iss.period, iss.id
    echo_lines(overview.lines(cli_language(app.settings)))
    if held:
        click.echo(
            "  " + _("held: cancelled at the source: {titles}").format(titles="; ".join(held))
        )
        click.echo(
            "  "
            + _(
                "rebuild it with `outreach issue build {slug} --period {period}`, "
                "or send it as it is, marked cancelled: `outreach issue approve {id}`"
            ).format(slug=slug, period=period, id=issue_id)
        )


@issue.command("discard")
@click.argument("ref")
@click.option("--by", default=_user, show_default="$USER")
@pass_app
def issue_discard(app: App, ref: str, by: str) -> None:
    """Throw a draft away; the items it took go back for the next build."""
    from outreach.issues import discard_issue, get_issue

    with app.session() as session:
        iss, released = discard_issue(session, get_issue(session, ref).id, by=by)
        click.echo(
            _("Issue {id} discarded; {n} items are free for the next build.").format(
                id=iss.id, n=released
            )
        )


def _issue_control(name: str, help_text: str) -> None:
    @issue.command(name, help=help_text)
    @click.argument("ref")
    @pass_app
    def command(app: App, ref: str) -> None:
        from outreach import delivery
        from outreach.issues import get_issue

        with app.session() as session:
            iss = get_issue(session, ref)
            getattr(delivery, f"{name}_issue")(session, iss.id)
            click.echo(f"issue {iss.id}: {name}")


_issue_control("pause", "Pause an issue's send.")
_issue_control("resume", "Resume a paused send.")
_issue_control("cancel", "Cancel an issue's send; unsent deliveries are cancelled.")


# -- scheduler, web ---------------------------------------------------------


@main.command("run-due")
@pass_app
def run_due_cmd(app: App) -> None:
    """One pass of everything due (for system cron)."""
    from outreach.delivery.base_url import require_base_url
    from outreach.scheduler import run_due

    require_base_url(app.settings, app.config())

    for outcome in run_due(app.settings):
        echo_lines(outcome.lines(cli_language(app.settings)))


@main.command()
@pass_app
def status(app: App) -> None:
    """Next runs, last results, issues awaiting approval, sends, sources in error."""
    from outreach.scheduler import status as scheduler_status

    echo_lines(scheduler_status(app.settings).lines(cli_language(app.settings)))
    _bounce_warnings(app)


def _bounce_warnings(app: App) -> None:
    from outreach.bounces import rate_warnings

    with app.session() as session:
        found = rate_warnings(session)
    for issue_id, r in found:
        click.echo(
            _(
                "warning: issue {id}: {complaints} complaints ({complaint_rate}) and "
                "{hard} hard bounces ({bounce_rate}) of {sent} sent; the limits are "
                "0.1 % and 2 %"
            ).format(
                id=issue_id,
                complaints=r.complaints,
                complaint_rate=f"{r.complaint_rate:.2%}",
                hard=r.hard_bounces,
                bounce_rate=f"{r.bounce_rate:.2%}",
                sent=r.sent,
            )
        )


@main.command()
@click.option("--web", is_flag=True, help="Also serve the web app in this process.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@pass_app
def daemon(app: App, web: bool, host: str, port: int) -> None:
    """Scheduler and send workers (and the web app with --web)."""
    from outreach.delivery.base_url import require_base_url
    from outreach.errors import CampaignError
    from outreach.scheduler import daemon as run_daemon
    from outreach.scheduler.pipeline import load_config

    try:
        config = load_config(app.settings)
    except CampaignError as exc:
        if not web:
            raise
        # The emailed links (unsubscribe above all) must keep working.
        stopped = _("the scheduler does not start; the web app keeps serving")
        click.echo(_("Error: {message}").format(message=f"{exc}; {stopped}"), err=True)
        _serve(app, host, port)
        sys.exit(1)
    require_base_url(app.settings, config)
    from outreach.web import daemon_app

    make_app = daemon_app(app.settings) if web else None
    sys.exit(run_daemon(app.settings, web=make_app, host=host, port=port))


def _serve(app: App, host: str, port: int) -> None:
    import uvicorn

    from outreach.web import create_app

    uvicorn.run(create_app(app.settings), host=host, port=port, proxy_headers=True)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@pass_app
def serve(app: App, host: str, port: int) -> None:
    """The web app only (uvicorn)."""
    _serve(app, host, port)


# -- stories ----------------------------------------------------------------


@main.group(cls=Group)
def stories() -> None:
    """Company climate success stories."""


@stories.command("add")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--city", required=True)
@pass_app
def stories_add(app: App, file: Path, city: str) -> None:
    """Add a story from a Markdown file with front matter."""
    from outreach.sources.stories import add_story_from_markdown

    with app.session() as session:
        app.synced(session)
        story = add_story_from_markdown(session, file, city)
        click.echo(_("Story {id} added ({status}).").format(id=story.id, status=story.status))


@stories.command("list")
@click.option("--city")
@click.option("--status", type=click.Choice(["submitted", "approved", "rejected"]))
@pass_app
def stories_list(app: App, city: str | None, status: str | None) -> None:
    """Stories with their status."""
    from outreach.sources.stories import list_stories

    with app.session() as session:
        for s in list_stories(session, city, status):
            used = f" issue {s.issue_id}" if s.issue_id else ""
            consent = "" if s.consent_to_publish else " " + _("(no consent to publish)")
            click.echo(
                f"{s.id:5} {s.city.slug:10} {s.status.value:10} {s.company_name}: "
                f"{s.title}{used}{consent}"
            )


def _story_decision(name: str, approve: bool, help_text: str) -> None:
    @stories.command(name, help=help_text)
    @click.argument("story_id", type=int)
    @click.option("--by", default=lambda: os.environ.get("USER", "staff"))
    @pass_app
    def command(app: App, story_id: int, by: str) -> None:
        from outreach.sources.stories import decide_story

        with app.session() as session:
            story = decide_story(session, story_id, approve, by)
            click.echo(f"{story.id}: {story.status.value}")


_story_decision("approve", True, "Approve a story for the next issue.")
_story_decision("reject", False, "Reject a story.")


@stories.command("feature")
@click.argument("story_id", type=int)
@pass_app
def stories_feature(app: App, story_id: int) -> None:
    """Let a story that went out once appear in a later issue again."""
    from outreach.sources.stories import feature_again

    with app.session() as session:
        feature_again(session, story_id)
        click.echo(_("Story {id} will be in the next issue again.").format(id=story_id))


@main.command()
@click.option("--clean", is_flag=True, help="Start from an empty var/ database and outbox.")
@pass_app
def demo(app: App, clean: bool) -> None:
    """The whole pipeline on the embedded defaults and the bundled examples."""
    from outreach.delivery.base_url import require_base_url
    from outreach.demo import run_demo

    require_base_url(app.settings, app.config())
    echo_lines(
        run_demo(app.settings, clean=clean, echo=click.echo, lang=cli_language(app.settings))
    )
