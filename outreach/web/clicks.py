"""``/l/<id>``: a counted link in an issue's e-mail answers with its stored URL.

The redirect goes only to the URL stored for the link when the issue was
built (:func:`outreach.stats.follow`); a forged or unknown id is a 404. A HEAD,
or a prefetch, gets the same answer and is never counted. See docs/stats.md.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response

from outreach.linkids import LinkSigner
from outreach.stats import PURPOSE_HEADERS, ClickRequest, Links, follow
from outreach.web.common import PageError, state

router = APIRouter()


def _signer(request: Request) -> LinkSigner:
    signer = getattr(request.app.state, "link_signer", None)
    if signer is None:
        signer = request.app.state.link_signer = LinkSigner(state(request).settings.secret())
    return signer


def _links(request: Request) -> Links:
    links = getattr(request.app.state, "counted_links", None)
    if links is None:
        links = request.app.state.counted_links = Links()
    return links


@router.api_route("/l/{link_id}", methods=["GET", "HEAD"])
def counted_link(request: Request, link_id: str) -> Response:
    st = state(request)
    clock = getattr(request.app.state, "staff_clock", None)
    now = clock() if clock is not None else datetime.now(UTC)
    seen = ClickRequest(
        method=request.method,
        user_agent=request.headers.get("user-agent", ""),
        client=request.client.host if request.client else None,
        purpose=" ".join(request.headers.get(name, "") for name in PURPOSE_HEADERS).strip(),
    )
    with st.session() as session:
        url = follow(
            session, _signer(request), st.settings.secret(), link_id, seen, now, _links(request)
        )
    if url is None:
        raise PageError(404, "This link does not work", "There is no such link.")
    return Response(
        status_code=302,
        headers={
            "Location": url,
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
        },
    )
