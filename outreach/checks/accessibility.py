"""Accessibility of the e-mail: contrast, link texts, the lang attribute, headings, alt.

Contrast follows WCAG 2.x AA: 4.5:1 for body text, 3:1 for large text (24 px,
or 18.66 px bold). Colours come from the inlined ``style`` attributes (and
``bgcolor``) of the rendered HTML; text inherits its colour, and sits on the
nearest background an ancestor paints (white when none does). Text hidden by
its own or an ancestor's style (the preheader) is not read. Each pair of
colours that fails is one finding, however often it occurs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from lxml.html import HtmlElement

from outreach.checks.page import Page, hidden, style_of
from outreach.checks.report import ERROR, WARNING, Finding, finding, localised
from outreach.l10n import LANGUAGES, format_decimal

AA_NORMAL = 4.5
AA_LARGE = 3.0

#: Link texts that say nothing out of context, per language (lower case).
VAGUE_LINK_TEXTS = frozenset(
    {
        # fi
        "tästä", "tässä", "täältä", "klikkaa", "klikkaa tästä", "klikkaa tänne",
        "lue lisää", "lisää", "linkki", "tänne", "katso tästä", "lue tästä",
        # sv
        "här", "klicka", "klicka här", "läs mer", "mer", "länk", "se här", "läs här",
        # en
        "here", "click", "click here", "read more", "more", "link", "this link", "see here",
    }
)  # fmt: skip

NAMED = {
    "white": (255, 255, 255),
    "black": (0, 0, 0),
    "red": (255, 0, 0),
    "green": (0, 128, 0),
    "blue": (0, 0, 255),
    "gray": (128, 128, 128),
    "grey": (128, 128, 128),
    "silver": (192, 192, 192),
    "yellow": (255, 255, 0),
}
RGB = tuple[int, int, int]
_RGB_FN = re.compile(r"rgba?\(\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)")
_HEX = re.compile(r"#([0-9a-f]{3}|[0-9a-f]{6})\b")


def parse_colour(value: str | None) -> RGB | None:
    """``#abc``, ``#aabbcc``, ``rgb(…)`` or a basic colour name; None otherwise."""
    if not value:
        return None
    value = value.strip().lower()
    match = _HEX.search(value)
    if match:
        digits = match.group(1)
        if len(digits) == 3:
            digits = "".join(c * 2 for c in digits)
        return (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16))
    match = _RGB_FN.search(value)
    if match:
        r, g, b = (min(255, int(x)) for x in match.groups())
        return (r, g, b)
    return NAMED.get(value.split()[0]) if value.split() else None


def _luminance(rgb: RGB) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(fg: RGB, bg: RGB) -> float:
    """The WCAG contrast ratio of two colours, 1 to 21."""
    a, b = sorted((_luminance(fg), _luminance(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def hex_of(rgb: RGB) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def _px(value: str | None) -> float | None:
    if value and value.endswith("px"):
        try:
            return float(value[:-2])
        except ValueError:
            return None
    return None


def _texts(
    el: HtmlElement, fg: RGB, bg: RGB, size: float, bold: bool
) -> Iterator[tuple[RGB, RGB, bool]]:
    """(colour, background, large) of every piece of visible text under ``el``."""
    if not isinstance(el.tag, str) or el.tag in ("head", "style", "script", "title"):
        return
    if hidden(el):
        return
    style = style_of(el)
    fg = parse_colour(style.get("color")) or parse_colour(el.get("color")) or fg
    bg = (
        parse_colour(style.get("background-color"))
        or parse_colour(style.get("background"))
        or parse_colour(el.get("bgcolor"))
        or bg
    )
    size = _px(style.get("font-size")) or size
    weight = style.get("font-weight", "")
    if weight:
        bold = weight in ("bold", "bolder") or weight[:1] in ("6", "7", "8", "9")
    bold = bold or el.tag in ("strong", "b", "h1", "h2", "h3", "h4", "h5", "h6")
    large = size >= 24 or (bold and size >= 18.66)
    if (el.text or "").strip():
        yield fg, bg, large
    for child in el:
        yield from _texts(child, fg, bg, size, bold)
        if (child.tail or "").strip():
            yield fg, bg, large


def contrast_findings(page: Page, lang: str) -> list[Finding]:
    failing: dict[tuple[RGB, RGB], tuple[float, float]] = {}
    for fg, bg, large in _texts(page.root, (0, 0, 0), (255, 255, 255), 16.0, False):
        need = AA_LARGE if large else AA_NORMAL
        ratio = contrast(fg, bg)
        if ratio < need:
            known = failing.get((fg, bg))
            failing[(fg, bg)] = (ratio, max(need, known[1]) if known else need)
    return [
        finding(
            ERROR,
            "a11y.contrast",
            lang,
            "Text in {fg} on {bg} has a contrast of {ratio}:1; WCAG AA needs {need}:1",
            detail=localised("{fg} on {bg}", fg=hex_of(fg), bg=hex_of(bg)),
            fg=hex_of(fg),
            bg=hex_of(bg),
            ratio={lang: format_decimal(ratio, lang) for lang in LANGUAGES},
            need={lang: format_decimal(need, lang, None) for lang in LANGUAGES},
        )
        for (fg, bg), (ratio, need) in sorted(failing.items())
    ]


def check_accessibility(page: Page, lang: str) -> list[Finding]:
    found: list[Finding] = []
    if page.lang.split("-")[0] != lang:
        found.append(
            finding(
                ERROR,
                "a11y.lang",
                lang,
                "The message does not say it is in this language (lang attribute)",
                detail=f'lang="{page.lang}"',
            )
        )
    found += contrast_findings(page, lang)
    vague = sorted(
        {
            link.text
            for link in page.links()
            if link.text.lower().strip(" .:!…→›»") in VAGUE_LINK_TEXTS
        }
    )
    found += [
        finding(
            WARNING,
            "a11y.link_text",
            lang,
            'A link says only "{text}"; say where it leads',
            detail=text,
            text=text,
        )
        for text in vague
    ]
    missing = [img.src for img in page.images() if img.alt is None]
    found += [
        finding(ERROR, "a11y.alt", lang, "An image has no alt text", detail=src)
        for src in dict.fromkeys(missing)
    ]
    level = 0
    for n, text in page.headings():
        if n > level + 1:
            found.append(
                finding(
                    WARNING,
                    "a11y.heading_order",
                    lang,
                    "Heading level {n} follows level {prev}: a level is skipped",
                    detail=text[:80],
                    n=n,
                    prev=level,
                )
            )
        level = n
    return found
