"""``outreach db``: the database schema."""

from __future__ import annotations

import click

from outreach.cli.base import App, Group, _, main, pass_app


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
