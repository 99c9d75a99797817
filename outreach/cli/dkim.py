"""``outreach dkim ...``: the DNS records that DKIM signing needs."""

from __future__ import annotations

import click

from outreach.cli.base import App, Group, _, fail, main, pass_app
from outreach.delivery import city_signer


@main.group(cls=Group)
def dkim() -> None:
    """DKIM signing: the DNS records to publish."""


@dkim.command("record")
@click.argument("cities", nargs=-1)
@pass_app
def record(app: App, cities: tuple[str, ...]) -> None:
    """Print the TXT record each city's DKIM key needs (all cities if none given).

    Publish it before turning signing on: receivers treat a signature whose
    key they cannot find as a failure.
    """
    config = app.config()
    for slug in cities:
        if slug not in config.cities:
            known = ", ".join(config.cities)
            fail(_("no city {city} (known: {known})").format(city=slug, known=known))
    for slug in cities or tuple(config.cities):
        signer = city_signer(app.settings, config.cities[slug])
        if signer is None:
            click.echo(f"; {slug}: not signed (no sender.dkim, no OUTREACH_DKIM_KEY_FILE)")
        else:
            click.echo(f"; {slug}: {signer.key.algorithm}, {signer.key.bits} bits")
            click.echo(signer.zone_line())
