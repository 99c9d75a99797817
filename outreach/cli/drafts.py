"""``outreach issue move|drop|pin|edit-item|add-item|intro|schedule``: editing a draft
and scheduling its send from the command line, with the console's functions
(``outreach.staff.drafts``): the same snapshot rules, history and audit log."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TextIO

import click
from sqlalchemy.orm import Session

from outreach.cli.base import App, _, _n, fail, pass_app
from outreach.cli.issue import check_language, issue
from outreach.models import Issue
from outreach.staff import drafts


def _user() -> str:
    return os.environ.get("USER", "staff")


def _refusal(code: str) -> str:
    messages = {
        "not_draft": _("only a draft can be edited: an approved issue never changes"),
        "no_item": _("the issue has no such item (`outreach issue show` lists them)"),
        "no_language": _("the issue has no version in that language"),
        "already_first": _("the item is already first in its section"),
        "already_last": _("the item is already last in its section"),
        "no_section": _("the issue has no such section"),
        "events_section": _("an events section takes no manual items"),
        "bad_title": _("give a title of one line, at most 300 characters"),
        "bad_summary": _("the summary may be at most 2,000 characters"),
        "bad_intro": _("the introduction may be at most 5,000 characters"),
        "bad_url": _("give a link that starts with https://"),
        "bad_time": _('give the time as "YYYY-MM-DD HH:MM" in the city\'s time zone'),
        "no_such_time": _(
            "that time does not exist on that day: the clocks go forward an hour "
            "for summer time; give another"
        ),
        "past": _("the time to send is in the past; give a later one"),
        "too_far": _("schedule the send at most a year ahead"),
        "not_approved": _("only an approved issue can be scheduled"),
        "not_scheduled": _("the issue has no scheduled send"),
    }
    return messages.get(code, _("the issue's status does not allow this now"))


def _edit(app: App, ref: str, by: str, work: Callable[[Session, Issue, drafts.Actor], object],
          lang: str | None = None) -> tuple[Issue, object]:  # fmt: skip
    from outreach.issues import get_issue

    with app.session() as session:
        config = app.synced(session)
        iss = get_issue(session, ref)
        if lang is not None:
            check_language(config, iss, lang)
        try:
            result = work(session, iss, drafts.Actor(by))
        except drafts.Refused as exc:
            session.rollback()
            fail(_("issue {id}: {reason}").format(id=iss.id, reason=_refusal(exc.code)))
        return iss, result


BY = click.option("--by", default=_user, show_default="$USER", help="Who edits (history, audit).")
#: An item added by hand has a negative id: ``outreach issue drop 3 -1`` names it, not an option.
NEGATIVE_IDS = {"ignore_unknown_options": True}


@issue.command("move", context_settings=NEGATIVE_IDS)
@click.argument("ref")
@click.argument("item", type=int)
@click.option("--up", is_flag=True, help="One place up.")
@click.option("--down", is_flag=True, help="One place down.")
@BY
@pass_app
def issue_move(app: App, ref: str, item: int, up: bool, down: bool, by: str) -> None:
    """Move an item of a draft one place up or down in its section."""
    if up == down:
        raise click.UsageError(_("give one of --up and --down"))
    offset = -1 if up else 1
    iss, _r = _edit(app, ref, by, lambda s, i, a: drafts.move(s, i, item, offset, a))
    click.echo(_("Issue {id}: item {item} moved.").format(id=iss.id, item=item))


@issue.command("drop", context_settings=NEGATIVE_IDS)
@click.argument("ref")
@click.argument("item", type=int)
@BY
@pass_app
def issue_drop(app: App, ref: str, item: int, by: str) -> None:
    """Take an item out of a draft; it is free for the next build."""
    iss, dates = _edit(app, ref, by, lambda s, i, a: drafts.drop(s, i, item, a))
    if isinstance(dates, int) and dates:  # a recurring event: all its dates went
        text = _n(
            "Issue {id}: item {item} dropped, a recurring event, with its {n} date in this "
            "issue; a rebuild leaves the event out too.",
            "Issue {id}: item {item} dropped, a recurring event, with all its {n} dates in this "
            "issue; a rebuild leaves the event out too.",
            dates,
        )
        click.echo(text.format(id=iss.id, item=item, n=dates))
    else:
        click.echo(_("Issue {id}: item {item} dropped.").format(id=iss.id, item=item))


@issue.command("pin", context_settings=NEGATIVE_IDS)
@click.argument("ref")
@click.argument("item", type=int)
@click.option("--unpin", is_flag=True, help="Unpin it instead.")
@BY
@pass_app
def issue_pin(app: App, ref: str, item: int, unpin: bool, by: str) -> None:
    """Pin an item: it stays in its place when the draft is rebuilt."""
    iss, _r = _edit(app, ref, by, lambda s, i, a: drafts.pin(s, i, item, not unpin, a))
    text = _("Issue {id}: item {item} unpinned.") if unpin else _("Issue {id}: item {item} pinned.")
    click.echo(text.format(id=iss.id, item=item))


@issue.command("edit-item", context_settings=NEGATIVE_IDS)
@click.argument("ref")
@click.argument("item", type=int)
@click.option("--lang", required=True, help="The language version to edit.")
@click.option("--title", required=True)
@click.option("--summary", default="")
@BY
@pass_app
def issue_edit_item(
    app: App, ref: str, item: int, lang: str, title: str, summary: str, by: str
) -> None:
    """Give an item of a draft a new title and summary in one language."""

    def work(session: Session, iss: Issue, actor: drafts.Actor) -> object:
        drafts.edit(session, iss, item, lang, title, summary, actor)
        return None

    iss, _r = _edit(app, ref, by, work, lang)
    click.echo(_("Issue {id}: item {item} edited.").format(id=iss.id, item=item))


@issue.command("add-item")
@click.argument("ref")
@click.option("--section", required=True, help="The section's id in the campaign file.")
@click.option("--title", required=True)
@click.option("--summary", default="")
@click.option("--url", default="", help="A link (https://…).")
@BY
@pass_app
def issue_add_item(
    app: App, ref: str, section: str, title: str, summary: str, url: str, by: str
) -> None:
    """Add an item by hand to a draft's section, in every language."""

    def work(session: Session, iss: Issue, actor: drafts.Actor) -> object:
        return drafts.add(session, iss, section, title, summary, url, actor)

    iss, item = _edit(app, ref, by, work)
    click.echo(_("Issue {id}: item {item} added.").format(id=iss.id, item=item))


