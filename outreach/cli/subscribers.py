"""``outreach subscribers ...`` and ``outreach apikey ...``: parse, call the stage, print."""

from __future__ import annotations

import getpass
import json
import os
import sys
from pathlib import Path
from typing import TextIO

import click
from sqlalchemy import select

from outreach.cli.base import (
    App,
    Group,
    _,
    _n,
    check_out,
    cli_language,
    fail,
    main,
    open_out,
    pass_app,
)
from outreach.delivery import confirmation_mailer
from outreach.errors import AlreadySubscribed
from outreach.models import City, Subscriber, Subscription
from outreach.subscriptions import (
    PURPOSES,
    ImportAborted,
    ImportRefused,
    LanguageNotOffered,
    SignUp,
    add_subscriber,
    create_api_key,
    export,
    forget,
    import_csv,
    list_api_keys,
    offered_language,
    parse_mapping,
    parse_share,
    purge_pending,
    revoke_api_key,
    show_json,
    unsubscribe_email,
)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container with an unnamed uid)
        return f"uid {os.getuid()}"


def _known_city(ctx: App, city: str) -> None:
    known = ctx.config().cities
    if city not in known:
        known_text = ", ".join(sorted(known))
        fail(_('no city "{city}" (known: {known})').format(city=city[:40], known=known_text))


@main.group(cls=Group)
def subscribers() -> None:
    """Import, export, add, list, show and forget subscribers."""


def _share(ctx: click.Context, param: click.Parameter, value: str) -> float:
    try:
        return parse_share(value)
    except ImportRefused as exc:
        # a usage error (exit 2), in one line in the staff's language
        click.echo(
            _("Error: {message}").format(message=f"--max-skipped: {exc.text(cli_language())}"),
            err=True,
        )
        ctx.exit(2)


@subscribers.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--city", required=True, help="City slug the contacts subscribe to.")
@click.option("--map", "mapping", multiple=True, metavar="COL=FIELD", help="Map a column.")
@click.option("--confirmed", is_flag=True, help="Import as confirmed (needs --consent-note).")
@click.option("--consent-note", help="The legal basis of consent; stored with every row.")
@click.option("--no-mail", is_flag=True, help="Do not send confirmation mails now.")
@click.option("--dry-run", is_flag=True, help="Check the file and report; write nothing.")
@click.option(
    "--max-skipped",
    default="5%",
    show_default=True,
    callback=_share,
    metavar="SHARE",
    help="Exit 1 when more rows than this are skipped (5% or 0.05).",
)
@pass_app
def import_command(
    ctx: App,
    file: Path,
    city: str,
    mapping: tuple[str, ...],
    confirmed: bool,
    consent_note: str | None,
    no_mail: bool,
    dry_run: bool,
    max_skipped: float,
) -> None:
    """Import a CRM export (CSV); pending with a confirmation mail unless --confirmed."""
    lang = cli_language(ctx.settings)
    mailer = None if no_mail or dry_run else confirmation_mailer(ctx.settings, ctx.config())
    try:
        report = import_csv(
            ctx.engine,
            ctx.settings,
            ctx.config(),
            file,
            city,
            mapping=parse_mapping(mapping),
            confirmed=confirmed,
            consent_note=consent_note,
            mailer=mailer,
            dry_run=dry_run,
        )
    except ImportAborted as exc:
        for line in exc.report.lines(lang):
            click.echo(line)
        fail(exc.text(lang))
    except ImportRefused as exc:
        fail(exc.text(lang))
    for line in report.lines(lang):
        click.echo(line)
    if report.over_limit(max_skipped):
        fail(report.limit_message(max_skipped, lang))


@subscribers.command("export")
@click.option("--city", required=True)
@click.option(
    "--purpose", required=True, type=click.Choice(list(PURPOSES)),
    help="Why: crm, visits, mailing or gdpr-request (only that one includes people who left).",
)  # fmt: skip
@click.option("--by", help="Who makes the export (default: the operating-system user).")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv")
@click.option("--interested", is_flag=True, help="Only leads who welcome a visit.")
@click.option("--status", type=click.Choice(["pending", "confirmed", "unsubscribed", "bounced"]))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Default: stdout.")
@pass_app
def export_command(
    ctx: App, city: str, purpose: str, by: str | None, fmt: str, interested: bool,
    status: str | None, out: Path | None,
) -> None:  # fmt: skip
    """Export a city's subscribers for a purpose; recorded with who and when."""
    _known_city(ctx, city)
    if out is not None:
        check_out(out)
    if status is not None and not PURPOSES[purpose] and status not in ("pending", "confirmed"):
        fail(
            _("the purpose {purpose} leaves out {status} subscriptions; only gdpr-request "
              "exports them").format(purpose=purpose, status=status)
        )  # fmt: skip
    who = by or _os_user()

    def write(fh: TextIO) -> int:
        return export(
            ctx.engine, ctx.settings, city, fh, purpose=purpose, by=who, fmt=fmt,
            interested=interested, status=status,
        )  # fmt: skip

    if out is None:
        count = write(sys.stdout)
    else:
        with open_out(out, newline="") as fh:
            count = write(fh)
        written = _n("{count} row written to {out}", "{count} rows written to {out}", count)
        click.echo(written.format(count=count, out=out), err=True)


