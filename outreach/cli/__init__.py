"""The ``outreach`` command: parse, call a stage, print.

``base`` holds what every command shares (the group, settings, one-line
errors, the staff's language); the other modules add their commands to it,
one module per command group: ``db``, ``campaigns``, ``sources`` (``fetch``
and ``stories``), ``issue``, ``checks`` (``issue check``), ``run``
(``run-due``, ``status``, ``daemon``, ``serve``, ``demo``), ``subscribers``,
``staff``, ``bounces``, ``dkim``. A command's module is imported when the
command is named (``base.COMMANDS``), so each command loads only its own stages.
"""

from outreach.cli.base import cli_language, main

__all__ = ["cli_language", "main"]
