"""``outreach bounces ...``: the ways bounces and complaints come in."""

from __future__ import annotations

import signal
import sys
import threading

import click
from sqlalchemy.exc import SQLAlchemyError

from outreach.cli.base import App, Group, _, cli_language, fail, main, pass_app
from outreach.db import unavailable


@main.group(cls=Group)
def bounces() -> None:
    """Bounces and complaints: receive, poll, rates."""


def _lines(outcome: object) -> str:
    from outreach.bounces import Outcome

    assert isinstance(outcome, Outcome)
    return _(
        "events: {events}, already seen: {duplicates}, unmatched: {unmatched}, "
        "suppressed: {suppressed}, unsubscribed: {unsubscribed}"
    ).format(
        events=outcome.events,
        duplicates=outcome.duplicates,
        unmatched=outcome.unmatched,
        suppressed=outcome.suppressed,
        unsubscribed=outcome.unsubscribed,
    )


@bounces.command("listen")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=2525, show_default=True, type=int)
@click.option("--lmtp", is_flag=True, help="Speak LMTP rather than SMTP.")
@pass_app
def listen(app: App, host: str, port: int, lmtp: bool) -> None:
    """Receive bounces by SMTP or LMTP (a Postfix transport) until stopped."""
    from outreach.bounces import bounce_domains, start_receiver

    config = app.config()
    own = [c.sender.bounce_address or "" for c in config.cities.values()]
    domains = bounce_domains(app.settings, own)
    if not domains:
        fail(_("no bounce address: set OUTREACH_BOUNCE_ADDRESS or a city's sender.bounce_address"))
    controller = start_receiver(
        app.settings,
        domains,
        host=host,
        port=port,
        lmtp=lmtp,
        on_outcome=lambda o: click.echo(_lines(o)),
    )
    click.echo(
        _("listening on {host}:{port} for {domains}").format(
            host=host, port=port, domains=", ".join(sorted(domains))
        )
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_args: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


@bounces.command("receive")
@click.option("--recipient", default="", help="The envelope recipient (Postfix: ${recipient}).")
@pass_app
def receive(app: App, recipient: str) -> None:
    """Process one message from standard input (a Postfix pipe transport).

    Exits 75 (EX_TEMPFAIL) when processing failed, so Postfix keeps the message
    and tries again.
    """
    import logging

    from outreach.bounces import process_message

    data = sys.stdin.buffer.read(10 * 1024 * 1024 + 1)
    if len(data) > 10 * 1024 * 1024:
        fail(_("the message is larger than 10 MB"))
    try:
        with app.session() as session:
            outcome = process_message(
                session, app.settings, data, return_path=recipient or None, source="pipe"
            )
    except SQLAlchemyError as exc:  # the database is down: one line, Postfix retries
        logging.getLogger(__name__).warning(
            "processing a bounce failed: %s; the sender will retry", unavailable(exc)
        )
        raise SystemExit(75) from None
    except Exception:
        logging.getLogger(__name__).exception("processing a bounce failed")
        raise SystemExit(75) from None
    click.echo(_lines(outcome))


@bounces.command("poll")
@pass_app
def poll(app: App) -> None:
    """Process the bounce mailbox once over IMAP (TLS)."""
    from outreach.bounces import poll as run_poll

    report = run_poll(app.settings)
    click.echo(_lines(report.outcome))
    for line in report.failed:
        click.echo(_("not processed, flagged in the mailbox: {message}").format(message=line))
    if report.failed:
        raise SystemExit(1)


@bounces.command("rates")
@click.argument("ref", metavar="ISSUE")
@pass_app
def rates(app: App, ref: str) -> None:
    """Bounce and complaint rates of one issue (its number or CAMPAIGN/PERIOD)."""
    from outreach.bounces import issue_rates
    from outreach.issues import get_issue
    from outreach.l10n import format_percent

    lang = cli_language(app.settings)

    with app.session() as session:
        issue_id = get_issue(session, ref).id
        r = issue_rates(session, issue_id)
    click.echo(
        _(
            "issue {id}: sent {sent}, hard bounces {hard} ({bounce_rate}), "
            "soft bounces {soft}, complaints {complaints} ({complaint_rate})"
        ).format(
            id=issue_id,
            sent=r.sent,
            hard=r.hard_bounces,
            bounce_rate=format_percent(r.bounce_rate, lang),
            soft=r.soft_bounces,
            complaints=r.complaints,
            complaint_rate=format_percent(r.complaint_rate, lang),
        )
    )
