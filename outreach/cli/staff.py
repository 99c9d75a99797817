"""``outreach staff`` (accounts and roles of the console) and ``outreach audit``."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import click

from outreach.cli.base import App, Group, _, _n, cli_language, fail, main, pass_app


def _by() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "staff"


@main.group(cls=Group)
def staff() -> None:
    """Staff accounts and roles of the console (docs/staff.md)."""


def _show_password(email: str, password: str) -> None:
    click.echo(
        _("Password for {email} (shown only now; pass it on in person or by phone):").format(
            email=email
        )
    )
    click.echo(f"  {password}")


@staff.command("add")
@click.argument("email")
@click.option("--city", help="City slug (not for admins: they have every city).")
@click.option("--role", required=True, type=click.Choice(["editor", "approver", "admin"]))
@click.option("--totp", "totp_required", is_flag=True, help="Require an authenticator code.")
@click.option("--by", default=_by, show_default="$USER")
@pass_app
def staff_add(
    app: App, email: str, city: str | None, role: str, totp_required: bool, by: str
) -> None:
    """Add an account, or a role in another city to an existing one."""
    from outreach.staff import accounts

    with app.session() as session:
        known = set(app.synced(session).cities)
        made = accounts.add(
            session,
            email,
            role=role,
            city=city,
            known_cities=known,
            by=by,
            totp_required=totp_required,
        )
    where = _("every city") if role == "admin" else city
    if made.created:
        click.echo(
            _("Added {email} as {role} in {city}.").format(email=made.email, role=role, city=where)
        )
    else:
        click.echo(
            _("{email} is now {role} in {city}.").format(email=made.email, role=role, city=where)
        )
    if made.password is not None:
        _show_password(made.email, made.password)
    if role == "admin" or totp_required:
        click.echo(_("An authenticator is set up at the first sign-in."))


@staff.command("list")
@click.option("--city", help="Only accounts with a role in this city (and admins).")
@pass_app
def staff_list(app: App, city: str | None) -> None:
    """Accounts with their roles, second factor and last sign-in."""
    from outreach.l10n import format_datetime
    from outreach.staff import accounts

    lang = cli_language(app.settings)
    with app.session() as session:
        lines = accounts.list_accounts(session, city)
    if not lines:
        click.echo(_("No staff accounts yet: `outreach staff add EMAIL --role admin` makes one."))
        return
    for line in lines:
        roles = ", ".join(f"{role} {_('every city') if c == '*' else c}" for c, role in line.roles)
        last = format_datetime(line.last_sign_in_at, lang) if line.last_sign_in_at else _("never")
        state = _("disabled") if line.disabled else _("active")
        click.echo(
            _("{email}: {roles}; second factor {factor}; {state}; last sign-in {last}").format(
                email=line.email,
                roles=roles or _("no role"),
                factor=line.second_factor,
                state=state,
                last=last,
            )
        )


@staff.command("disable")
@click.argument("email")
@click.option("--by", default=_by, show_default="$USER")
@pass_app
def staff_disable(app: App, email: str, by: str) -> None:
    """Stop an account from signing in; its sessions end now."""
    from outreach.staff import accounts

    with app.session() as session:
        ended = accounts.disable(session, email, by=by)
    ended_text = _n(
        "{email} is disabled; {n} session ended.", "{email} is disabled; {n} sessions ended.", ended
    )
    click.echo(ended_text.format(email=email, n=ended))


@staff.command("enable")
@click.argument("email")
@click.option("--by", default=_by, show_default="$USER")
@pass_app
def staff_enable(app: App, email: str, by: str) -> None:
    """Let a disabled account sign in again."""
    from outreach.staff import accounts

    with app.session() as session:
        accounts.enable(session, email, by=by)
    click.echo(_("{email} can sign in again.").format(email=email))


@staff.command("revoke")
@click.argument("email")
@click.option("--city", required=True, help="City slug, or * for the admin role.")
@click.option("--by", default=_by, show_default="$USER")
@pass_app
def staff_revoke(app: App, email: str, city: str, by: str) -> None:
    """Take away an account's role in a city."""
    from outreach.staff import accounts

    with app.session() as session:
        accounts.remove_role(session, email, city, by=by)
    click.echo(_("{email} has no role in {city} any more.").format(email=email, city=city))


@staff.command("reset")
@click.argument("email")
@click.option("--totp", is_flag=True, help="Also set up the authenticator again.")
@click.option("--totp-only", is_flag=True, help="Only the authenticator; keep the password.")
@click.option("--by", default=_by, show_default="$USER")
@pass_app
def staff_reset(app: App, email: str, totp: bool, totp_only: bool, by: str) -> None:
    """A new password (shown once) and/or a new authenticator; sessions end."""
    from outreach.staff import accounts

    with app.session() as session:
        done = accounts.reset(session, email, by=by, password=not totp_only, totp=totp or totp_only)
    if done.password is not None:
        _show_password(done.email, done.password)
    if totp or totp_only:
        click.echo(
            _("{email} sets up an authenticator at the next sign-in.").format(email=done.email)
        )


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        fail(_("--since takes a date like 2026-12-01, got {value!r}").format(value=value[:40]))
    return day.replace(tzinfo=ZoneInfo("Europe/Helsinki")).astimezone(UTC)


@main.command("audit")
@click.option("--city", help="Only this city's events.")
@click.option("--since", help="From this date on (YYYY-MM-DD, Helsinki time).")
@click.option("--actor", help="Only this person's events (an email address or a name).")
@pass_app
def audit_command(app: App, city: str | None, since: str | None, actor: str | None) -> None:
    """Staff actions, newest first: when, who, what, from where, on what."""
    from outreach.l10n import format_datetime
    from outreach.staff import audit

    lang = cli_language(app.settings)
    query = audit.Query(cities=(city,) if city else None, since=_since(since), actor=actor)
    with app.session() as session:
        rows = audit.events(session, query)
        lines = [
            f"{format_datetime(e.created_at, lang)}  {e.actor}  {e.action}"
            f"  {e.city or '-'}  {e.ip or '-'}  {audit.describe(e)}".rstrip()
            for e in rows
        ]
    if not lines:
        click.echo(_("No events."))
    for line in lines:
        click.echo(line)
