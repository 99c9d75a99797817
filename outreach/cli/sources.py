"""``outreach fetch`` and ``outreach stories``: the content issues are built from."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

import click

from outreach.cli.base import App, Group, _, fail, main, pass_app
from outreach.cli.issue import echo_holds


@main.command()
@click.argument("campaign", required=False)
@pass_app
def fetch(app: App, campaign: str | None) -> None:
    """Ingest sources now; a line per source."""
    from outreach.delivery import tell_approvers
    from outreach.issues import check_cancelled
    from outreach.sources import all_failed, fetch_sources

    with app.session() as session:
        config = app.synced(session)
        if campaign:
            config.campaign(campaign)
        reports = fetch_sources(session, app.settings, config, [campaign] if campaign else None)
        notices = check_cancelled(session, config)
    for report in reports:
        click.echo(report.line())
    echo_holds(notices)
    tell_approvers(app.settings, config, notices)
    if all_failed(reports):
        fail(_("every source failed"))


@main.group(cls=Group)
def stories() -> None:
    """Company climate success stories."""


@stories.command("add")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--city", required=True)
@pass_app
def stories_add(app: App, file: Path, city: str) -> None:
    """Add a story from a Markdown file with front matter."""
    from outreach.sources import add_story_from_markdown

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
    from outreach.sources import list_stories

    with app.session() as session:
        for s in list_stories(session, city, status):
            used = f" issue {s.issue_id}" if s.issue_id else ""
            consent = "" if s.consent_to_publish else " " + _("(no consent to publish)")
            click.echo(
                f"{s.id:5} {s.city.slug:10} {s.status.value:10} {s.company_name}: "
                f"{s.title}{used}{consent}"
            )


def _story_refusal(code: str) -> str:
    messages = {
        "no_consent": _(
            "the company has not consented to publishing: get the consent before approving"
        ),
        "reason": _("give the reason for rejecting with --reason, at most 1,000 characters"),
        "story_used": _("the story already went out in an issue; it can no longer be rejected"),
    }
    return messages.get(code, _("the story's status does not allow this now"))


def _moderate(app: App, story_id: int, work: Callable[..., object]) -> object:
    """Run a moderation step on a story, as the console does (audit-logged)."""
    from outreach.models import Story
    from outreach.staff import workflow

    with app.session() as session:
        config = app.synced(session)
        story = session.get(Story, story_id)
        if story is None:
            fail(_("no story with id {id} (see `outreach stories list`)").format(id=story_id))
        try:
            return work(session, config, story)
        except workflow.Refused as exc:
            session.rollback()
            fail(_("story {id}: {reason}").format(id=story_id, reason=_story_refusal(exc.code)))


BY_STAFF = click.option(
    "--by", default=lambda: os.environ.get("USER", "staff"), show_default="$USER",
    help="Who decides (audit log).",
)  # fmt: skip


@stories.command("approve")
@click.argument("story_id", type=int)
@BY_STAFF
@pass_app
def stories_approve(app: App, story_id: int, by: str) -> None:
    """Approve a story for the city's next issue (needs the company's consent)."""
    from outreach.staff import Actor, moderation

    _moderate(app, story_id, lambda s, c, story: moderation.approve(s, story, Actor(by)))
    click.echo(_("Story {id} is approved for the next issue.").format(id=story_id))


@stories.command("reject")
@click.argument("story_id", type=int)
@click.option("--reason", required=True, help="Why; mailed to the sender in their language.")
@BY_STAFF
@pass_app
def stories_reject(app: App, story_id: int, reason: str, by: str) -> None:
    """Reject a story; the reason is mailed to whoever sent it."""
    from outreach.staff import Actor, moderation

    mailed = _moderate(
        app, story_id,
        lambda s, c, story: moderation.reject(s, app.settings, c, story, reason,
                                              Actor(by)),
    )  # fmt: skip
    if mailed:
        click.echo(_("Story {id} is rejected; the reason was mailed to the sender.").format(
            id=story_id))  # fmt: skip
    else:
        click.echo(_("Story {id} is rejected, but the reason could not be mailed: "
                     "tell the sender yourself.").format(id=story_id))  # fmt: skip


@stories.command("translate")
@click.argument("story_id", type=int)
@click.option("--lang", "lang", required=True, type=click.Choice(["fi", "sv", "en"]))
@click.option("--title", default="", help="The translated title.")
@click.option(
    "--body-file",
    type=click.File(encoding="utf-8"),
    help="The translated text in Markdown (- reads standard input).",
)
@click.option("--figures", default="", help="The translated figures (optional).")
@click.option("--image-alt", default="", help="The translated image description (optional).")
@click.option("--remove", is_flag=True, help="Remove the translation into --lang.")
@click.option("--by", default=lambda: os.environ.get("USER", "staff"), show_default="$USER")
@pass_app
def stories_translate(
    app: App, story_id: int, lang: str, title: str, body_file: TextIO | None, figures: str,
    image_alt: str, remove: bool, by: str,
) -> None:  # fmt: skip
    """Write, change or remove a story's translation: the public pages show it."""
    from outreach.models import Story
    from outreach.staff import Actor, moderation, workflow

    fields_message = _(
        "give both --title (at most 300 characters) and --body-file (at most 5,000); "
        "--figures at most 1,000 and --image-alt at most 300 characters"
    )
    if remove and (title or body_file or figures or image_alt):
        fail(_("give either --remove or the translation's fields, not both"))
    body = "" if body_file is None else body_file.read(moderation.TRANSLATED["body"] + 1)
    if not remove and not (title.strip() and body.strip()):
        fail(fields_message)
    with app.session() as session:
        story = session.get(Story, story_id)
        if story is None:
            fail(_("no story with id {id} (see `outreach stories list`)").format(id=story_id))
        try:
            changed = moderation.translate(
                session, story, Actor(by), lang, title=title, body=body, figures=figures,
                image_alt=image_alt,
            )  # fmt: skip
        except workflow.Refused as exc:
            session.rollback()
            if exc.code == "translation_language":
                fail(_("the story is written in {lang}: translate it into another language")
                     .format(lang=lang))  # fmt: skip
            fail(fields_message)
    if not changed:
        message = _("Story {id}: the translation into {lang} is as it was.")
    elif remove:
        message = _("Story {id}: the translation into {lang} is removed.")
    else:
        message = _("Story {id}: the translation into {lang} is saved.")
    click.echo(message.format(id=story_id, lang=lang))


@stories.command("feature")
@click.argument("story_id", type=int)
@pass_app
def stories_feature(app: App, story_id: int) -> None:
    """Let a story that went out once appear in a later issue again."""
    from outreach.sources import feature_again

    with app.session() as session:
        feature_again(session, story_id)
        click.echo(_("Story {id} will be in the next issue again.").format(id=story_id))
