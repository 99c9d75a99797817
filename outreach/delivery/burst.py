"""Pausing a send after a burst of policy refusals, and telling the city's approvers.

``send_issue`` calls :func:`pause_for_burst` once its workers have stopped
(:mod:`outreach.delivery.policy` found the burst). It pauses the issue as
``outreach issue pause`` does (only a ``sending`` issue pauses; a send
paused or cancelled meanwhile stays so), makes the refused rows due again
at once for the resumed send, records a ``paused`` event with the reason in
the issue's history, and mails every approver of the city: the
``approvers`` of ``campaigns/cities.yaml`` and the console's staff with the
approver role in the city or the admin role, in the city's first language.
A mail that fails is logged; the send is paused either way.
"""

from __future__ import annotations

import logging

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from outreach.campaigns import Config
from outreach.db import get_engine
from outreach.delivery.outbox import DELIVERIES, pause_issue
from outreach.delivery.policy import PolicyBurst
from outreach.delivery.transactional import send_mail
from outreach.errors import IssueError, OutreachError
from outreach.issues import record_event
from outreach.l10n import format_decimal, gettext_for
from outreach.models import DeliveryStatus, Issue, StaffGrant, StaffUser
from outreach.settings import Settings
from outreach.transactional import TransactionalMail

log = logging.getLogger(__name__)

ACTOR = "delivery"


def approver_addresses(session: Session, config: Config, city: str) -> list[str]:
    """Who approves ``city``'s issues: cities.yaml ``approvers`` and the console's
    enabled approvers of the city and admins, each address once, in that order."""
    staff = session.scalars(
        select(StaffUser.email)
        .join(StaffGrant, StaffGrant.user_id == StaffUser.id)
        .where(
            StaffUser.disabled_at.is_(None),
            or_(
                (StaffGrant.city == city) & (StaffGrant.role == "approver"),
                StaffGrant.role == "admin",
            ),
        )
        .order_by(StaffUser.email)
    ).all()
    configured = config.cities[city].approvers if city in config.cities else []
    seen: dict[str, None] = {}
    for address in [*configured, *staff]:
        seen.setdefault(address.lower(), None)
    return list(seen)


def pause_for_burst(settings: Settings, config: Config, issue_id: int, burst: PolicyBurst) -> bool:
    """Pause the issue for ``burst`` and tell its city's approvers; False if it was
    no longer sending (paused or cancelled by someone meanwhile: nothing to do)."""
    with Session(get_engine(settings)) as session:
        issue = session.get(Issue, issue_id)
        if issue is None:
            return False
        try:
            pause_issue(session, issue_id)
        except IssueError:
            return False
        d = DELIVERIES.c
        if burst.delivery_ids:
            session.execute(
                update(DELIVERIES)
                .where(
                    d.id.in_(list(burst.delivery_ids)),
                    d.status == DeliveryStatus.PENDING,
                )
                .values(next_attempt_at=None)
            )
        record_event(session, issue, "paused", by=ACTOR, detail=burst.reason())
        session.commit()
        campaign = config.campaign(issue.campaign.slug)
        city = config.cities[campaign.city]
        addresses = approver_addresses(session, config, city.slug)
        ref = f"{campaign.slug}/{issue.period}"
    if not addresses:
        log.warning("issue %s paused: %s; no approvers to tell", issue_id, burst.reason())
        return True
    lang = city.languages[0]
    subject = gettext_for(lang, "email", "Sending paused: %(ref)s") % {"ref": ref}
    context = {
        "ref": ref,
        "provider": burst.provider,
        "refusals": burst.refusals,
        "seconds": format_decimal(burst.window_seconds, lang, None),
        "reply": burst.reply[:300],
        "resume_command": f"outreach issue resume {issue_id}",
        "send_command": f"outreach issue send {issue_id}",
    }
    for to in addresses:
        mail = TransactionalMail("policy_pause", city.slug, to, lang, subject, context)
        try:
            result = send_mail(settings, config, mail)
        except OutreachError as exc:
            log.warning("telling %s about paused issue %s failed: %s", to, issue_id, exc)
            continue
        if result.ok:
            burst.told += 1
        else:
            log.warning("telling %s about paused issue %s failed: %s", to, issue_id, result)
    return True
