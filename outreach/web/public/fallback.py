"""What the emailed links show while the campaign files are broken.

Confirm, unsubscribe and preferences links need only the database and the
secret key, so they keep working whatever ``campaigns/`` holds: a city's name
comes from its database row when the files do not have it, and the
preferences page, which offers the cities and topics of ``cities.yaml``, says
it cannot be changed just now and links to unsubscribing.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response

from outreach.campaigns import regular_genitive
from outreach.errors import InvalidTokenError
from outreach.l10n import LANGUAGES
from outreach.subscriptions import city_texts, link, load_token
from outreach.web.common import invalid_link, page_lang, render, state


def city_label(request: Request, ctx: dict[str, Any], lang: str) -> dict[str, str]:
    """``ctx["city"]``'s name in ``lang`` for page texts (``city_name``, ``city_gen``):
    from the campaign files, else from ``ctx["city_names"]`` (the database row's names),
    and ``place_kind``, which only the files know (else ``city``)."""
    config = state(request).config
    if ctx["city"] in config.cities:
        return city_texts(config, ctx["city"], lang)
    names: dict[str, str] = ctx.get("city_names") or {}
    name = names.get(lang) or next(iter(names.values()), ctx["city"])
    return {"city_name": name, "city_gen": regular_genitive(name, lang), "place_kind": "city"}


def preferences_closed(request: Request, token: str, *, status: int = 200) -> Response | None:
    """The page shown instead of the preferences form while ``cities.yaml`` is broken,
    or while the entry of a city the address subscribes to has an error (the form
    would leave that city out, and saving it would end the subscription); None when
    the form can be shown."""
    st = state(request)
    if st.config.cities_ok and not st.config.left_out:
        return None
    with st.session() as session:
        try:
            sub = load_token(session, st.settings, token, "preferences")
        except InvalidTokenError:
            raise invalid_link() from None
        if st.config.cities_ok and all(
            st.config.city_ok(s.city.slug) for s in sub.subscriber.subscriptions
        ):
            return None
        own = sub.subscriber.language
        asked = request.query_params.get("lang") in LANGUAGES
        lang = own if own in LANGUAGES and not asked else page_lang(request)
        ctx = {
            "email": sub.subscriber.email,
            "unsubscribe_url": link(st.settings, sub, "unsubscribe"),
        }
    return render(request, "preferences_closed.html", ctx, lang=lang, status=status)
