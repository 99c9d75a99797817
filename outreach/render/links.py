"""Counted links in an issue's e-mail: a numbered link becomes ``/l/<signed id>``.

Only the e-mail counts (and only where the city has not set ``tracking: off``);
the archive's web version and transactional mail keep every link direct. The
numbers come from the snapshot (:mod:`outreach.issues.links`); an issue built
before links were numbered has none, and its links stay direct.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from outreach.campaigns import Config
from outreach.linkids import LinkRef, LinkSigner
from outreach.models import Issue
from outreach.settings import Settings

_HREF = re.compile(r'href="(https?://[^"<>\s]{1,2000})"')


def counting(config: Config, issue: Issue) -> bool:
    """Whether the issue's city counts clicks (``tracking`` in cities.yaml)."""
    city = config.cities.get(str((issue.snapshot or {}).get("city") or ""))
    return city is not None and city.tracking


def counted_links(
    settings: Settings, issue: Issue, lang: str, data: dict[str, Any], where: dict[str, str]
) -> tuple[list[dict[str, Any]], str, str]:
    """The sections and announcement body (HTML and Markdown) of ``data`` with
    numbered links made counted; ``where`` gets each counted link's destination."""
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
                entry["url"] = href(int(entry.get("id") or 0), n, str(entry["url"]))
    body = str(data.get("body_html") or "")
    numbers: dict[str, int] = data.get("body_links") or {}
    if body and numbers:

        def swap(match: re.Match[str]) -> str:
            n = numbers.get(match[1])
            return f'href="{href(0, n, match[1])}"' if isinstance(n, int) else match[0]

        body = _HREF.sub(swap, body)
    markdown = str(data.get("body_markdown") or "")
    if markdown and numbers:  # the plain-text part shows the Markdown
        urls = sorted(numbers, key=len, reverse=True)
        pattern = re.compile("(" + "|".join(map(re.escape, urls)) + r")(?![\w/?#&=%.~+-])")
        markdown = pattern.sub(lambda m: href(0, numbers[m[1]], m[1]), markdown)
    return sections, body, markdown
