"""The links of an issue, numbered per language version, for counting clicks.

When an issue is built each web link of each language version gets a number
and a row in ``issue_links`` (the URL it stands for, its item and section).
The snapshot records the number beside the link: ``entry["link"]`` for an
item's link (a manual item's counts as no item), ``body_links`` ({url: number})
for the links of an announcement's body and ``intro_links`` for those of the
editors' introduction. A draft's links are numbered again after every edit, so
an added item or a link in a new introduction counts too. Rendering the e-mail
turns a numbered link into ``/l/<signed id>`` (:mod:`outreach.render`); the
archive's web version keeps every link direct.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from outreach.models import Issue, IssueLink

HREF = re.compile(r'href="(https?://[^"<>\s]{1,2000})"')


def _web(url: object) -> str | None:
    if isinstance(url, str) and url.startswith(("https://", "http://")) and len(url) <= 2000:
        return url
    return None


def variant_of(size_classes: Sequence[str]) -> str:
    """The audience variant a campaign's links are counted under ("" for everyone)."""
    return "+".join(sorted(size_classes))[:64]


def item_of(entry: dict[str, Any]) -> int:
    """The item a link of ``entry`` counts under: its content item, or 0 for none
    (a manual item's negative id names no content item)."""
    item = int(entry.get("id") or 0)
    return item if item > 0 else 0


def register_links(session: Session, issue: Issue, variant: str | None = None) -> int:
    """Number the issue's links and store them; returns how many. Replaces any
    links of an earlier build of the same issue (and their clicks: previews).
    ``variant`` None keeps the variant the links were counted under before."""
    if variant is None:
        variant = (
            session.scalar(select(IssueLink.variant).where(IssueLink.issue_id == issue.id).limit(1))
            or ""
        )
    session.execute(delete(IssueLink).where(IssueLink.issue_id == issue.id))
    snapshot: dict[str, Any] = copy.deepcopy(issue.snapshot or {})
    rows: list[IssueLink] = []
    for lang, data in (snapshot.get("languages") or {}).items():
        numbers: dict[tuple[int, str], int] = {}
        for section in data.get("sections") or []:
            for entry in section.get("entries") or []:
                url = _web(entry.get("url"))
                if url is None:
                    entry.pop("link", None)
                    continue
                item = item_of(entry)
                if (item, url) not in numbers:
                    numbers[(item, url)] = len(numbers) + 1
                    rows.append(
                        IssueLink(
                            issue_id=issue.id, lang=lang, n=numbers[(item, url)],
                            item_id=item or None, section=str(section.get("id") or "")[:64],
                            variant=variant, title=str(entry.get("title") or "")[:500], url=url,
                        )
                    )  # fmt: skip
                entry["link"] = numbers[(item, url)]
        for part in ("body", "intro"):
            html = data.get(f"{part}_html") or ""
            data.pop(f"{part}_links", None)
            if not html:
                continue
            data[f"{part}_links"] = {}
            for url in dict.fromkeys(HREF.findall(html)):
                if (0, url) not in numbers:
                    numbers[(0, url)] = len(numbers) + 1
                    rows.append(
                        IssueLink(
                            issue_id=issue.id, lang=lang, n=numbers[(0, url)], item_id=None,
                            section=part, variant=variant, title=url[:500], url=url,
                        )
                    )  # fmt: skip
                data[f"{part}_links"][url] = numbers[(0, url)]
    session.add_all(rows)
    issue.snapshot = snapshot
    session.flush()
    return len(rows)
