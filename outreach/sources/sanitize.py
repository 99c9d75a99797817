"""HTML from outside, made safe for email; plain text and summaries from it.

The one owner of the project's sanitiser settings; every stage that turns
outside HTML or Markdown into HTML goes through it. Two allowlists:

- items (:func:`clean_html`): structure and links only: no styles, scripts,
  event handlers, frames, forms or embedded objects; links get
  ``rel="noopener noreferrer"``;
- announcement bodies written by staff in Markdown (:func:`body_html`,
  :func:`clean_body_html`): paragraphs, headings, lists, emphasis, quotes and
  links.

Links may be http, https or mailto in both.
"""

from __future__ import annotations

import html
import re
from typing import Any

import nh3
from markdown_it import MarkdownIt

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

#: What an announcement body may keep after Markdown rendering.
BODY_TAGS: frozenset[str] = frozenset(
    {"p", "h1", "h2", "h3", "ul", "ol", "li", "strong", "em", "a", "br", "blockquote"}
)
BODY_ATTRIBUTES: dict[str, set[str]] = {"a": {"href"}}

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: Markup that makes a text field HTML (a calendar DESCRIPTION from Teams or Zoom):
#: a known element's tag, not any ``<...>`` (``<ilmasto@vantaa.fi>`` is an address).
_HTML_HINT = re.compile(
    r"(?i)<(/?(p|div|br|span|a|b|i|u|em|strong|ul|ol|li|table|tr|td|h[1-6]|font|html|body)"
    r"\b[^<>]*|!--)>"
)
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


_body_markdown = MarkdownIt("commonmark", {"html": True})
_plain_markdown = MarkdownIt("commonmark", {"html": False})


def clean_body_html(value: str) -> str:
    """An announcement body reduced to :data:`BODY_TAGS` and safe links."""
    return nh3.clean(
        value,
        tags=set(BODY_TAGS),
        attributes={k: set(v) for k, v in BODY_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel=None,
    )


def body_html(markdown: str) -> str:
    """An announcement's Markdown as HTML, sanitised to :data:`BODY_TAGS`."""
    return clean_body_html(_body_markdown.render(markdown)).strip()


def markdown_html(text: str) -> str:
    """Markdown to HTML with raw HTML disabled (a story's text; items are sanitised too)."""
    return str(_plain_markdown.render(text))


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
    """The text of an HTML fragment on one line (titles a source gives as HTML)."""
    return " ".join(to_text(value).split())


def plain_line(value: str) -> str:
    """Plain text on one line: spaces tidied, control characters dropped.

    For text that is already text (a decoded title, a place, a price): nothing in
    it is read as markup or entities again, so ``kysy <ilmasto@vantaa.fi>`` and
    ``R&amp;D`` stay as they are; templates escape them when they print them.
    """
    return " ".join(_CONTROL.sub(" ", value or "").split())


def looks_like_html(value: str) -> bool:
    """Whether a text field carries HTML markup (known tags), not just angle brackets."""
    return bool(value) and _HTML_HINT.search(value) is not None


def text_to_html(value: str) -> str:
    """Plain text as HTML: escaped, line breaks kept."""
    return html.escape(value).replace("\r\n", "\n").replace("\n", "<br>")


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
