"""What every ``outreach`` command shares: the group, settings, one-line errors.

Exit status 0 on success, 1 on a user error (one line, no traceback), 2 on
usage errors (click's own). Messages a person reads come from the ``cli``
gettext catalog in the staff's language (``OUTREACH_CLI_LANGUAGE`` or LANG).
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn, TextIO

import click
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError, SQLAlchemyError
from sqlalchemy.orm import Session

from outreach import __version__
from outreach.campaigns import Config, load, merge_console, sync
from outreach.cli import click_l10n
from outreach.errors import OutreachError
from outreach.l10n import gettext_for, ngettext_for, staff_language
from outreach.settings import Settings, get_settings


def cli_language(settings: Settings | None = None) -> str:
    """``OUTREACH_CLI_LANGUAGE``, else the locale's language (fi, sv), else English."""
    if settings is None:
        try:
            settings = get_settings()
        except OutreachError:
            return staff_language()
    return staff_language(settings.cli_language)


def _(message: str) -> str:
    """Translate a message for the person at the terminal."""
    return gettext_for(cli_language(), "cli", message)


def _n(singular: str, plural: str, n: int) -> str:
    """Translate a message with a count: the form that fits ``n`` (one city, two cities)."""
    return ngettext_for(cli_language(), "cli", singular, plural, n)


def fail(message: str) -> NoReturn:
    click.echo(_("Error: {message}").format(message=message), err=True)
    sys.exit(1)


class App:
    """Lazily created settings, engine and campaign config for one command."""

    def __init__(self) -> None:
        self.settings = get_settings()
        self._config: Config | None = None

    @property
    def engine(self) -> Engine:
        from outreach.db import get_engine

        return get_engine(self.settings)

    @contextmanager
    def session(self) -> Iterator[Session]:
        from outreach.db import session_scope

        with session_scope(self.engine) as session:
            yield session

    def config(self) -> Config:
        """The campaign files and console campaigns, loaded once per command."""
        if self._config is None:
            self._config = load(self.settings.campaigns_path, self.settings.templates_path)
            try:  # and the campaigns written in the staff console, when the database answers
                with self.session() as session:
                    merge_console(self._config, session, self.settings.templates_path)
            except SQLAlchemyError:
                pass
        return self._config

    def synced(self, session: Session) -> Config:
        config = self.config()
        sync(session, config)
        return config


pass_app = click.make_pass_decorator(App, ensure=True)


class Group(click.Group):
    """Turns OutreachError into one line on stderr and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OutreachError as exc:
            fail(exc.text(cli_language()))
        except (OperationalError, ProgrammingError) as exc:
            # A database that cannot be reached or was never migrated, met by any
            # command: one line. Other database errors are faults: their traceback.
            from outreach.db import schema_missing, unavailable

            if isinstance(exc, ProgrammingError) and not schema_missing(exc):
                raise
            fail(str(unavailable(exc, getattr(ctx.obj, "settings", None))))


#: Each command of ``outreach`` and the modules that add it (and its subcommands),
#: imported when the command is first asked for: a command loads only its own
#: stages (``outreach subscribers import`` not the staff console or the daemon).
#: ``tests/test_cli.py`` checks that this is every command and where it lives.
COMMANDS: dict[str, tuple[str, ...]] = {
    "apikey": ("subscribers",),
    "audit": ("staff",),
    "bounces": ("bounces",),
    "campaigns": ("campaigns", "campaigns_io"),
    "daemon": ("run",),
    "db": ("db",),
    "demo": ("run",),
    "dkim": ("dkim",),
    "fetch": ("sources",),
    "issue": ("issue", "checks", "drafts"),
    "run-due": ("run",),
    "serve": ("run",),
    "staff": ("staff",),
    "stats": ("stats",),
    "status": ("run",),
    "stories": ("sources",),
    "subscribers": ("subscribers",),
}


class Main(Group):
    """The ``outreach`` group: a command's module is imported when the command is named."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        # click's usage errors in the staff's language, from the first parsed word on
        click_l10n.install(cli_language)
        return super().make_context(info_name, args, parent, **extra)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        for module in COMMANDS.get(cmd_name, ()):
            importlib.import_module(f"outreach.cli.{module}")
        return super().get_command(ctx, cmd_name)

    def load_all(self) -> None:
        """Every command (the README's and the tests' walk over them)."""
        for name in COMMANDS:
            self.get_command(click.Context(self), name)


@click.group(cls=Main)
@click.version_option(__version__, prog_name="outreach")
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """Climate newsletter and business outreach for cities."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not verbose:
        # progress of long work stays visible where there is no terminal for a bar
        logging.getLogger("outreach.delivery").setLevel(logging.INFO)
        logging.getLogger("outreach.scheduler").setLevel(logging.INFO)
    ctx.obj = App()


def check_out(path: Path) -> None:
    """One line and exit 1 unless ``path`` (an ``--out`` file) can go where it is named:
    checked before the command does its work."""
    folder = path.parent
    if not folder.exists():
        fail(_("{path}: the folder {folder} does not exist").format(path=path, folder=folder))
    if not folder.is_dir():
        fail(_("{path}: {folder} is not a folder").format(path=path, folder=folder))
    if path.is_dir():
        fail(_("{path} is a folder; name a file").format(path=path))


@contextmanager
def open_out(path: Path, *, newline: str | None = None) -> Iterator[TextIO]:
    """``path`` opened for writing as UTF-8; a folder that does not exist or a file that
    cannot be written is one line and exit 1, not a traceback."""
    check_out(path)
    try:
        fh = path.open("w", encoding="utf-8", newline=newline)
    except OSError as exc:
        fail(cannot_write(path, exc))
    with fh:
        yield fh


def cannot_write(path: Path, exc: OSError) -> str:
    reason = exc.strerror or exc.__class__.__name__
    return _("{path}: cannot write the file ({reason})").format(path=path, reason=reason)


def echo_lines(lines: list[str]) -> None:
    for line in lines:
        click.echo(line)
