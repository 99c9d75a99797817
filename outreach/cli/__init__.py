"""The ``outreach`` command: parse, call a stage, print.

``base`` holds what every command shares (the group, settings, one-line
errors, the staff's language); the other modules add their commands to it.
"""

from outreach.cli import bounces, checks, commands, dkim, staff, stats, subscribers
from outreach.cli.base import cli_language, main

__all__ = [
    "bounces", "checks", "cli_language", "commands", "dkim", "main",
    "staff", "stats", "subscribers",
]  # fmt: skip
