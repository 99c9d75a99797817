"""Small helpers every source type uses."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from outreach.sources.base import content_hash, lang_code, web_url
from outreach.sources.registry import build_source


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://www.vantaa.fi/fi/uutiset?id=1#a", "https://www.vantaa.fi/fi/uutiset?id=1#a"),
        (" http://kerava.fi ", "http://kerava.fi"),
        ("javascript:alert(1)", None),
        ("file:///etc/passwd", None),
        ("https://", None),
        ('https://x.fi/"><script>', None),
        ("https://x.fi/a b", None),
        ("//x.fi/a", None),
        (None, None),
    ],
)
def test_web_url(value: object, expected: str | None) -> None:
    assert web_url(value) == expected


def test_lang_code_and_content_hash() -> None:
    assert [lang_code(v) for v in ("fi-FI", "sv_SE", "EN", "", None, "x1")] == [
        "fi",
        "sv",
        "en",
        None,
        None,
        None,
    ]
    assert content_hash("a", None) == content_hash("a", "")
    assert content_hash("a", "b") != content_hash("ab")


def test_source_options_are_validated() -> None:
    with pytest.raises(ValidationError, match="expected an http"):
        build_source("rss", {"url": "ftp://x.fi/feed"})
    with pytest.raises(ValidationError, match="Extra inputs"):
        build_source("ical", {"url": "https://x.fi/c.ics", "colour": "red"})
    one = build_source("linkedevents", {"params": {"keyword": "yso:p1880"}})
    two = build_source("linkedevents", {"params": {"keyword": "yso:p1880"}})
    assert one.key == two.key
    assert one.key != build_source("linkedevents", {"params": {"keyword": "x"}}).key
