"""Counted links in an issue's e-mail: a numbered link becomes ``/l/<signed id>``.

Only the e-mail counts (and only where the city has not set ``tracking: off``);
the archive's web version and transactional mail keep every link direct. The
numbers come from the snapshot (:mod:`outreach.issues.links`); an issue built
before links were numbered has none, and its links stay direct.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from outreach.campaigns import Config
from outreach.issues import item_of
from outreach.linkids import LinkRef, LinkSigner
from outreach.models import Issue
from outreach.settings import Settings

_HREF = re.compile(r'href="(https?://[^"<>\s]{1,2000})"')


def counting(config: Config, issue: Issue) -> bool:
    """Whether the issue's city counts clicks (``tracking`` in cities.yaml)."""
    city = config.cities.get(str((issue.snapshot or {}).get("city") or ""))
    return city is not None and city.tracking


@dataclass(frozen=True)
class Counted:
    """A language version's parts with their numbered links made counted."""

    sections: list[dict[str, Any]]
    body_html: str
    body_markdown: str
    intro_html: str
    intro: str


def counted_links(
    settings: Settings, issue: Issue, lang: str, data: dict[str, Any], where: dict[str, str]
) -> Counted:
    """The sections, announcement body and introduction (HTML and the plain text's
    Markdown) of ``data`` with numbered links made counted; ``where`` gets each
    counted link's destination."""
    signer = LinkSigner(settings.secret())
    base = settings.base_url_clean

    def href(item: int, n: int, url: str = "") -> str:
        counted = f"{base}/l/{signer.make(LinkRef(issue.id, lang, item, n))}"
        where[counted] = url
        return counted

    sections = copy.deepcopy(data.get("sections") or [])
    for section in sections:
        for entry in section.get("entries") or []:
            n = entry.get("link")
            if isinstance(n, int) and entry.get("url"):
                entry["url"] = href(item_of(entry), n, str(entry["url"]))

    def in_html(html: str, numbers: dict[str, int]) -> str:
        def swap(match: re.Match[str]) -> str:
            n = numbers.get(match[1])
            return f'href="{href(0, n, match[1])}"' if isinstance(n, int) else match[0]

        return _HREF.sub(swap, html) if html and numbers else html

    def in_text(text: str, numbers: dict[str, int]) -> str:
        if not text or not numbers:
            return text
        urls = sorted(numbers, key=len, reverse=True)
        pattern = re.compile("(" + "|".join(map(re.escape, urls)) + r")(?![\w/?#&=%.~+-])")
        return pattern.sub(lambda m: href(0, numbers[m[1]], m[1]), text)

    body_links: dict[str, int] = data.get("body_links") or {}
    intro_links: dict[str, int] = data.get("intro_links") or {}
    return Counted(
        sections=sections,
        body_html=in_html(str(data.get("body_html") or ""), body_links),
        body_markdown=in_text(str(data.get("body_markdown") or ""), body_links),  # plain text
        intro_html=in_html(str(data.get("intro_html") or ""), intro_links),
        intro=in_text(str(data.get("intro") or ""), intro_links),
    )
