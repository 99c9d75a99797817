"""What every public page of a city shows (its name, logo, colour, privacy notice and
accessibility statement), the city's stylesheet, and cached answers with ETags."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from outreach.l10n import LANGUAGES
from outreach.subscriptions import city_texts
from outreach.web.common import PageError, city_files_broken, page_lang, render, state, translators
from outreach.web.security import security_headers

router = APIRouter()


def site(request: Request, city: str, lang: str) -> dict[str, Any]:
    """The city's look and links for ``base.html``."""
    cfg = state(request).config.cities[city]
    return {
        "slug": city,
        **city_texts(state(request).config, city, lang),
        "color": cfg.branding.color,
        "logo_url": cfg.branding.logo_url,
        "logo_width": cfg.branding.logo_width,
        "logo_height": cfg.branding.logo_height,
        "privacy_url": cfg.privacy_url,
        "website": cfg.footer.website,
        "signup": cfg.signup_form,
    }


def known_city(request: Request, city: str) -> None:
    """A city of ``cities.yaml``; while the file cannot be read, 503 (the page is away
    for now, not gone), else 404 for a slug that names no city."""
    config = state(request).config
    if not config.city_ok(city):
        raise city_files_broken()
    if city not in config.cities:
        raise PageError(404, "Page not found", "There is no such page.")


class AnswerCache:
    """Rendered answers by key (bounded, thread-safe); a key holds the data's version."""

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self._items: OrderedDict[tuple[Any, ...], tuple[str, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...], make: Callable[[], bytes]) -> tuple[str, bytes]:
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                return hit
        body = make()
        etag = '"' + hashlib.sha256(body).hexdigest()[:24] + '"'
        with self._lock:
            self._items[key] = (etag, body)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return etag, body


CACHE = AnswerCache()


def cached(
    request: Request,
    key: tuple[Any, ...],
    make: Callable[[], bytes],
    *,
    media_type: str,
    headers: dict[str, str],
    max_age: int = 300,
) -> Response:
    """The answer for ``key`` from the cache, 304 when the client's ETag matches."""
    etag, body = CACHE.get(key, make)
    out = {
        **headers,
        "ETag": etag,
        "Cache-Control": f"public, max-age={max_age}",
        "Vary": "Accept-Language",
    }
    asked = request.headers.get("if-none-match", "")
    if etag in {tag.strip() for tag in asked.split(",")} or asked.strip() == "*":
        return Response(status_code=304, headers=out)
    return Response(body, media_type=media_type, headers=out)


def page_bytes(request: Request, name: str, ctx: dict[str, Any], lang: str) -> bytes:
    """A template rendered without a CSRF cookie (a page with no form), as bytes."""

    template = state(request).templates.env.get_template(name)
    full = {
        **translators(lang),
        "lang": lang,
        "languages": LANGUAGES,
        "path": request.url.path,
        **ctx,
    }
    full.setdefault("embed", False)
    return template.render(full).encode()


def embed_origins(request: Request, city: str) -> list[str]:
    """The sites that may frame the city's widget and sign-up form (``embed_origins``
    in ``cities.yaml``); none for an unknown city."""
    cfg = state(request).config.cities.get(city)
    return list(cfg.embed_origins) if cfg is not None and cfg.embed_origins else []


def frame_headers(request: Request, city: str, script_hashes: Sequence[str] = ()) -> dict[str, str]:
    """Security headers of a page the city's own sites may frame (``embed_origins``);
    scripts: none, or the inline ones with the sha256 digests ``script_hashes``."""
    headers = security_headers(
        frameable=True, ancestors=embed_origins(request, city), script_hashes=script_hashes
    )
    headers.pop("Cache-Control", None)
    return headers


@router.get("/{city}/theme.css")
def theme(request: Request, city: str) -> Response:
    """The city's colour for the public pages (a stylesheet: no inline styles)."""
    known_city(request, city)
    colour = state(request).config.cities[city].branding.color
    css = (
        f":root {{ --city: {colour}; }}\n"
        "a { color: var(--city); }\n"
        "button, .band { background: var(--city); color: #fff; }\n"
        ".band a { color: #fff; }\n"
    )
    return Response(
        css,
        media_type="text/css",
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


@router.get("/{city}/accessibility", response_class=HTMLResponse)
def accessibility(request: Request, city: str) -> Response:
    """The accessibility statement of the city's public pages (Act 306/2019)."""
    known_city(request, city)
    lang = page_lang(request)
    cfg = state(request).config.cities[city]
    statement = cfg.accessibility
    issues: dict[str, str] = (
        {str(k): v for k, v in statement.known_issues.items()} if statement else {}
    )
    ctx = {
        "site": site(request, city, lang),
        "statement": statement,
        "known_issues": issues.get(lang) or next(iter(issues.values()), ""),
    }
    return render(request, "accessibility.html", ctx, lang=lang, csrf=False)
