"""Staff of the cities: accounts, roles, sessions, sign-in, audit log, single sign-on.

The stage under the staff console (``outreach.web.staff``) and the ``outreach
staff`` / ``outreach audit`` commands; both call these functions, neither
writes SQL. See docs/staff.md.

    policy     roles, permissions, Principal.can: the one authorisation test
    secrets    argon2id passwords, TOTP codes, random credentials
    accounts   add, list, disable, reset; a person's Principal
    sessions   server-side sessions with idle and absolute timeouts
    throttle   progressive delay of failed sign-ins per account and address
    signin     the password and second-factor steps
    oidc       OpenID Connect sign-in and the claim → role mapping
    audit      the append-only audit log
    dashboard  a city's overview for the console
    workflow   the issue workflow: approve, tests, send, pause, cancel, discard
    drafts     editing a draft, scheduling its send, running its check
    moderation the company-story queue: edit, approve, reject with a reason, feature
    authoring  console campaigns and sources, audited (create, edit, pause, fetch now)
"""

from outreach.staff import (
    accounts,
    audit,
    authoring,
    drafts,
    issue_view,
    moderation,
    oidc,
    people,
    sessions,
    signin,
    workflow,
)
from outreach.staff.dashboard import campaign_cities, city_dashboard, left_out
from outreach.staff.policy import Permission
from outreach.staff.sessions import Current
from outreach.staff.workflow import Actor

__all__ = [
    "Actor",
    "Current",
    "Permission",
    "accounts",
    "audit",
    "authoring",
    "campaign_cities",
    "city_dashboard",
    "drafts",
    "issue_view",
    "left_out",
    "moderation",
    "oidc",
    "people",
    "sessions",
    "signin",
    "workflow",
]
