"""Who may do what in which city: the one place the console's authorisation lives.

A person holds at most one role per city (``editor``, ``approver``) or the
``admin`` role, which covers every city (:data:`ALL_CITIES`). Each role is a set of
:class:`Permission`; a route of the console declares the permission it needs and
whether the city comes from its path (``outreach.web.staff.guard``), and
:meth:`Principal.can` is the only test made.

    editor    view, edit            (drafts, stories, sources of the city)
    approver  view, edit, approve   (and the city's audit log)
    admin     everything, every city (staff accounts, the whole audit log)
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

ALL_CITIES = "*"


class Role(enum.StrEnum):
    EDITOR = "editor"
    APPROVER = "approver"
    ADMIN = "admin"


class Permission(enum.StrEnum):
    VIEW = "view"  # dashboards, issues, stories of the city
    EDIT = "edit"  # drafts, items, stories, sources
    APPROVE = "approve"  # approve, schedule, send, pause, cancel
    AUDIT = "audit"  # the city's audit log
    ADMIN = "admin"  # staff accounts; the audit log of every city


ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = {
    Role.EDITOR: frozenset({Permission.VIEW, Permission.EDIT}),
    Role.APPROVER: frozenset(
        {Permission.VIEW, Permission.EDIT, Permission.APPROVE, Permission.AUDIT}
    ),
    Role.ADMIN: frozenset(Permission),
}


@dataclass(frozen=True)
class Principal:
    """A signed-in person and their roles, city slug → role (``*``: admin)."""

    user_id: int
    email: str
    grants: Mapping[str, Role] = field(default_factory=dict)

    @property
    def is_admin(self) -> bool:
        return self.grants.get(ALL_CITIES) == Role.ADMIN

    def role_in(self, city: str) -> Role | None:
        """The role that counts in ``city``: admin anywhere, else the city's own."""
        if self.is_admin:
            return Role.ADMIN
        return self.grants.get(city) if city != ALL_CITIES else None

    def can(self, permission: Permission, city: str | None = None) -> bool:
        """Whether the person may ``permission`` in ``city`` (None: across every city)."""
        if city is None:
            return self.is_admin and permission in ROLE_PERMISSIONS[Role.ADMIN]
        role = self.role_in(city)
        return role is not None and permission in ROLE_PERMISSIONS[role]

    def sees(self, city: str) -> bool:
        """Whether ``city`` exists for this person at all (any role in it)."""
        return self.role_in(city) is not None

    def cities(self, known: Iterable[str]) -> list[str]:
        """The ``known`` cities this person has a role in, in the given order."""
        return [slug for slug in known if self.sees(slug)]


def parse_role(value: str) -> Role:
    from outreach.errors import StaffError

    try:
        return Role(value)
    except ValueError:
        raise StaffError(
            f"unknown role {value[:20]!r} (expected editor, approver or admin)"
        ) from None
