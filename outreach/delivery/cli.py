"""Click group ``outreach dkim ...``: the DNS records that DKIM signing needs.

Thin: load settings and campaigns, ask the delivery stage, print. The main
CLI attaches it with ``main.add_command(dkim)``.
"""

from __future__ import annotations

import click

from outreach.campaigns import load
from outreach.delivery.message import city_signer
from outreach.errors import CampaignError, OutreachError
from outreach.settings import get_settings


@click.group()
def dkim() -> None:
    """DKIM signing: the DNS records to publish."""


@dkim.command("record")
@click.argument("cities", nargs=-1)
def record(cities: tuple[str, ...]) -> None:
    """Print the TXT record each city's DKIM key needs (all cities if none given).

    Publish it before turning signing on: receivers treat a signature whose
    key they cannot find as a failure.
    """
    try:
        settings = get_settings()
        config = load(settings.campaigns_path)
        unknown = sorted(set(cities) - set(config.cities))
        if unknown:
            known = ", ".join(sorted(config.cities))
            raise CampaignError(f'no city "{unknown[0]}" (known: {known})')
        for slug in cities or tuple(config.cities):
            signer = city_signer(settings, config.cities[slug])
            if signer is None:
                click.echo(f"; {slug}: not signed (no sender.dkim, no OUTREACH_DKIM_KEY_FILE)")
            else:
                click.echo(f"; {slug}: {signer.key.algorithm}, {signer.key.bits} bits")
                click.echo(signer.zone_line())
    except OutreachError as exc:
        raise click.ClickException(str(exc)) from exc
