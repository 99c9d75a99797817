"""``outreach campaigns``: check and list the campaign files."""

from __future__ import annotations

import sys

import click

from outreach.campaigns import Config
from outreach.cli.base import App, Group, _, cli_language, main, pass_app


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
    from outreach.scheduler import next_runs

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