@subscribers.command("list")
@click.option("--city")
@pass_app
def list_command(ctx: App, city: str | None) -> None:
    """One line per subscription: email, city, status, topics."""
    if city:
        _known_city(ctx, city)
    with ctx.session() as session:
        stmt = (
            select(Subscriber.email, City.slug, Subscription.status, Subscription.topics)
            .join(Subscription, Subscription.subscriber_id == Subscriber.id)
            .join(City, Subscription.city_id == City.id)
            .order_by(City.slug, Subscriber.email)
        )
        if city:
            stmt = stmt.where(City.slug == city)
        for email, slug, status, topics in session.execute(stmt):
            click.echo(f"{email}\t{slug}\t{status.value}\t{','.join(topics)}")


@subscribers.command("add")
@click.argument("email")
@click.option("--city", required=True)
@click.option("--topic", "topics", multiple=True)
@click.option("--language")
@click.option("--company")
@click.option("--business-id")
@click.option("--name", "contact_name")
@click.option("--confirmed", is_flag=True)
@click.option("--consent-note")
@pass_app
def add_command(
    ctx: App,
    email: str,
    city: str,
    topics: tuple[str, ...],
    language: str | None,
    company: str | None,
    business_id: str | None,
    contact_name: str | None,
    confirmed: bool,
    consent_note: str | None,
) -> None:
    """Add one subscriber (pending with a confirmation mail unless --confirmed)."""
    signup = SignUp.clean(
        ctx.config(), city, email=email, topics=topics, language=language,
        company_name=company, business_id=business_id, contact_name=contact_name,
    )  # fmt: skip
    try:
        offered_language(ctx.config(), city, signup.language)
    except LanguageNotOffered as exc:
        fail(
            _("the city {city} sends its newsletter in {languages} only; choose one of them with "
              "--language").format(city=city, languages=", ".join(exc.offered))
        )  # fmt: skip
    with ctx.session() as session:
        try:
            sub = add_subscriber(
                session, ctx.settings, ctx.config(), city, signup,
                confirmation_mailer(ctx.settings, ctx.config()), confirmed=confirmed,
                consent_note=consent_note, channel="cli", detail="outreach subscribers add",
                refuse_existing=True,
            )  # fmt: skip
        except AlreadySubscribed as exc:
            fail(_("{email} already subscribes in {city} ({status}); nothing was changed").format(
                email=exc.email, city=exc.city, status=exc.status))  # fmt: skip
        if sub is None:
            fail(_("{email} is on the suppression list; not added").format(email=signup.email))
        click.echo(f"{signup.email}: {city} {sub.status.value}")


@subscribers.command("unsubscribe")
@click.argument("email")
@click.option("--city", help="Only this city (default: every city).")
@pass_app
def unsubscribe_command(ctx: App, email: str, city: str | None) -> None:
    """Unsubscribe an address (consent withdrawn, channel cli)."""
    if city is not None:
        _known_city(ctx, city)
    with ctx.session() as session:
        count = unsubscribe_email(session, email, city, channel="cli")
    click.echo(
        _n("{count} subscription ended", "{count} subscriptions ended", count).format(count=count)
    )


@subscribers.command("show")
@click.argument("email")
@pass_app
def show_command(ctx: App, email: str) -> None:
    """Print everything held about an address as JSON (GDPR access request)."""
    with ctx.session() as session:
        click.echo(show_json(session, ctx.settings, email))


@subscribers.command("forget")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_app
def forget_command(ctx: App, email: str, yes: bool) -> None:
    """Erase an address and everything about it; keep only a suppression hash."""
    if not yes:
        click.confirm(_("Erase every record of {email}?").format(email=email), abort=True)
    with ctx.session() as session:
        found = forget(session, ctx.settings, email, detail="outreach subscribers forget")
    message = _("erased {email}") if found else _("nothing held; suppressed {email}")
    click.echo(message.format(email=email.strip().lower()))


@subscribers.command("purge")
@pass_app
def purge_command(ctx: App) -> None:
    """Delete sign-ups never confirmed within pending_purge_days."""
    with ctx.session() as session:
        count = purge_pending(session, ctx.settings)
    deleted = _n(
        "{count} unconfirmed sign-up deleted", "{count} unconfirmed sign-ups deleted", count
    )
    click.echo(deleted.format(count=count))


@main.group(cls=Group)
def apikey() -> None:
    """Create, list and revoke keys for the JSON API."""


@apikey.command("create")
@click.argument("name")
@click.option("--city", "cities", multiple=True, help="Limit the key to this city (repeatable).")
@pass_app
def apikey_create(ctx: App, name: str, cities: tuple[str, ...]) -> None:
    """Create a key; it is printed once and stored only as a hash."""
    for city in cities:
        _known_city(ctx, city)
    with ctx.session() as session:
        row, key = create_api_key(session, name, list(cities))
        click.echo(key)
        notice = _("key {prefix} ({name}) created; store it now, it is not shown again")
        click.echo(notice.format(prefix=row.prefix, name=row.name), err=True)


@apikey.command("revoke")
@click.argument("name_or_prefix")
@pass_app
def apikey_revoke(ctx: App, name_or_prefix: str) -> None:
    """Revoke keys by name or prefix."""
    with ctx.session() as session:
        count = revoke_api_key(session, name_or_prefix)
    click.echo(_n("{count} key revoked", "{count} keys revoked", count).format(count=count))


@apikey.command("list")
@pass_app
def apikey_list(ctx: App) -> None:
    """Prefix, name, created and revoked time of every key."""
    with ctx.session() as session:
        for row in list_api_keys(session):
            revoked = row.revoked_at.isoformat() if row.revoked_at else "active"
            scope = row.cities or "all cities"
            click.echo(
                json.dumps([row.prefix, row.name, scope, row.created_at.isoformat(), revoked])
            )
