"""Where the console's subscriber forms (add, edit) go wrong, field by field.

A refused addition or edit is shown again with what was typed
(:mod:`outreach.web.staff.form_refused`); here each refusal gets the element id
of the field it is about, in the add form (``n-…``) or the edit form (``e-…``).
"""

from __future__ import annotations

from typing import Any

from outreach.errors import SubscriptionError
from outreach.subscriptions import DETAIL_FIELDS
from outreach.validation import normalise_email, validate_business_id

#: The field a refusal code is about (the others: the field its message names).
CODE_FIELDS = {"email": "email", "business-id": "business_id", "consent": "consent_note"}
#: (words of the stage's message, the field it is about), for an ``invalid`` refusal.
MESSAGE_FIELDS = (
    ("industry code", "industry_code"), ("size class", "size_class"), ("topic", "topics"),
    ("company name", "company_name"), ("contact name", "contact_name"), ("language", "language"),
)  # fmt: skip
#: The element ids of the add form's fields and of the edit form's.
NEW_IDS = {"email": "n-email", "company_name": "n-company", "business_id": "n-bid",
           "contact_name": "n-name", "industry_code": "n-industry", "language": "n-language",
           "size_class": "n-size", "topics": "n-topics", "confirmed": "n-confirmed",
           "consent_note": "n-note"}  # fmt: skip
EDIT_IDS = {name: f"e-{name}" for name in (*DETAIL_FIELDS, "topics", "visit", "cooperation")}
EDIT_IDS |= {"size_class": "e-size"}


def refused_fields(
    code: str | None, message: str, given: dict[str, Any], ids: dict[str, str]
) -> list[tuple[str | None, str]]:
    """Where a refused addition or edit goes wrong: (element id or None, code), from the
    refusal's ``code`` and the stage's ``message``. The address and the business ID are
    checked on their own as well (as the public form does), so a bad one of each is
    shown at once. ``code`` None: the address is suppressed."""
    found: list[tuple[str | None, str]] = []
    if "email" in given:
        try:
            normalise_email(given["email"] or "")
        except SubscriptionError:
            found.append((ids["email"], "email"))
    if (given.get("business_id") or "").strip():
        try:
            validate_business_id(given["business_id"])
        except SubscriptionError:
            found.append((ids["business_id"], "business-id"))
    if code is None:
        return [*found, (None, "suppressed")]
    field = CODE_FIELDS.get(code) or next((f for w, f in MESSAGE_FIELDS if w in message), None)
    return [*found, (ids.get(field or ""), code)]