@issue.command("intro")
@click.argument("ref")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option("--lang", required=True, help="The language version.")
@BY
@pass_app
def issue_intro(app: App, ref: str, file: TextIO, lang: str, by: str) -> None:
    """Set a draft's introduction in one language from a Markdown FILE (- for stdin)."""
    text = str(file.read())
    iss, _r = _edit(app, ref, by, lambda s, i, a: drafts.intro(s, i, lang, text, a), lang)
    click.echo(_("Issue {id}: introduction ({lang}) saved.").format(id=iss.id, lang=lang))


@issue.command("schedule")
@click.argument("ref")
@click.argument("when", required=False, metavar='"YYYY-MM-DD HH:MM"')
@click.option("--cancel", is_flag=True, help="Cancel the scheduled send.")
@BY
@pass_app
def issue_schedule(app: App, ref: str, when: str | None, cancel: bool, by: str) -> None:
    """Send an approved issue at WHEN (the city's time zone), or --cancel the schedule."""
    now = datetime.now(UTC)
    if cancel:
        iss, _r = _edit(app, ref, by, lambda s, i, a: drafts.unschedule(s, i, a, now))
        click.echo(_("Issue {id}: the schedule is cancelled; it waits.").format(id=iss.id))
        return
    day, _sep, time = (when or "").strip().partition(" ")
    config = app.config()

    def work(session: Session, iss: Issue, actor: drafts.Actor) -> object:
        tz = config.cities[iss.campaign.city.slug].timezone
        moment = drafts.local_moment(day, time, tz)
        drafts.schedule(session, config, iss, moment, actor, now)
        return moment

    iss, moment = _edit(app, ref, by, work)
    assert isinstance(moment, datetime)
    click.echo(_("Issue {id} will be sent at {when}.").format(id=iss.id, when=when))
