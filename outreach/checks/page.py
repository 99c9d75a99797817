"""The rendered HTML of a language version, parsed once for the checks that read it.

The HTML is the inlined one the send path uses (:func:`outreach.render.render_issue`),
so the styles the checks see are the ``style`` attributes a mail client sees.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import lxml.html
from lxml.html import HtmlElement

_SPACE = re.compile(r"\s+")


def style_of(el: HtmlElement) -> dict[str, str]:
    """The element's ``style`` attribute as a property → value mapping (last one wins)."""
    found: dict[str, str] = {}
    for part in (el.get("style") or "").split(";"):
        name, sep, value = part.partition(":")
        if sep:
            found[name.strip().lower()] = value.replace("!important", "").strip().lower()
    return found


def hidden(el: HtmlElement) -> bool:
    """Hidden by its own style (the preheader, for one)."""
    style = style_of(el)
    return (
        style.get("display") == "none"
        or style.get("visibility") == "hidden"
        or style.get("opacity") in ("0", "0.0")
        or style.get("max-height") in ("0", "0px")
        or el.get("hidden") is not None
    )


def text_of(el: HtmlElement) -> str:
    return _SPACE.sub(" ", el.text_content() or "").strip()


@dataclass(frozen=True)
class Link:
    href: str
    text: str
    alt: str  # the alt texts of images inside the link


@dataclass(frozen=True)
class Image:
    src: str
    alt: str | None


class Page:
    """One language version's HTML."""

    def __init__(self, html: str) -> None:
        self.html = html
        self.root: HtmlElement = lxml.html.document_fromstring(html or "<html></html>")

    @property
    def lang(self) -> str:
        return (self.root.get("lang") or "").strip().lower()

    def elements(self) -> Iterator[HtmlElement]:
        for el in self.root.iter():
            if isinstance(el.tag, str):
                yield el

    def links(self) -> list[Link]:
        found = []
        for a in self.root.iter("a"):
            href = (a.get("href") or "").strip()
            alts = " ".join((img.get("alt") or "") for img in a.iter("img")).strip()
            found.append(Link(href, text_of(a), alts))
        return found

    def images(self) -> list[Image]:
        return [
            Image((img.get("src") or "").strip(), img.get("alt")) for img in self.root.iter("img")
        ]

    def headings(self) -> list[tuple[int, str]]:
        return [
            (int(str(el.tag)[1]), text_of(el))
            for el in self.elements()
            if re.fullmatch(r"h[1-6]", str(el.tag))
        ]

    def visible_text(self) -> str:
        """The words a reader sees (hidden parts, the head and styles left out)."""
        parts: list[str] = []

        def walk(el: HtmlElement) -> None:
            if not isinstance(el.tag, str) or el.tag in ("head", "style", "script", "title"):
                return
            if hidden(el):
                return
            if el.text:
                parts.append(el.text)
            for child in el:
                walk(child)
                if child.tail:
                    parts.append(child.tail)

        walk(self.root)
        return _SPACE.sub(" ", " ".join(parts)).strip()
