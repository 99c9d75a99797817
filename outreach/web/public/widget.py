"""The stories widget: a page for an iframe on the city's own site, and the same list as
an HTML fragment without script or style for a CMS's server-side include.

The iframe page is sized to its content. It carries one inline script, allowed by
the page's CSP through its sha256 digest (never ``'unsafe-inline'``), that posts
``{"type": "outreach-widget-height", "height": <px>}`` to the parent window on load
and whenever the page's size changes (``ResizeObserver``), addressed to each of the
city's ``embed_origins`` in turn (a target origin, never ``"*"``), so no other site
hears it; a site not listed cannot frame the page anyway (``frame-ancestors``). The
script reads nothing but the page's own height and stores nothing; a city without
``embed_origins`` gets no script. Without JavaScript the page is the same, and the
host page's iframe keeps the default height :func:`default_height` gives for its
``limit``. The host side listens with :func:`embed_code`'s snippet (docs/public.md).
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Mapping

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from outreach.publish import published_stories
from outreach.web.common import state
from outreach.web.public.showcase import card, stories_data_version
from outreach.web.public.site import (
    cached,
    embed_origins,
    frame_headers,
    known_city,
    page_bytes,
    site,
)

router = APIRouter()

#: What the widget page posts to its parent: ``{"type": HEIGHT_MESSAGE, "height": px}``.
HEIGHT_MESSAGE = "outreach-widget-height"
#: Stories the widget shows unless ``?limit=`` says otherwise, and at most.
DEFAULT_LIMIT = 3
MAX_LIMIT = 10

#: The widget page's one script (ES5, so that an old browser parses it too).
HEIGHT_SCRIPT = (
    "(function () {\n"
    "  var me = document.currentScript, parent = window.parent;\n"
    "  if (!me || parent === window) return;\n"
    "  var ancestors = window.location.ancestorOrigins;\n"
    "  var framer = ancestors && ancestors.length ? ancestors[0] : null;\n"
    '  var origins = (me.getAttribute("data-origins") || "").split(" ").filter(function (o) {\n'
    "    try { return !!o && (!framer || new URL(o).origin === framer); }\n"
    "    catch (e) { return false; }\n"
    "  });\n"
    "  if (!origins.length) return;\n"
    "  function send() {\n"
    "    var height = Math.ceil(document.documentElement.getBoundingClientRect().height);\n"
    "    origins.forEach(function (origin) {\n"
    f'      parent.postMessage({{type: "{HEIGHT_MESSAGE}", height: height}}, origin);\n'
    "    });\n"
    "  }\n"
    '  window.addEventListener("load", send);\n'
    "  if (window.ResizeObserver) new ResizeObserver(send).observe(document.documentElement);\n"
    "})();\n"
)
#: The script's digest as the CSP names it (``'sha256-…'``).
HEIGHT_SCRIPT_HASH = base64.b64encode(hashlib.sha256(HEIGHT_SCRIPT.encode()).digest()).decode()


def default_height(limit: int) -> int:
    """The iframe's height in pixels for ``limit`` stories, for a host page without the
    snippet: room for stories with a long title and a full summary, marked as not
    translated, in a frame 800 pixels wide (narrower frames scroll)."""
    return 120 + 230 * max(1, min(limit, MAX_LIMIT))


def embed_code(base_url: str, city: str, *, limit: int, lang: str, title: str) -> str:
    """The HTML a city puts on its page: the iframe (at :func:`default_height`) and the
    script that sets its height from the widget's messages, trusting only ``base_url``."""
    frame_id = f"outreach-stories-{city}"
    src = f"{base_url}/{city}/embed/stories?limit={limit}&lang={lang}"
    return (
        f'<iframe id="{frame_id}" src="{html.escape(src)}"\n'
        f'        title="{html.escape(title)}" width="100%" height="{default_height(limit)}">'
        "</iframe>\n"
        "<script>\n"
        'window.addEventListener("message", function (event) {\n'
        f'  var frame = document.getElementById("{frame_id}");\n'
        f'  if (event.origin !== "{base_url}" || !frame || event.source !== frame.contentWindow)'
        " return;\n"
        "  var data = event.data;\n"
        f'  if (!data || data.type !== "{HEIGHT_MESSAGE}" || typeof data.height !== "number")'
        " return;\n"
        '  frame.style.boxSizing = "content-box";\n'
        '  frame.style.height = Math.max(1, Math.ceil(data.height)) + "px";\n'
        "});\n"
        "</script>\n"
    )


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit", str(DEFAULT_LIMIT))
    return int(raw) if raw.isdigit() and 1 <= int(raw) <= MAX_LIMIT else DEFAULT_LIMIT


@router.get("/{city}/embed/stories", response_class=HTMLResponse)
def widget_page(request: Request, city: str) -> Response:
    """The widget as a page for an iframe: framed only by the city's ``embed_origins``,
    whom it tells its height."""
    known_city(request, city)
    origins = embed_origins(request, city)
    hashes = [HEIGHT_SCRIPT_HASH] if origins else []
    script = Markup(HEIGHT_SCRIPT) if origins else None  # noqa: S704 (a constant)
    headers = frame_headers(request, city, script_hashes=hashes)
    extra = {"height_script": script, "script_origins": " ".join(origins)}
    return _widget_answer(request, city, "widget.html", headers, extra)


@router.get("/{city}/embed/stories.html", response_class=HTMLResponse)
def widget_snippet(request: Request, city: str) -> Response:
    """The widget as an HTML fragment without script or style, for a server-side include."""
    known_city(request, city)
    headers = {"X-Content-Type-Options": "nosniff", "Access-Control-Allow-Origin": "*"}
    return _widget_answer(request, city, "widget_snippet.html", headers, {})


def _widget_answer(
    request: Request,
    city: str,
    template: str,
    headers: dict[str, str],
    extra: Mapping[str, object],
) -> Response:
    cfg = state(request).config.cities[city]
    asked = request.query_params.get("lang", "")
    lang = asked if asked in ("fi", "sv", "en") else str(cfg.languages[0])
    limit = _limit(request)
    version = stories_data_version(request, city)

    def make() -> bytes:
        with state(request).session() as session:
            found = published_stories(session, city, lang, limit=limit)
        ctx = {
            "site": site(request, city, lang),
            "cards": [card(s, lang, cfg.tz) for s in found],
            "base": state(request).settings.base_url_clean,
            "embed": True,
            **extra,
        }
        return page_bytes(request, template, ctx, lang)

    key = (template, city, lang, limit, version, tuple(sorted(extra.items(), key=str)))
    return cached(request, key, make, media_type="text/html", headers=headers)
