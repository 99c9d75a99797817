"""Telling a city's approvers that an approved issue was held (or changed), or that an
``approval: auto`` issue was not approved for errors in its pre-flight check.

The issues stage holds an approved issue when items are cancelled at their
source before the send (:mod:`outreach.issues.hold`); this module mails the
city's ``approvers`` (``campaigns/cities.yaml``) through the transactional
mail path, in the city's first language. A city without approvers gets a
warning in the log; ``outreach status`` and ``outreach issue show`` show held
issues either way.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from outreach.campaigns import Config
from outreach.delivery.transactional import send_mail
from outreach.errors import OutreachError
from outreach.issues import HoldNotice
from outreach.l10n import gettext_for
from outreach.settings import Settings
from outreach.transactional import TransactionalMail

log = logging.getLogger(__name__)

__all__ = ["tell_approvers"]


def tell_approvers(settings: Settings, config: Config, notices: Iterable[HoldNotice]) -> int:
    """Mail each notice to its city's approvers; returns how many messages went out.

    A failure to mail is logged, never raised: the issue is held either way.
    """
    sent = 0
    for notice in notices:
        city = config.cities.get(notice.city)
        if city is None or not city.approvers:
            log.warning(
                "%s; no approvers to tell (add `approvers:` to city %s in cities.yaml)",
                notice.line(),
                notice.city,
            )
            continue
        lang = city.languages[0]
        ref = f"{notice.campaign}/{notice.period}"
        heads = {
            "held": "Issue held: %(ref)s",
            "refused": "Issue not approved automatically: %(ref)s",
        }
        head = heads.get(notice.action, "Cancelled items marked: %(ref)s")
        subject = gettext_for(lang, "email", head) % {"ref": ref}
        context = {
            "ref": ref,
            "action": notice.action,
            "titles": notice.titles,
            "build_command": f"outreach issue build {notice.campaign} --period {notice.period}",
            "approve_command": f"outreach issue approve {notice.issue_id}",
            "check_command": f"outreach issue check {notice.issue_id}",
        }
        try:
            for to in city.approvers:
                mail = TransactionalMail("held", city.slug, to, lang, subject, context)
                result = send_mail(settings, config, mail)
                if result.ok:
                    sent += 1
                else:
                    log.warning("telling %s about issue %s failed: %s", to, notice.issue_id, result)
        except OutreachError as exc:
            log.warning("telling the approvers about issue %s failed: %s", notice.issue_id, exc)
    return sent
