"""A real send needs the web app's public address: every message's links use it.

``OUTREACH_BASE_URL`` defaults to ``http://localhost:8000`` so the demo works
with no set-up; mail that leaves the machine with such links would reach
people whose unsubscribe link cannot work. So a send through any backend but
the local ones (``file``, ``console``, ``memory``) refuses to start until the
setting is given, for ``OUTREACH_MAIL_URL`` and for every city's own
``mail_url``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from outreach.campaigns import Config
from outreach.errors import ConfigError
from outreach.l10n import gettext_for, staff_language
from outreach.settings import Settings

LOCAL_SCHEMES = frozenset({"file", "console", "memory"})


def require_base_url(settings: Settings, config: Config, city: str | None = None) -> None:
    """Raise :class:`ConfigError` if mail for ``city`` (default: any city) would leave
    the machine while ``OUTREACH_BASE_URL`` was not set."""
    if "base_url" in settings.model_fields_set:
        return
    cities = [config.cities[city]] if city in config.cities else list(config.cities.values())
    urls = {c.mail_url or settings.mail_url for c in cities} or {settings.mail_url}
    if all(urlsplit(url).scheme.lower() in LOCAL_SCHEMES for url in urls):
        return
    message = gettext_for(
        staff_language(settings.cli_language),
        "cli",
        "set OUTREACH_BASE_URL to the web app's public address (e.g. "
        "https://uutiskirje.example.fi): the links in the mail would point to {url}",
    )
    raise ConfigError(message.format(url=settings.base_url))
