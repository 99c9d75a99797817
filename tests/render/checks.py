"""Assertions every rendered email must pass (used by unit and golden tests)."""

from __future__ import annotations

import html as htmllib

from lxml import html as lxml_html

from outreach.render import HTML_LIMIT, PLACEHOLDERS


def links(document: str) -> list[str]:
    tree = lxml_html.document_fromstring(document)
    return [htmllib.unescape(str(a.get("href"))) for a in tree.iter("a") if a.get("href")]


def assert_email_ok(html_part: str, text_part: str, *, placeholders: bool) -> None:
    """The HTML parses, stays small, has no script or external CSS, images are
    described and sized, links are absolute https or mailto (or a per-recipient
    placeholder) and the text part carries every link of the HTML part."""
    assert len(html_part.encode()) < HTML_LIMIT
    tree = lxml_html.document_fromstring(html_part)
    assert not list(tree.iter("script"))
    assert not [link for link in tree.iter("link") if link.get("rel") == "stylesheet"]
    assert "<script" not in html_part.lower()
    for img in tree.iter("img"):
        assert img.get("alt"), img.get("src")
        assert img.get("width") and img.get("height"), img.get("src")
        assert int(img.get("width", "0")) <= 600
        assert str(img.get("src")).startswith("https://")
    for table in tree.iter("table"):
        width = table.get("width", "100%")
        assert width.endswith("%") or int(width) <= 600
    for href in links(html_part):
        if href in PLACEHOLDERS:
            assert placeholders, href
        else:
            assert href.startswith(("https://", "mailto:")), href
        assert href in text_part, f"{href} is not in the text part"
