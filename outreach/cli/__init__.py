"""The ``outreach`` command: parse, call a stage, print.

``base`` holds what every command shares (the group, settings, one-line
errors, the staff's language); the other modules add their commands to it,
one module per command group: ``db``, ``campaigns``, ``sources`` (``fetch``
and ``stories``), ``issue``, ``checks`` (``issue check``), ``run``
(``run-due``, ``status``, ``daemon``, ``serve``, ``demo``), ``subscribers``,
``staff``, ``bounces``, ``dkim``.
"""

from outreach.cli import (
    bounces,
    campaigns,
    campaigns_io,
    checks,
    db,
    dkim,
    drafts,
    issue,
    run,
    sources,
    staff,
    stats,
    subscribers,
)
from outreach.cli.base import cli_language, main

__all__ = [
    "bounces",
    "campaigns",
    "campaigns_io",
    "checks",
    "cli_language",
    "db",
    "dkim",
    "drafts",
    "issue",
    "main",
    "run",
    "sources",
    "staff",
    "stats",
    "subscribers",
]
