"""A console form refused for what was typed: its page again, the values kept.

When the stage refuses a form's input (a bad address, a summary over 2,000
characters, a translation without its text …), the answer is the form's page
again with status 422, not a redirect that would empty it, as the campaign
editor and the public sign-up form answer: every value typed is kept (never a
password), and each refusal is shown beside its field (``aria-invalid``,
``aria-describedby``) and in the list at the top with a link to the field
(``staff/_form_refused.html``). The page words each refusal code, as it does for the
codes of a redirect (``?refused=``); here each code gets the element id of the
field it is about, or none when it is about the whole form.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

#: The status of a page shown again with the refused input.
STATUS = 422


def shown_again(
    problems: Iterable[tuple[str | None, str]],
    typed: Mapping[str, Any],
    detail: str = "",
) -> dict[str, Any]:
    """The page's context for refused input: ``problems`` ((element id or None, code)
    in the order found, each once), ``typed`` (the values by element id) and ``detail``
    (what a sentence names, such as the address that is not one)."""
    return {"problems": list(dict.fromkeys(problems)), "typed": dict(typed), "detail": detail}


def at(code: str, fields: Mapping[str, str]) -> list[tuple[str | None, str]]:
    """The one problem of a refusal ``code``, at the field ``fields`` names for it."""
    return [(fields.get(code), code)]
