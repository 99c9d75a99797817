"""Rendering: an issue's snapshot to an HTML and a plain-text email, per language.

``render_issue`` runs the templates and the CSS inliner once per issue and
language. What differs per recipient is never rendered: the output carries the
literal placeholders :data:`UNSUBSCRIBE_URL`, :data:`PREFERENCES_URL` and
:data:`CONTACT_NAME`, which the delivery stage substitutes for each recipient
(HTML-escaped in the HTML part; :mod:`outreach.delivery.message` fills them,
and :func:`outreach.delivery.preview.preview` shows one filled copy). The name slot
becomes a space and the name, or nothing, so a greeting reads "Hei Maija,"
with a name and "Hei," without one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from outreach.campaigns import Config
from outreach.errors import RenderError, msg
from outreach.issues import city_snapshot
from outreach.models import Issue
from outreach.render.env import get_template, render_template
from outreach.render.inline import inline_css
from outreach.render.links import counted_links, counting
from outreach.settings import Settings
from outreach.sources import clean_body_html, html_as_text

__all__ = [
    "CONTACT_NAME",
    "EXAMPLE_NAMES",
    "HTML_LIMIT",
    "PLACEHOLDERS",
    "PREFERENCES_URL",
    "UNSUBSCRIBE_URL",
    "RenderedMessage",
    "oversize_message",
    "render_email",
    "render_issue",
    "render_web_version",
]

UNSUBSCRIBE_URL = "@@UNSUBSCRIBE_URL@@"
PREFERENCES_URL = "@@PREFERENCES_URL@@"
CONTACT_NAME = "@@CONTACT_NAME@@"
PLACEHOLDERS = (UNSUBSCRIBE_URL, PREFERENCES_URL, CONTACT_NAME)

#: Gmail clips messages over 102 KB; keep 2 KB for the per-recipient values.
HTML_LIMIT = 100 * 1024

EXAMPLE_NAMES = {"fi": "Maija Meikäläinen", "sv": "Maja Mellström", "en": "Alex Example"}


@dataclass(frozen=True)
class RenderedMessage:
    lang: str
    subject: str
    preheader: str
    html: str
    text: str
    web_url: str | None
    #: Each counted link (``/l/<id>``) of the message and the page it leads to.
    links: dict[str, str] = field(default_factory=dict)


def _language(issue: Issue, lang: str | None) -> tuple[dict[str, Any], str]:
    snapshot = issue.snapshot or {}
    languages: dict[str, Any] = snapshot.get("languages") or {}
    if not languages:
        raise RenderError(msg("issue {id} has no content yet; build it first"), id=issue.id)
    lang = lang or next(iter(languages))
    if lang not in languages:
        raise RenderError(
            msg("issue {id} has no {lang} version (it has: {languages})"),
            id=issue.id,
            lang=repr(lang),
            languages=", ".join(languages),
        )
    return languages[lang], lang


def _issue_context(
    settings: Settings,
    issue: Issue,
    lang: str,
    data: dict[str, Any],
    *,
    personal: bool,
    count: dict[str, str] | None = None,
) -> dict[str, Any]:
    snapshot = issue.snapshot
    city = data["city"]
    web_url = _web_url(settings, issue, lang)
    body = data.get("body_html") or ""
    sections = data.get("sections") or []
    markdown = data.get("body_markdown") or ""
    intro_html = data.get("intro_html") or ""
    intro = data.get("intro") or ""
    if count is not None:  # the e-mail only: the archive's web version never counts
        counted = counted_links(settings, issue, lang, data, count)
        sections, body, markdown = counted.sections, counted.body_html, counted.body_markdown
        intro_html, intro = counted.intro_html, counted.intro
    if body:  # sanitised when built; again here, in case the stored snapshot was edited
        body = clean_body_html(body)
    if intro_html:  # the editors' introduction (Markdown), sanitised like the body
        intro_html = clean_body_html(intro_html)
        # the plain-text part shows what the HTML part shows, never the Markdown as
        # written (raw HTML in it would come through as it was typed)
        intro = html_as_text(intro_html)
    return {
        "lang": lang,
        "tz": city["timezone"],
        "city": city,
        "kind": snapshot["kind"],
        "subject": data["subject"],
        "preheader": data["preheader"],
        "title": data.get("title") or data["subject"],
        "period_label": data["period_label"],
        "number": snapshot["number"],
        "intro": intro,
        "intro_html": intro_html,
        "sections": sections,
        "body_html": body,
        "body_text": html_as_text(body),
        "body_markdown": markdown,
        "web_url": web_url if personal else None,
        "personal": personal,
        "unsubscribe_url": UNSUBSCRIBE_URL,
        "preferences_url": PREFERENCES_URL,
        "contact_name": CONTACT_NAME,
    }


def oversize_message(html: str, lang: str) -> str | None:
    """Why ``html`` is too large for Gmail to show unclipped, or None when it fits."""
    size = len(html.encode("utf-8"))
    if size <= HTML_LIMIT:
        return None
    return (
        f"the {lang} HTML is {size // 1024} KB, over the {HTML_LIMIT // 1024} KB that "
        "Gmail shows unclipped; lower max_items or shorten the texts"
    )


def _render_pair(
    settings: Settings,
    city: str,
    lang: str,
    template: str,
    context: dict[str, Any],
    *,
    size_limit: bool = True,
) -> tuple[str, str]:
    root = settings.templates_path
    html = render_template(get_template(root, city, lang, f"{template}.html"), context)
    text = render_template(get_template(root, city, lang, f"{template}.txt"), context)
    html = inline_css(html)
    too_large = oversize_message(html, lang) if size_limit else None
    if too_large is not None:
        raise RenderError(too_large)
    return html, _tidy_text(text)


def _tidy_text(text: str) -> str:
    """Trailing spaces off, at most one blank line in a row."""
    lines = [line.rstrip() for line in text.splitlines()]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip() + "\n"


def render_issue(
    settings: Settings, config: Config, issue: Issue, lang: str, *, size_limit: bool = True
) -> RenderedMessage:
    """The issue in ``lang``, with per-recipient placeholders, CSS inlined.

    Over Gmail's clipping size it is a RenderError, unless ``size_limit`` is
    False (the pre-flight check measures it and reports it instead).
    """
    # the snapshot holds everything, so re-rendering gives the same result; the
    # config says only whether the city counts clicks
    data, lang = _language(issue, lang)
    links: dict[str, str] = {}
    context = _issue_context(
        settings, issue, lang, data, personal=True, count=links if counting(config, issue) else None
    )
    html, text = _render_pair(
        settings,
        issue.snapshot["city"],
        lang,
        issue.snapshot["template"],
        context,
        size_limit=size_limit,
    )
    return RenderedMessage(
        lang=lang,
        subject=data["subject"],
        preheader=data["preheader"],
        html=html,
        text=text,
        web_url=context["web_url"] or _web_url(settings, issue, lang),
        links=links,
    )


def _web_url(settings: Settings, issue: Issue, lang: str) -> str:
    """The archive page of the issue in the reader's language."""
    return f"{settings.base_url_clean}/{issue.snapshot['city']}/archive/{issue.id}?lang={lang}"


