"""``outreach issue check``: the pre-flight report of an issue, and how build and
approve print it."""

from __future__ import annotations

import click

from outreach.checks import Report
from outreach.cli.base import App, _, _n, cli_language, pass_app
from outreach.cli.issue import issue


def echo_report(report: Report) -> None:
    """The report's lines, per language version, in the staff's language."""
    for line in report.lines(cli_language()):
        click.echo(line)


def summary(report: Report) -> str:
    errors, warnings = len(report.errors), len(report.warnings)
    return _("Pre-flight check: {errors}, {warnings}.").format(
        errors=_n("{n} error", "{n} errors", errors).format(n=errors),
        warnings=_n("{n} warning", "{n} warnings", warnings).format(n=warnings),
    )


@issue.command("check")
@click.argument("ref")
@pass_app
def issue_check(app: App, ref: str) -> None:
    """Run the pre-flight check now and print its findings; exit 1 on an error."""
    from outreach.checks import run_checks, save_report
    from outreach.issues import get_issue

    with app.session() as session:
        config = app.synced(session)
        iss = get_issue(session, ref)
        report = run_checks(session, app.settings, config, iss)
        save_report(session, iss, report)
    echo_report(report)
    if report.errors:
        raise SystemExit(1)
