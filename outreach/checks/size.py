"""Size checks: Gmail's clipping, images, and the plain-text part.

Gmail shows only the first 102 KB of a message's HTML; the limit and its
margin for the per-recipient links are the render stage's
(:data:`outreach.render.HTML_LIMIT`, :func:`outreach.render.oversize_message`).
Image weight counts the sizes the image servers gave in the link check.
"""

from __future__ import annotations

from collections.abc import Mapping

from outreach.checks.links import LinkResult
from outreach.checks.page import Page
from outreach.checks.report import ERROR, WARNING, Finding, finding, localised
from outreach.render import HTML_LIMIT, oversize_message

MAX_IMAGES = 20
MAX_IMAGE_BYTES = 1024 * 1024
#: The text part should carry at least this share of the words the HTML shows.
MIN_TEXT_SHARE = 0.5


def check_size(
    page: Page, text: str, lang: str, links: Mapping[str, LinkResult] | None = None
) -> list[Finding]:
    found: list[Finding] = []
    size = len(page.html.encode("utf-8"))
    if oversize_message(page.html, lang) is not None:
        found.append(
            finding(
                ERROR,
                "size.clipped",
                lang,
                "The HTML is {kb} KB; Gmail clips messages over {limit} KB",
                detail=localised("{n} byte", plural="{n} bytes", number=size, n=size),
                kb=size // 1024,
                limit=HTML_LIMIT // 1024,
            )
        )
    images = [img.src for img in page.images() if img.src]
    if len(images) > MAX_IMAGES:
        found.append(
            finding(
                WARNING,
                "size.images",
                lang,
                "The message has {n} images; more than {max} load slowly",
                n=len(images),
                max=MAX_IMAGES,
            )
        )
    weight = sum((links or {}).get(src, LinkResult(src, "")).size or 0 for src in set(images))
    if weight > MAX_IMAGE_BYTES:
        found.append(
            finding(
                WARNING,
                "size.image_weight",
                lang,
                "The images weigh {kb} KB together; keep them under {max} KB",
                detail=localised("{n} byte", plural="{n} bytes", number=weight, n=weight),
                kb=weight // 1024,
                max=MAX_IMAGE_BYTES // 1024,
            )
        )
    words_html = len(page.visible_text().split())
    words_text = len(text.split())
    if not text.strip():
        found.append(finding(ERROR, "size.text_missing", lang, "The plain-text part is missing"))
    elif words_text < MIN_TEXT_SHARE * words_html:
        found.append(
            finding(
                WARNING,
                "size.text_short",
                lang,
                "The plain-text part has {n} words, the HTML {m}",
                n=words_text,
                m=words_html,
            )
        )
    return found
