"""Staff accounts and their roles: add, list, disable, reset; a person's principal.

``add`` and ``reset`` make a random password and return it to be shown once (the
command line prints it; nothing keeps it but its argon2id hash). An admin, and
anyone added with ``totp_required``, enrols a TOTP authenticator at the first
sign-in. Every change is in the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from outreach.errors import StaffError, SubscriptionError, msg
from outreach.models import StaffGrant, StaffSession, StaffUser
from outreach.staff import audit
from outreach.staff.policy import ALL_CITIES, Principal, Role, parse_role
from outreach.staff.secrets import hash_password, new_password
from outreach.validation import normalise_email


def clean_email(email: str) -> str:
    try:
        return normalise_email(email)
    except SubscriptionError as exc:
        raise StaffError.like(exc) from None


def find(session: Session, email: str) -> StaffUser | None:
    try:
        address = normalise_email(email)
    except SubscriptionError:
        return None
    return session.scalars(
        select(StaffUser).where(StaffUser.email == address).options(selectinload(StaffUser.grants))
    ).one_or_none()


def get(session: Session, email: str) -> StaffUser:
    user = find(session, email)
    if user is None:
        raise StaffError(
            msg("no staff account {email} (see `outreach staff list`)"),
            email=repr(email.strip()[:254]),
        )
    return user


def principal(user: StaffUser) -> Principal:
    return Principal(user.id, user.email, {g.city: Role(g.role) for g in user.grants})


def needs_totp(user: StaffUser) -> bool:
    """Password sign-in asks for a code: admins, those required to, and anyone enrolled."""
    is_admin = any(g.role == Role.ADMIN for g in user.grants)
    return is_admin or user.totp_required or user.totp_confirmed_at is not None


def _grant_city(role: Role, city: str | None, known: set[str]) -> str:
    if role == Role.ADMIN:
        return ALL_CITIES
    if not city:
        raise StaffError(msg("an editor or approver needs --city (admins have every city)"))
    if city not in known:
        raise StaffError(
            msg("unknown city {city} (known: {known})"),
            city=repr(city[:64]),
            known=", ".join(sorted(known)),
        )
    return city


@dataclass(frozen=True)
class Credentials:
    """What an admin passes on to the person, shown once."""

    email: str
    password: str | None
    created: bool


def add(
    session: Session,
    email: str,
    *,
    role: str,
    city: str | None,
    known_cities: set[str],
    by: str,
    totp_required: bool = False,
    now: datetime | None = None,
) -> Credentials:
    """Create the account, or give an existing one a role in another city.

    A new account gets a random password (returned once); an existing one keeps
    its password, and its role in ``city`` is replaced.
    """
    now = now or datetime.now(UTC)
    chosen = parse_role(role)
    where = _grant_city(chosen, city, known_cities)
    user = find(session, email)
    password = None
    created = user is None
    if user is None:
        password = new_password()
        user = StaffUser(
            email=clean_email(email),
            password_hash=hash_password(password),
            totp_required=totp_required,
            created_at=now,
        )
        session.add(user)
        session.flush()
    elif totp_required:
        user.totp_required = True
    grant = next((g for g in user.grants if g.city == where), None)
    if grant is None:
        user.grants.append(StaffGrant(city=where, role=chosen.value, created_at=now))
    else:
        grant.role = chosen.value
    session.flush()
    audit.record(
        session,
        "staff.add" if created else "staff.grant",
        by,
        city=None if where == ALL_CITIES else where,
        detail={"account": user.email, "role": chosen.value},
        now=now,
    )
    return Credentials(user.email, password, created)


def revoke_sessions(session: Session, user: StaffUser, now: datetime) -> int:
    rows = session.scalars(
        select(StaffSession).where(
            StaffSession.user_id == user.id, StaffSession.revoked_at.is_(None)
        )
    ).all()
    for row in rows:
        row.revoked_at = now
    return len(rows)


def remove_role(
    session: Session, email: str, city: str, *, by: str, now: datetime | None = None
) -> None:
    user = get(session, email)
    grant = next((g for g in user.grants if g.city == city), None)
    if grant is None:
        raise StaffError(
            msg("{email} has no role in {city}"), email=user.email, city=repr(city[:64])
        )
    user.grants.remove(grant)
    audit.record(
        session,
        "staff.revoke",
        by,
        city=None if city == ALL_CITIES else city,
        detail={"account": user.email, "role": grant.role},
        now=now,
    )


def disable(session: Session, email: str, *, by: str, now: datetime | None = None) -> int:
    """Stop the account from signing in and end its sessions; how many ended."""
    now = now or datetime.now(UTC)
    user = get(session, email)
    if user.disabled_at is None:
        user.disabled_at = now
    ended = revoke_sessions(session, user, now)
    audit.record(
        session, "staff.disable", by, detail={"account": user.email, "sessions": ended}, now=now
    )
    return ended


def enable(session: Session, email: str, *, by: str, now: datetime | None = None) -> None:
    user = get(session, email)
    user.disabled_at = None
    audit.record(session, "staff.enable", by, detail={"account": user.email}, now=now)


def reset(
    session: Session,
    email: str,
    *,
    by: str,
    password: bool = True,
    totp: bool = False,
    now: datetime | None = None,
) -> Credentials:
    """A new password (returned once) and/or a new TOTP enrolment at the next sign-in.

    Every session of the account ends.
    """
    now = now or datetime.now(UTC)
    user = get(session, email)
    if user.oidc_provider is not None:
        raise StaffError(
            msg("{email} signs in through {provider}; reset it there"),
            email=user.email,
            provider=user.oidc_provider,
        )
    new = new_password() if password else None
    if new is not None:
        user.password_hash = hash_password(new)
    if totp:
        user.totp_secret = None
        user.totp_confirmed_at = None
        user.totp_last_step = None
    revoke_sessions(session, user, now)
    audit.record(
        session,
        "staff.reset",
        by,
        detail={"account": user.email, "password": password, "totp": totp},
        now=now,
    )
    return Credentials(user.email, new, False)


@dataclass(frozen=True)
class AccountLine:
    email: str
    roles: list[tuple[str, str]]
    second_factor: str  # enrolled | required | none | sso
    disabled: bool
    last_sign_in_at: datetime | None


def list_accounts(session: Session, city: str | None = None) -> list[AccountLine]:
    """Every account (with ``city``: those with a role there, and admins)."""
    users = session.scalars(
        select(StaffUser).options(selectinload(StaffUser.grants)).order_by(StaffUser.email)
    ).all()
    lines = []
    for user in users:
        roles = sorted((g.city, g.role) for g in user.grants)
        if city is not None and not any(c in (city, ALL_CITIES) for c, _ in roles):
            continue
        if user.oidc_provider is not None:
            factor = "sso"
        elif user.totp_confirmed_at is not None:
            factor = "enrolled"
        else:
            factor = "required" if needs_totp(user) else "none"
        lines.append(
            AccountLine(
                user.email, roles, factor, user.disabled_at is not None, user.last_sign_in_at
            )
        )
    return lines
