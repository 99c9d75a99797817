"""``outreach campaigns export`` and ``import``: move a campaign between its file and
the staff console (docs/staff.md)."""

from __future__ import annotations

from pathlib import Path

import click

from outreach.campaigns import DocumentError, console
from outreach.cli.base import App, _, cannot_write, fail, pass_app
from outreach.cli.campaigns import campaigns
from outreach.cli.staff import _by
from outreach.staff import authoring


@campaigns.command("export")
@click.argument("slug")
@click.option(
    "--out",
    "folder",
    type=click.Path(path_type=Path),
    default=Path("."),
    show_default=True,
    help="Folder to write SLUG.yaml (and its Markdown) into.",
)
@pass_app
def campaigns_export(app: App, slug: str, folder: Path) -> None:
    """Write a console campaign as a campaign file."""
    with app.session() as session:
        text, bodies = console.export(session, slug)
    base = folder.resolve()
    files = {f"{slug}.yaml": text, **bodies}
    for name, content in files.items():
        target = (base / name).resolve()
        if not target.is_relative_to(base):
            fail(_("{name}: not inside {folder}").format(name=name, folder=base))
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")
        except OSError as exc:  # a file where a folder should be, no permission, …
            fail(cannot_write(target, exc))
        click.echo(_("wrote {path}").format(path=target))


@campaigns.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_app
def campaigns_import(app: App, file: Path) -> None:
    """Read a campaign file into the console (a new campaign, or over its console copy)."""
    templates = app.settings.templates_path
    with app.session() as session:
        try:
            saved = authoring.import_campaign(
                session, app.config(), file, authoring.Who(_by()),
                templates if templates.is_dir() else None,
            )  # fmt: skip
        except DocumentError as exc:
            for line in exc.lines[1:]:
                click.echo(line, err=True)
            fail(exc.lines[0] if exc.lines else str(exc))
        session.commit()
    click.echo(_("{slug} is now managed in the console.").format(slug=saved.row.slug))
    if (app.settings.campaigns_path / f"{saved.row.slug}.yaml").exists():
        click.echo(
            _("Remove {path}: while the file exists, it is used instead.").format(
                path=app.settings.campaigns_path / f"{saved.row.slug}.yaml"
            )
        )
