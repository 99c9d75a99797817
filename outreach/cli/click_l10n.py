"""click's own messages (its usage errors and ``Usage:``) in the staff's language.

click 8 marks its messages with the standard library's ``gettext`` and
``ngettext``, imported into each of its modules as ``_`` and ``ngettext``, and
ships no catalog of its own: translating them through the process-wide
``gettext`` domain would take compiled ``.mo`` files on disk and the
locale's language rather than the staff's setting. :func:`install` instead
points those two names, in the click modules that word a usage error, at the
``click`` catalog of ``outreach/locale`` in the language of the command
line's other messages, so ``Missing option '--city'.`` reads ``Puuttuva
valitsin '--city'.`` at a Finnish terminal. A msgid the catalog lacks stays
as click wrote it; the help texts of the commands stay English.

``tests/test_cli_usage_language.py`` runs the command with each language and
checks that the catalog holds msgids click still uses.
"""

from __future__ import annotations

from collections.abc import Callable

import click.core
import click.exceptions
import click.formatting
import click.parser
import click.types

from outreach.l10n import gettext_for

#: The click modules whose ``_`` and ``ngettext`` word a usage error or the usage line.
MODULES = (click.core, click.exceptions, click.formatting, click.parser, click.types)
DOMAIN = "click"


def install(language: Callable[[], str]) -> None:
    """Translate click's messages into ``language()``, asked each time one is worded."""

    def translate(message: str) -> str:
        return gettext_for(language(), DOMAIN, message)

    def translate_n(singular: str, plural: str, n: int) -> str:
        # Each form is an entry of its own: click's two forms name different
        # placeholders ("{possibility}", "{possibilities}"), which a plural entry
        # of these catalogs may not; fi, sv and en all take the plural for n != 1.
        return translate(singular if n == 1 else plural)

    for module in MODULES:
        names = vars(module)
        if "_" in names:
            names["_"] = translate
        if "ngettext" in names:
            names["ngettext"] = translate_n
