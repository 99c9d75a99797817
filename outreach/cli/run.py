"""Running the pipeline: ``run-due``, ``status``, ``daemon``, ``serve``, ``demo``."""

from __future__ import annotations

import sys

import click

from outreach.cli.base import App, _, cli_language, echo_lines, main, pass_app


@main.command("run-due")
@pass_app
def run_due_cmd(app: App) -> None:
    """One pass of everything due (for system cron)."""
    from outreach.delivery import require_base_url
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
    from outreach.l10n import format_percent

    lang = cli_language(app.settings)

    with app.session() as session:
        found = rate_warnings(session)
    for issue_id, r in found:
        click.echo(
            _(
                "warning: issue {id}: complaints {complaints} ({complaint_rate}), "
                "hard bounces {hard} ({bounce_rate}), sent {sent}; the limits are "
                "0.1 % and 2 %"
            ).format(
                id=issue_id,
                complaints=r.complaints,
                complaint_rate=format_percent(r.complaint_rate, lang),
                hard=r.hard_bounces,
                bounce_rate=format_percent(r.bounce_rate, lang),
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
    from sqlalchemy.exc import SQLAlchemyError

    from outreach.db import unavailable
    from outreach.delivery import require_base_url
    from outreach.errors import CampaignError
    from outreach.scheduler import daemon as run_daemon
    from outreach.scheduler import load_config

    try:
        require_base_url(app.settings, load_config(app.settings))
    except SQLAlchemyError as exc:  # one line, as the daemon itself says it at start
        raise unavailable(exc, app.settings) from None
    except CampaignError as exc:
        if not web:
            raise
        # The emailed links (unsubscribe above all) must keep working: the daemon
        # serves the web app alone until a reload (SIGHUP) loads fixed files.
        stopped = _(
            "the scheduler does not start until the files are fixed and reloaded (SIGHUP); "
            "the web app keeps serving"
        )
        said = exc.text(cli_language())
        click.echo(_("Error: {message}").format(message=f"{said}; {stopped}"), err=True)
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


@main.command()
@click.option("--clean", is_flag=True, help="Start from an empty var/ database and outbox.")
@pass_app
def demo(app: App, clean: bool) -> None:
    """The whole pipeline on the embedded defaults and the bundled examples."""
    from outreach.delivery import require_base_url
    from outreach.demo import check_own, run_demo

    check_own(app.settings, cli_language(app.settings))  # before anything is made
    require_base_url(app.settings, app.config())
    echo_lines(
        run_demo(app.settings, clean=clean, echo=click.echo, lang=cli_language(app.settings))
    )
