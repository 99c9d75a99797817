"""HTML from outside, made safe for email; plain text and summaries from it.

The one owner of the project's sanitiser settings; every stage that turns
outside HTML or Markdown into HTML goes through it. Two allowlists:

- items (:func:`clean_html`): structure and links only: no styles, scripts,
  event handlers, frames, forms or embedded objects; links get
  ``rel="noopener noreferrer"``;
- announcement bodies written by staff in Markdown (:func:`body_html`,
  :func:`clean_body_html`): paragraphs, headings, lists, emphasis, quotes and
  links.

Links may be http, https or mailto in both. Plain text is always made from the
sanitised HTML, never from what was written (:func:`to_text` for summaries,
:func:`html_as_text` for an e-mail's plain-text part), so a tag the HTML loses
is lost in the text too.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
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
    """An announcement body reduced to :data:`BODY_TAGS` and safe links (scripts,
    styles and the other :data:`DROP_WITH_CONTENT` elements with their content)."""
    return nh3.clean(
        value,
        tags=set(BODY_TAGS),
        clean_content_tags=set(DROP_WITH_CONTENT),
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


_BLOCKS = frozenset(
    {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "table", "tr", "dl", "dt", "dd"}
)
_MARKS = {"strong": "**", "b": "**", "em": "*", "i": "*"}


class _TextPart(HTMLParser):
    """Sanitised HTML written out as the light Markdown of a plain-text part."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[str, bool]] = []  # (text, a list item)
        self.inline: list[str] = []
        self.open: list[tuple[str, int, str]] = []  # (tag, where its text starts, href)
        self.lists: list[list[int]] = []  # per open list: [next number], or [] if bulleted
        self.marker = ""  # the heading's or list item's mark, for the next block
        self.quote = 0

    def flush(self) -> None:
        text, self.inline, self.open = "".join(self.inline), [], []
        lines = [" ".join(line.split()) for line in text.split("\n")]
        lines = [line for line in lines if line]
        if not lines:  # a list item's mark waits for its text (``<li><p>…``)
            self.marker = self.marker if self.marker[:1] not in ("", "#") else ""
            return
        marker, self.marker = self.marker, ""
        item = bool(marker) and marker[0] != "#"
        # a list item's lines hang under its text, as does a later paragraph of it
        indent = "  " * (len(self.lists) - 1 if item else len(self.lists))
        hang = indent + " " * len(marker) if item else indent
        out = [indent + marker + lines[0], *(hang + line for line in lines[1:])]
        quote = "> " * self.quote
        self.blocks.append(("\n".join(quote + line for line in out), item))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCKS or tag in ("blockquote", "ul", "ol", "li"):
            self.flush()
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self.marker = "#" * int(tag[1]) + " "
        elif tag == "blockquote":
            self.quote += 1
        elif tag in ("ul", "ol"):
            self.lists.append([1] if tag == "ol" else [])
        elif tag == "li":
            numbers = self.lists[-1] if self.lists else []
            self.marker = f"{numbers[0]}. " if numbers else "- "
            if numbers:
                numbers[0] += 1
        elif tag == "br":
            self.inline.append("\n")
        elif tag in ("td", "th"):
            self.inline.append(" ")
        elif tag == "img":
            self.inline.append(dict(attrs).get("alt") or "")
        elif tag in _MARKS or tag == "a":
            self.open.append((tag, len(self.inline), dict(attrs).get("href") or ""))

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCKS or tag == "li":
            self.flush()
        elif tag == "blockquote":
            self.flush()
            self.quote = max(0, self.quote - 1)
        elif tag in ("ul", "ol"):
            self.flush()
            if self.lists:
                self.lists.pop()
        elif self.open and self.open[-1][0] == tag:
            _, start, href = self.open.pop()
            text = "".join(self.inline[start:])
            words = text.strip()
            lead, trail = text[: len(text) - len(text.lstrip())], text[len(text.rstrip()) :]
            if tag == "a":
                shown = words if words in (href, href.removeprefix("mailto:")) else None
                written = shown or (f"[{words}]({href})" if words else href)
            else:
                written = f"{_MARKS[tag]}{words}{_MARKS[tag]}" if words else ""
            self.inline[start:] = [lead, written, trail]

    def handle_data(self, data: str) -> None:
        self.inline.append(data)

    def text(self) -> str:
        self.flush()
        out = ""
        for n, (block, item) in enumerate(self.blocks):
            if n:
                out += "\n" if item and self.blocks[n - 1][1] else "\n\n"
            out += block
        return out


def html_as_text(value: str) -> str:
    """The plain-text part's version of HTML (an announcement's body, the editors'
    introduction): sanitised first, so only the text of allowed elements is left
    (a script or a style goes with its content), then written as light Markdown:
    paragraphs, ``#`` headings, ``-`` and numbered lists, ``**strong**``,
    ``*emphasis*``, ``> `` quotes and links as ``[text](address)``. The line breaks
    inside a paragraph stay where the writer put them."""
    if not value:
        return ""
    clean = nh3.clean(
        value,
        tags=set(TAGS | BODY_TAGS),
        clean_content_tags=set(DROP_WITH_CONTENT),
        attributes={"a": {"href"}, "img": {"alt"}},
        url_schemes=set(URL_SCHEMES),
        link_rel=None,
        strip_comments=True,
    )
    parser = _TextPart()
    parser.feed(clean)
    parser.close()
    return parser.text()


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
