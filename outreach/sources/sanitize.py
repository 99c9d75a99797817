"""HTML from outside, made safe for email; plain text and summaries from it.

The allowlist keeps structure and links only: no styles, scripts, event
handlers, frames, forms or embedded objects; links may be http, https or
mailto and get ``rel="noopener noreferrer"``.
"""

from __future__ import annotations

import html
import re
from typing import Any

import nh3

TAGS: frozenset[str] = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "cite", "code", "dd", "del", "div", "dl",
        "dt", "em", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "li", "ol",
        "p", "pre", "q", "s", "small", "span", "strong", "sub", "sup", "table", "tbody",
        "td", "tfoot", "th", "thead", "tr", "u", "ul",
    }
)  # fmt: skip
ATTRIBUTES: dict[str, set[str]] = {
    "a": {"href", "title"},
    "img": {"src", "alt", "width", "height", "title"},
    "abbr": {"title"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
    "ol": {"start"},
}
URL_SCHEMES: frozenset[str] = frozenset({"http", "https", "mailto"})
#: Elements dropped with everything inside them (not just their tags).
DROP_WITH_CONTENT: frozenset[str] = frozenset(
    {"script", "style", "iframe", "object", "embed", "applet", "form", "frame", "frameset",
     "noscript", "template", "svg", "math", "title", "head", "select", "textarea", "button"}
)  # fmt: skip

_BLOCK = re.compile(r"(?i)</?(p|div|br|li|tr|h[1-6]|blockquote|pre|ul|ol|table|dd|dt)\b[^>]*>")
_SPACE = re.compile(r"[ \t\r\f\v\u00a0]+")
_LINES = re.compile(r"\s*\n\s*")


def clean_html(value: str, base_url: str | None = None) -> str:
    """``value`` reduced to the email allowlist (safe to put in a template unescaped).

    Relative links are resolved against ``base_url`` (an http(s) URL), else dropped.
    """
    if not value:
        return ""
    relative: Any = ("rewrite_with_base", base_url) if base_url else "deny"
    return nh3.clean(
        value,
        tags=set(TAGS),
        clean_content_tags=set(DROP_WITH_CONTENT),
        attributes={k: set(v) for k, v in ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer",
        strip_comments=True,
        url_relative=relative,
    ).strip()


def to_text(value: str) -> str:
    """Plain text of ``value`` (HTML or text): no markup, entities decoded, spaces tidied."""
    if not value:
        return ""
    if "<" in value or "&" in value:
        marked = _BLOCK.sub("\n", value)
        stripped = nh3.clean(marked, tags=set(), clean_content_tags=set(DROP_WITH_CONTENT))
        value = html.unescape(stripped)
    value = _SPACE.sub(" ", value)
    return _LINES.sub("\n", value).strip()


def one_line(value: str) -> str:
    """Plain text on one line (titles)."""
    return " ".join(to_text(value).split())


def summarise(text: str, limit: int = 300) -> str:
    """``text`` cut at a word boundary to at most ``limit`` characters, with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: max(1, limit - 1)]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-–—") + "…"
