"""``outreach campaigns``: check and list the campaign files."""

from __future__ import annotations

import sys

import click

from outreach.campaigns import Config
from outreach.cli.base import App, Group, _, _n, cli_language, main, pass_app


@main.group(cls=Group)
def campaigns() -> None:
    """Campaign files."""


@campaigns.command("validate")
@pass_app
def campaigns_validate(app: App) -> None:
    """Check every campaign file; print every error and each campaign's next runs."""
    from outreach.campaigns import collect

    config, errors = collect(app.settings.campaigns_path, app.settings.templates_path)
    mail_errors = _mail_url_errors(app, config) if config is not None else []
    for line in errors + mail_errors:
        click.echo(line, err=True)
    if config is not None:
        _warn_municipality_words(app, config)
    if config is not None:
        _print_schedules(app, config)
    if errors:
        files = len(config.broken) if config is not None else 1
        click.echo(
            _n(
                "{n} file with errors is left out until it is fixed.",
                "{n} files with errors are left out until they are fixed.",
                files,
            ).format(n=files)
        )
        sys.exit(1)
    if mail_errors:
        sys.exit(1)
    assert config is not None
    cities, camps = len(config.cities), len(config.campaigns)
    click.echo(
        _("{cities} and {campaigns} are valid.").format(
            cities=_n("{n} city", "{n} cities", cities).format(n=cities),
            campaigns=_n("{n} campaign", "{n} campaigns", camps).format(n=camps),
        )
    )


def _mail_url_errors(app: App, config: Config) -> list[str]:
    """A line for each city whose own ``mail_url`` names no mail backend or an option
    its backend does not take (found now, not when the city's first issue is sent)."""
    from outreach.campaigns import CITIES_FILE
    from outreach.delivery.backends import get_backend
    from outreach.errors import OutreachError

    lines = []
    for slug, city in config.cities.items():
        if city.mail_url is None:
            continue
        try:
            get_backend(city.mail_url)
        except OutreachError as exc:
            path = app.settings.campaigns_path / CITIES_FILE
            lines.append(f"{path}: {slug}.mail_url: {exc.text(cli_language())}")
    return lines


def _warn_municipality_words(app: App, config: Config) -> None:
    """A warning for each text of ``cities.yaml`` that calls a municipality a city."""
    from outreach.campaigns import CITIES_FILE

    path = app.settings.campaigns_path / CITIES_FILE
    for slug, key, text in config.calls_a_municipality_a_city():
        click.echo(
            _("warning: {file}: {key}: “{text}” says city, but {city} is a municipality "
              "(kind: municipality); word it so it fits every place").format(
                file=path, key=key, text=text, city=slug
            ),
            err=True,
        )  # fmt: skip


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
