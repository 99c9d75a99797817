"""What a transactional mail is: one message to one address, from an email template.

A stage that needs such a mail sent (a confirmation, a data-export link, a
notice to a city's approvers) describes it with a :class:`TransactionalMail`;
the delivery stage renders and sends it
(:func:`outreach.delivery.transactional.send_mail`). This module sits below
both, so the one that says what to send never imports the one that sends.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TransactionalMail:
    """One message: the ``template`` (an email template of the render stage)
    rendered in ``lang`` with ``context``, from ``city_slug``'s sender to ``to``.

    ``what`` names the mail in errors and logs ("confirmation mail").
    """

    template: str
    city_slug: str
    to: str
    lang: str
    subject: str
    context: Mapping[str, Any] = field(default_factory=dict)
    what: str = "mail"
