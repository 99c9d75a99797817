"""Sanitising: feedparser's hostile-HTML vectors never survive; text and summaries."""

from __future__ import annotations

import io
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import feedparser
import pytest

from outreach.sources.sanitize import (
    BODY_TAGS,
    TAGS,
    URL_SCHEMES,
    body_html,
    clean_body_html,
    clean_html,
    html_as_text,
    one_line,
    summarise,
    to_text,
)
from tests.conftest import SHARED_FIXTURES

SAFE_ATTRIBUTES = {"href", "src", "alt", "title", "width", "height", "colspan", "rowspan"}
SAFE_ATTRIBUTES |= {"start", "rel", "lang"}  # nh3 keeps lang everywhere


class _Audit(HTMLParser):
    """Collects every way an HTML fragment could still run code or leave the allowlist."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in TAGS:
            self.problems.append(f"tag <{tag}>")
        for name, value in attrs:
            if name not in SAFE_ATTRIBUTES:
                self.problems.append(f"attribute {name} on <{tag}>")
            if name in ("href", "src") and value is not None:
                scheme = value.split(":", 1)[0].strip().lower() if ":" in value else ""
                if scheme not in URL_SCHEMES:
                    self.problems.append(f"{name}={value!r}")
            if tag == "a" and name == "rel" and "noopener" not in (value or ""):
                self.problems.append("link without noopener")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_comment(self, data: str) -> None:
        self.problems.append("comment")

    def handle_decl(self, decl: str) -> None:
        self.problems.append("declaration")

    def handle_pi(self, data: str) -> None:
        self.problems.append("processing instruction")


def audit(fragment: str) -> list[str]:
    parser = _Audit()
    parser.feed(fragment)
    parser.close()
    lowered = fragment.lower()
    for needle in ("<script", "javascript:", "vbscript:", "expression(", "<style", "<iframe"):
        if needle in lowered:
            parser.problems.append(needle)
    return parser.problems


def _texts(parsed: Any) -> list[str]:
    values: list[str] = []
    feed = parsed.get("feed") or {}
    for key in ("title", "subtitle", "info", "rights", "tagline", "copyright"):
        if isinstance(feed.get(key), str):
            values.append(feed[key])
    for entry in parsed.get("entries") or []:
        for key in ("title", "summary", "description"):
            if isinstance(entry.get(key), str):
                values.append(entry[key])
        values += [c.get("value", "") for c in entry.get("content") or []]
    return values


VECTORS = (
    sorted(p.name for p in (SHARED_FIXTURES / "feeds/feedparser/sanitize").glob("*.xml"))
    if (SHARED_FIXTURES / "feeds/feedparser/sanitize").is_dir()
    else ["(fixtures absent)"]
)


@pytest.mark.parametrize("name", VECTORS)
def test_no_sanitize_vector_survives(name: str, shared_fixtures: Path) -> None:
    body = (shared_fixtures / "feeds/feedparser/sanitize" / name).read_bytes()
    # feedparser's own sanitiser is off: ours alone must make it safe
    parsed = feedparser.parse(io.BytesIO(body), sanitize_html=False)
    for text in _texts(parsed):
        cleaned = clean_html(text)
        assert audit(cleaned) == [], (text, cleaned)


def test_audit_catches_what_it_should() -> None:
    assert audit('<a href="javascript:x()" onclick="y">a</a><iframe></iframe>')
    assert audit('<p style="x">a</p>')
    assert audit('<a href="https://city.example/" rel="noopener noreferrer">ok</a>') == []


def test_allowlist_keeps_structure_and_safe_links() -> None:
    html = (
        '<p onclick="x()" style="color:red">Hei <a href="https://vantaa.fi/a">linkki</a> '
        '<a href="mailto:ilmasto@vantaa.fi">posti</a> <a href="ftp://x/y">ftp</a> '
        '<a href="/relative">rel</a></p><script>alert(1)</script>'
        '<form action="https://evil.example"><input name="a"><button>Lähetä</button></form>'
        '<iframe src="https://evil.example">sisältö</iframe>'
        '<img src="https://x.fi/i.png" onerror="x">'
    )
    out = clean_html(html)
    assert '<a href="https://vantaa.fi/a" rel="noopener noreferrer">linkki</a>' in out
    assert 'href="mailto:ilmasto@vantaa.fi"' in out
    assert "ftp:" not in out and "/relative" not in out
    for gone in ("onclick", "style", "script", "alert", "form", "input", "Lähetä", "iframe"):
        assert gone not in out
    assert '<img src="https://x.fi/i.png">' in out


def test_to_text_has_no_markup() -> None:
    html = "<p>Energia &amp; <b>ilmasto</b></p><p>Toinen<br>rivi</p><script>x()</script>"
    assert to_text(html) == "Energia & ilmasto\nToinen\nrivi"
    assert one_line(" <h1>Otsikko</h1>\n<p>jatkuu</p> ") == "Otsikko jatkuu"
    assert to_text("") == ""


def test_summarise_cuts_at_a_word_boundary() -> None:
    text = "Vantaa kutsuu yritykset mukaan ilmastokumppanuusverkostoon jakamaan kokemuksia"
    short = summarise(text, 40)
    assert short == "Vantaa kutsuu yritykset mukaan…"
    assert len(short) <= 40
    assert summarise("lyhyt teksti", 40) == "lyhyt teksti"
    assert summarise("a" * 100, 10) == "a" * 9 + "…"


def test_announcement_bodies_keep_their_own_allowlist() -> None:
    """Staff Markdown: headings and links stay, anything that could run or load goes."""
    html = body_html(
        "# Otsikko\n\nTeksti [linkki](https://www.vantaa.fi/) ja "
        "[huono](javascript:alert(1)).\n\n<script>alert(1)</script>\n\n"
        '<img src="https://evil.example/x.png"><p onclick="x()">Kappale</p>'
    )
    assert "<h1>Otsikko</h1>" in html
    assert '<a href="https://www.vantaa.fi/">linkki</a>' in html
    assert "Kappale" in html
    for gone in ('href="javascript', "<script", "alert(1)<", "<img", "onclick", "rel="):
        assert gone not in html, gone
    assert set(BODY_TAGS) <= set(TAGS) | {"h1"}  # the body list is narrower, but for h1
    assert clean_body_html(html) == html  # rendering sanitises again: nothing left to take


def test_the_text_part_is_written_from_the_sanitised_html() -> None:
    """What an e-mail's plain-text part shows of staff Markdown: the text the HTML part
    keeps, as light Markdown; raw HTML never comes through as it was typed."""
    markdown = (
        "# Otsikko\n\nTervetuloa <script>alert(1)</script> <img src=x onerror=alert(3)> "
        "<style>p{}</style> <iframe>kehys</iframe> <b onclick=x()>rohkea</b>\n"
        "toinen rivi, [linkki](https://vantaa.fi/a?b=1&c=2) ja <https://vantaa.fi/>\n\n"
        "1. yksi\n2. kaksi\n   - *sisempi*\n\n> lainaus\n\n<p>raaka &lt;kappale&gt;</p>"
    )
    assert html_as_text(body_html(markdown)) == (
        "# Otsikko\n\n"
        "Tervetuloa rohkea\n"
        "toinen rivi, [linkki](https://vantaa.fi/a?b=1&c=2) ja https://vantaa.fi/\n\n"
        "1. yksi\n2. kaksi\n  - *sisempi*\n\n> lainaus\n\nraaka <kappale>"
    )
    # whatever it is given, only what an allowlist keeps is read
    hostile = "<p>a<script>b()</script><style>c{}</style><noscript>d</noscript></p>"
    assert html_as_text(hostile) == "a"
    assert html_as_text("") == ""