def render_web_version(settings: Settings, config: Config, issue: Issue, lang: str) -> str:
    """The public archive page of the issue: no per-recipient links or names; its content
    is the page's ``main`` landmark, and its footer links to the archive, the city's
    privacy notice and its accessibility statement, as every public page does."""
    data, lang = _language(issue, lang)
    context = _issue_context(settings, issue, lang, data, personal=False)
    slug = issue.snapshot["city"]
    city = config.cities.get(slug)
    base = f"{settings.base_url_clean}/{slug}"
    context["web_page"] = {
        "archive_url": f"{base}/archive?lang={lang}",
        "privacy_url": city.privacy_url if city is not None else None,
        "accessibility_url": f"{base}/accessibility?lang={lang}",
    }
    root = settings.templates_path
    template = get_template(
        root, issue.snapshot["city"], lang, f"{issue.snapshot['template']}.html"
    )
    html = inline_css(render_template(template, context))
    for placeholder in PLACEHOLDERS:
        html = html.replace(placeholder, "")
    return html


def render_email(
    settings: Settings,
    config: Config,
    city_slug: str,
    lang: str,
    template: str,
    context: dict[str, Any],
    subject: str,
) -> RenderedMessage:
    """A transactional mail (e.g. ``confirmation``) of ``city_slug`` in ``lang``."""
    city = config.cities.get(city_slug)
    if city is None:
        raise RenderError(
            msg("no city {city} (known: {known})"),
            city=repr(city_slug),
            known=", ".join(sorted(config.cities)),
        )
    preheader = str(context.get("preheader", ""))
    full = {
        "lang": lang,
        "tz": city.timezone,
        "city": city_snapshot(city, lang),
        "subject": subject,
        "preheader": preheader,
        "title": subject,
        "web_url": None,
        "personal": False,
        **context,
    }
    html, text = _render_pair(settings, city_slug, lang, template, full)
    return RenderedMessage(lang, subject, preheader, html, text, None)
