"""``outreach issue``: build, preview, approve, send and steer issues."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import click

from outreach.cli.base import (
    App,
    Group,
    _,
    _n,
    check_out,
    cli_language,
    echo_lines,
    fail,
    main,
    open_out,
    pass_app,
)

if TYPE_CHECKING:
    from outreach.campaigns import Config
    from outreach.issues import HoldNotice
    from outreach.models import Issue


def echo_holds(notices: list[HoldNotice]) -> None:
    """A line on stderr per issue held (or marked) because an item was cancelled."""
    for n in notices:
        ref = f"{n.campaign}/{n.period}"
        titles = "; ".join(n.titles)
        if n.action == "held":
            line = _("Issue {id} ({ref}) held, not sent: cancelled at the source: {titles}")
        else:
            line = _("Issue {id} ({ref}): marked cancelled in the message: {titles}")
        click.echo(line.format(id=n.issue_id, ref=ref, titles=titles), err=True)


def check_language(config: Config, iss: Issue, lang: str) -> None:
    """A one-line error unless the issue has a version in ``lang`` (``--lang``)."""
    from outreach.staff import drafts

    known = drafts.languages_of(config, iss)
    if lang not in known:
        fail(
            _("{lang} is not a language of this issue ({languages})").format(
                lang=lang, languages=", ".join(known)
            )
        )


@main.group(cls=Group)
def issue() -> None:
    """Build, preview, approve and send issues."""


@issue.command("build")
@click.argument("campaign")
@click.option("--period", help="YYYY-MM (default: this month in the city's timezone)")
@pass_app
def issue_build(app: App, campaign: str, period: str | None) -> None:
    """Assemble an issue from the content at hand and run its pre-flight check."""
    from outreach.checks import build_checked
    from outreach.cli.checks import summary
    from outreach.delivery import tell_approvers
    from outreach.l10n import version_name

    with app.session() as session:
        config = app.synced(session)
        checked = build_checked(session, app.settings, config, campaign, period=period, by=_user())
    result = checked.built
    if result.issue is None:
        # result.skipped is the build's English log line; its one reason is this
        click.echo(_("No issue built: {reason}").format(reason=_("nothing new")))
        return
    if result.created:
        verb = _("Built")
    elif checked.report is not None:
        verb = _("Rebuilt")
    else:
        verb = _("Kept (already past draft)")
    click.echo(
        _n(
            "{verb} issue {id} ({slug}/{period}, {status}) with {n} item.",
            "{verb} issue {id} ({slug}/{period}, {status}) with {n} items.",
            result.items,
        ).format(
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
            note = _("{lang}: no items in this language; its readers get {to}")
        to = version_name(target, cli_language()) if target else target
        click.echo(note.format(lang=lang, to=to))


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
    from outreach.delivery import preview
    from outreach.issues import get_issue

    if out is not None:
        check_out(out)

    with app.session() as session:
        config = app.synced(session)
        iss = get_issue(session, ref)
        lang = lang or config.campaign(iss.campaign.slug).languages[0]
        check_language(config, iss, lang)
        body = preview(app.settings, config, iss, lang, text=text)
    if out is None:
        click.echo(body)
    else:
        with open_out(out) as fh:
            fh.write(body)
        click.echo(_("Wrote {path}").format(path=out))


@issue.command("approve")
@click.argument("ref")
@click.option("--by", default=lambda: os.environ.get("USER", "staff"), show_default="$USER")
@click.option("--override", metavar="REASON", help="Approve despite errors in the check.")
@pass_app
def issue_approve(app: App, ref: str, by: str, override: str | None) -> None:
    """Approve a draft for sending, after its pre-flight check."""
    from outreach.checks import approve_checked
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
            _n(
                "issue {id} has {n} error in its pre-flight check; fix it, or approve "
                "with --override REASON",
                "issue {id} has {n} errors in its pre-flight check; fix them, or approve "
                "with --override REASON",
                len(outcome.report.errors),
            ).format(id=iss.id, n=len(outcome.report.errors))
        )
    if not outcome.report.findings:
        click.echo(summary(outcome.report))
    click.echo(_("Issue {id} approved by {by}.").format(id=outcome.issue.id, by=by))


@issue.command("send")
@click.argument("ref")
@click.option("--dry-run", is_flag=True, help="Everything but handing mail to the backend.")
@click.option("--test-to", "test_to", multiple=True, help="Send a [TEST] copy only.")
@click.option("--lang", help="Language of the test copy (only with --test-to).")
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
    check_send_options(dry_run, test_to, lang)
    from outreach.delivery import (
        progress_reporter,
        require_base_url,
        send_issue,
        send_test,
        start_outbox,
        tell_approvers,
    )
    from outreach.issues import check_cancelled, get_issue, record_send_start
    from outreach.models import IssueStatus

    with app.session() as session:
        config = app.synced(session)
        iss = get_issue(session, ref)
        if lang is not None:
            check_language(config, iss, lang)
        if not dry_run:
            require_base_url(app.settings, config, config.campaign(iss.campaign.slug).city)
        if not test_to and not dry_run:
            notices = check_cancelled(session, config, [iss.id])
            if notices:
                session.commit()
                echo_holds(notices)
                tell_approvers(app.settings, config, notices)
        camp = config.campaign(iss.campaign.slug)
        if test_to:
            results = send_test(app.settings, config, iss, lang or camp.languages[0], list(test_to))
            for to, res in zip(test_to, results, strict=True):
                click.echo(f"{res.status:10} {to} {res.reply or ''}".rstrip())
            if not all(res.ok for res in results):
                sys.exit(1)  # a test copy that did not go out: the caller should know
            return
        starting = iss.status == IssueStatus.APPROVED
        connections = workers or app.settings.send_workers
        queued = (
            start_outbox(session, app.settings, config, iss, workers=connections)
            if not dry_run
            else 0
        )
        if starting and not dry_run:
            record_send_start(session, iss, by=_user(), manual=True)
        issue_id = iss.id
    if not dry_run:
        click.echo(_n("{n} recipient queued.", "{n} recipients queued.", queued).format(n=queued))
    interrupt = threading.Event()
    with ctrl_c_stops(interrupt) if not dry_run else nullcontext():
        report = send_issue(
            app.settings,
            config,
            issue_id,
            workers=workers or app.settings.send_workers,
            dry_run=dry_run,
            progress=progress_reporter(_("Sending")),
            stop=interrupt,
        )
    if not dry_run and not report.interrupted:  # settled: folded for the statistics now
        from outreach.db import get_engine
        from outreach.stats import settle

        settle(get_engine(app.settings), config, [issue_id])
    echo_lines(report.lines(cli_language(app.settings)))
    if report.interrupted:
        sys.exit(INTERRUPTED)


def check_send_options(dry_run: bool, test_to: tuple[str, ...], lang: str | None) -> None:
    """A one-line error for the options of ``issue send`` that do not go together,
    before anything is read or sent: each would otherwise be ignored."""
    if test_to and dry_run:  # a test copy is sent at once: --dry-run would be ignored
        fail(
            _(
                "--dry-run and --test-to do not go together: --test-to sends a test copy "
                "at once; leave out --dry-run to send it, or --test-to for a dry run of "
                "the whole send"
            )
        )
    if lang is not None and not test_to:  # the issue goes out in each reader's language
        fail(
            _(
                "--lang {lang} is the language of a test copy and needs --test-to EMAIL; "
                "to send the issue, leave out --lang: each subscriber gets it in their "
                "own language"
            ).format(lang=lang)
        )


#: The exit status of a command stopped by Ctrl-C (128 + SIGINT, as a shell reports it).
INTERRUPTED = 130


@contextmanager
def ctrl_c_stops(stop: threading.Event) -> Iterator[None]:
    """The first Ctrl-C sets ``stop``: the send finishes the message each connection
    is handing over, commits their outcomes and gives the rest back. A second one
    aborts at once (rows still claimed are then claimed again like a dead process's)."""

    def on_interrupt(_signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        click.echo(
            _(
                "Stopping: the message being handed over on each connection finishes, "
                "the rest stays queued; Ctrl-C again aborts."
            ),
            err=True,
        )

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


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
    from outreach.delivery import issue_overview
    from outreach.issues import cancelled_items, get_issue
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
            _n(
                "Issue {id} discarded; {n} item is free for the next build.",
                "Issue {id} discarded; {n} items are free for the next build.",
                released,
            ).format(id=iss.id, n=released)
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
