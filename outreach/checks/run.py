"""Running the pre-flight check: every family on every language version that goes out.

A version skipped or sent as another language only gets its content finding.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from datetime import UTC, datetime
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from outreach.campaigns import Config
from outreach.checks import accessibility, content, headers, links, size, spam
from outreach.checks.page import Page
from outreach.checks.report import ERROR, WARNING, Finding, Note, Report, finding, localised
from outreach.errors import OutreachError
from outreach.l10n import LANGUAGES
from outreach.models import Issue
from outreach.render import PLACEHOLDERS, RenderedMessage, render_issue
from outreach.settings import Settings
from outreach.sources import Fetcher, fetch_error

__all__ = ["FAMILIES", "run_checks"]

FAMILIES = ("links", "content", "size", "headers", "spam", "accessibility")


def _checkable(url: str, settings: Settings) -> bool:
    if not url.lower().startswith(("http://", "https://")):
        return False  # mailto:, tel:, anchors
    if any(p in url for p in PLACEHOLDERS):
        return False
    # our own archive and unsubscribe pages: made by this service, not by a feed
    return not url.startswith(settings.base_url_clean + "/")


def _said(result: links.LinkResult) -> dict[str, str]:
    """Why a link failed, in every language (the fetcher's words said again)."""
    if result.state == links.BROKEN and result.status is not None:
        error = f"HTTP {result.status}"
    else:
        error = result.error
    return {lang: fetch_error(error, lang, lead=False) or "" for lang in LANGUAGES}


def insecure_findings(lang: str, urls: list[str]) -> list[Finding]:
    """Links and images on plain http (their address can be read and changed on the way)."""
    return [
        finding(
            WARNING,
            "links.insecure",
            lang,
            "A link is not secure (http://); use its https:// address",
            url,
        )
        for url in urls
        if urlsplit(url).scheme.lower() == "http"
    ]


def _link_findings(
    lang: str, urls: list[str], results: dict[str, links.LinkResult]
) -> list[Finding]:
    found: list[Finding] = []
    for url in urls:
        r = results[url]
        if r.state == links.TIMEOUT:
            found.append(
                finding(WARNING, "links.timeout", lang, "A link did not answer in time", url)
            )
        elif r.state == links.BROKEN:
            found.append(
                finding(
                    ERROR,
                    "links.broken",
                    lang,
                    "A link does not work: {error}",
                    url,
                    error=_said(r),
                )
            )
        elif r.state in (links.UNREACHABLE, links.BLOCKED):
            found.append(
                finding(
                    ERROR,
                    "links.unreachable",
                    lang,
                    "A link cannot be reached: {error}",
                    url,
                    error=_said(r),
                )
            )
        elif r.other_host:
            found.append(
                finding(
                    WARNING,
                    "links.redirect",
                    lang,
                    "A link leads on to another host: {host}",
                    f"{url} -> {r.final_url}",
                    host=r.other_host,
                )
            )
    return found


def run_checks(
    session: Session,
    settings: Settings,
    config: Config,
    issue: Issue,
    *,
    now: datetime | None = None,
    families: Collection[str] = FAMILIES,
    fetcher: Fetcher | None = None,
) -> Report:
    """Every check of ``families`` on ``issue`` as it is now; nothing is stored."""
    started = time.monotonic()
    now = now or datetime.now(UTC)
    snapshot = issue.snapshot or {}
    if not snapshot.get("languages"):
        raise OutreachError(f"issue {issue.id} has no content yet; build it first")
    languages = list(snapshot["languages"])
    report = Report(issue.id, now, languages)
    city = config.cities.get(str(snapshot.get("city")))
    if city is None:
        raise OutreachError(
            f"issue {issue.id}: its city {snapshot.get('city')!r} is not in cities.yaml"
        )
    empty = content.empty_languages(snapshot)
    if "content" in families:
        report.add(content.check_content(snapshot, now))
    sent = [lang for lang in languages if empty.get(lang, lang) == lang]
    pages: dict[str, tuple[RenderedMessage, Page]] = {}
    for lang in sent:
        try:
            rendered = render_issue(settings, config, issue, lang, size_limit=False)
        except OutreachError as exc:
            report.add(
                [
                    finding(
                        ERROR,
                        "render",
                        lang,
                        "The message cannot be made from its template",
                        detail=str(exc),  # the template's fault, in the words of the log
                    )
                ]
            )
            continue
        pages[lang] = (rendered, Page(rendered.html))
    urls = {  # a counted link (/l/<id>) is checked at the page it leads to
        lang: list(
            dict.fromkeys(
                u
                for u in [
                    *(rendered.links.get(a.href, a.href) for a in page.links()),
                    *(i.src for i in page.images()),
                ]
                if _checkable(u, settings)
            )
        )
        for lang, (rendered, page) in pages.items()
    }
    results: dict[str, links.LinkResult] = {}
    if "links" in families:  # no request needed: also when the link check is off
        for lang, found in urls.items():
            report.add(insecure_findings(lang, found))
    if "links" in families and settings.check_link_seconds > 0:
        every = [u for found in urls.values() for u in found]
        results = links.check_links(session, settings, every, now, fetcher=fetcher)
        for lang, found in urls.items():
            report.add(_link_findings(lang, found, results))
    elif "links" in families:
        off = localised("links: turned off (OUTREACH_CHECK_LINK_SECONDS is 0)")
        report.skipped.append(Note("links", off))
    spam_note: dict[str, str] | None = None
    for lang, (rendered, page) in pages.items():
        if "size" in families:
            report.add(size.check_size(page, rendered.text, lang, results))
        if "accessibility" in families:
            report.add(accessibility.check_accessibility(page, lang))
        if "headers" not in families and "spam" not in families:
            continue
        try:
            data = headers.build_message(settings, config, snapshot, issue.id, rendered)
        except OutreachError as exc:
            report.add(
                [
                    finding(
                        ERROR,
                        "headers.build",
                        lang,
                        "The message cannot be made ready to send",
                        detail=str(exc),
                    )
                ]
            )
            continue
        if "headers" in families:
            postal = str(snapshot["languages"][lang].get("city", {}).get("postal_address") or "")
            message = headers.parse_message(data)
            report.add(headers.check_headers(settings, city, message, page, rendered, postal))
        if "spam" in families and spam_note is None:
            try:
                report.add(spam.spam_findings(spam.score(data, settings.spamd), lang))
            except spam.SpamMissing:
                spam_note = localised("spam score: SpamAssassin is not installed")
            except spam.SpamUnavailable as exc:
                spam_note = localised("spam score: SpamAssassin failed ({why})", why=exc)
    if spam_note is not None:
        report.skipped.append(Note("spam", spam_note))
    report.seconds = time.monotonic() - started
    return report
