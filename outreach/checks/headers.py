"""Headers and compliance, on the message the send path builds.

The message is a test copy from :class:`outreach.delivery.message.IssueMessages`
(the same template, headers and DKIM signing as every recipient's), so what
is checked is what goes out:

- ``List-Unsubscribe`` with an https link, and ``List-Unsubscribe-Post``
  (RFC 8058 one-click), which Gmail and Yahoo require of bulk senders;
- the From and Reply-To addresses on the city's domain (its website's, without
  ``www.``), and DKIM signing configured for the city;
- the city's postal address in the footer;
- the subject (present, at most 60 characters, no template code left in it) and
  preheader (at most 100), neither in capitals nor with runs of exclamation marks.
"""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

from outreach.campaigns import CityConfig, Config
from outreach.checks.page import Page
from outreach.checks.report import ERROR, WARNING, Finding, finding
from outreach.delivery import IssueMessages, city_mail_url, city_signer, domain_of
from outreach.errors import OutreachError
from outreach.render import RenderedMessage
from outreach.settings import Settings

SUBJECT_MAX = 60
#: What a subject rendered from a template must no longer hold.
TEMPLATE_MARKS = ("{{", "{%", "{#")
#: Placeholders of other template languages left in a subject: ``{period}``,
#: ``${period}``, ``%(period)s``, ``[[period]]``; none of them is ever filled in.
_PLACEHOLDER = re.compile(
    r"\$?\{\s*[^\W\d]\w*(\.\w+)*\s*\}|%\(\w+\)[sd]|\[\[\s*[^\W\d][\w.]*\s*\]\]"
)


def template_code(subject: str) -> str | None:
    """The template code left in a rendered subject, or None."""
    mark = next((mark for mark in TEMPLATE_MARKS if mark in subject), None)
    if mark is not None:
        return mark
    found = _PLACEHOLDER.search(subject)
    return found.group(0) if found else None


PREHEADER_MAX = 100
CHECK_RECIPIENT = "preflight-check@example.org"
_EXCLAMATIONS = re.compile(r"[!?]*![!?]*!|!{2,}")
_WORD = re.compile(r"[^\W\d_]+")


def build_message(
    settings: Settings,
    config: Config,
    snapshot: dict[str, Any],
    issue_id: int,
    rendered: RenderedMessage,
) -> bytes:
    """The bytes a recipient of ``rendered.lang`` would get (a test copy); OutreachError."""
    messages = IssueMessages(
        settings,
        config,
        city_slug=str(snapshot["city"]),
        campaign_slug=str(snapshot["campaign"]),
        issue_id=issue_id,
        lang=rendered.lang,
        rendered=rendered,
        mail_url=city_mail_url(settings, config, str(snapshot["city"])),
    )
    return messages.build_test(CHECK_RECIPIENT).data


def city_domain(city: CityConfig) -> str | None:
    host = (urlsplit(city.footer.website or "").hostname or "").lower()
    return host.removeprefix("www.") or None


def _on(domain: str, address: str) -> bool:
    own = domain_of(address)
    return own == domain or own.endswith("." + domain)


def shouting(text: str) -> bool:
    """Mostly capitals: two or more words of four letters or more all in capitals, or
    more than half the letters of a text of ten letters or more."""
    words = _WORD.findall(text)
    loud = [w for w in words if len(w) >= 4 and w.isupper()]
    letters = [c for c in text if c.isalpha()]
    upper = sum(1 for c in letters if c.isupper())
    return len(loud) >= 2 or (len(letters) >= 10 and upper > len(letters) / 2)


def check_texts(subject: str, preheader: str, lang: str) -> list[Finding]:
    found: list[Finding] = []
    if not subject.strip():
        found.append(finding(ERROR, "headers.subject", lang, "The subject is empty"))
    elif len(subject) > SUBJECT_MAX:
        found.append(
            finding(
                WARNING,
                "headers.subject_length",
                lang,
                "The subject is {n} characters; past {max} it is cut in most inboxes",
                detail=subject,
                n=len(subject),
                max=SUBJECT_MAX,
            )
        )
    if len(preheader) > PREHEADER_MAX:
        found.append(
            finding(
                WARNING,
                "headers.preheader_length",
                lang,
                "The preheader is {n} characters; past {max} it is cut in most inboxes",
                detail=preheader,
                n=len(preheader),
                max=PREHEADER_MAX,
            )
        )
    left = template_code(subject)
    if left is not None:
        found.append(
            finding(
                ERROR,
                "headers.subject_template",
                lang,
                "The subject still holds template code ({code}): it would go out as written",
                subject,
                code=left,
            )
        )
    if shouting(subject):
        found.append(
            finding(
                WARNING,
                "headers.subject_caps",
                lang,
                "Capitals in the subject look like shouting (and like spam)",
                subject,
            )
        )
    if shouting(preheader):
        found.append(
            finding(
                WARNING,
                "headers.preheader_caps",
                lang,
                "Capitals in the preheader look like shouting (and like spam)",
                preheader,
            )
        )
    if _EXCLAMATIONS.search(subject):
        found.append(
            finding(
                WARNING,
                "headers.subject_marks",
                lang,
                "Exclamation marks in a row in the subject look like spam",
                subject,
            )
        )
    if _EXCLAMATIONS.search(preheader):
        found.append(
            finding(
                WARNING,
                "headers.preheader_marks",
                lang,
                "Exclamation marks in a row in the preheader look like spam",
                preheader,
            )
        )
    return found


def check_headers(
    settings: Settings,
    city: CityConfig,
    message: EmailMessage,
    page: Page,
    rendered: RenderedMessage,
    postal_address: str,
) -> list[Finding]:
    lang = rendered.lang
    found: list[Finding] = []
    unsubscribe = str(message.get("List-Unsubscribe") or "")
    if not re.search(r"<https?://[^>]+>", unsubscribe):
        found.append(
            finding(
                ERROR,
                "headers.unsubscribe",
                lang,
                "The message has no List-Unsubscribe header with a link",
                detail=unsubscribe[:200],
            )
        )
    elif not re.search(r"<https://[^>]+>", unsubscribe):
        # RFC 8058 one-click needs https; OUTREACH_BASE_URL is http (a test or a demo)
        found.append(
            finding(
                WARNING,
                "headers.unsubscribe_https",
                lang,
                "The unsubscribe link is not https; one-click unsubscribing needs https",
                detail=unsubscribe[:200],
            )
        )
    if str(message.get("List-Unsubscribe-Post") or "") != "List-Unsubscribe=One-Click":
        found.append(
            finding(
                ERROR,
                "headers.one_click",
                lang,
                "The message does not offer one-click unsubscribing (List-Unsubscribe-Post)",
            )
        )
    domain = city_domain(city)
    if domain:
        for header, address in (("From", city.sender.address), ("Reply-To", city.sender.reply_to)):
            if address and not _on(domain, address):
                found.append(
                    finding(
                        WARNING,
                        "headers.domain",
                        lang,
                        "The {header} address {address} is not on the city's domain {domain}",
                        detail=address,
                        header=header,
                        address=address,
                        domain=domain,
                    )
                )
    try:
        signer = city_signer(settings, city)
    except OutreachError as exc:
        found.append(
            finding(
                ERROR,
                "headers.dkim",
                lang,
                "DKIM signing is broken: its key or settings cannot be used",
                detail=str(exc),  # the server's settings, in the words of its log
            )
        )
    else:
        if signer is None:
            found.append(
                finding(
                    WARNING,
                    "headers.dkim",
                    lang,
                    "DKIM signing is not configured for {domain}; mail may go to spam",
                    detail=domain_of(city.sender.address),
                    domain=domain_of(city.sender.address),
                )
            )
    address = " ".join(postal_address.split())
    if not address or address not in page.visible_text():
        found.append(
            finding(
                ERROR,
                "compliance.address",
                lang,
                "The footer has no postal address of the sender",
                detail=address,
            )
        )
    found += check_texts(rendered.subject, rendered.preheader, lang)
    return found


def parse_message(data: bytes) -> EmailMessage:
    parsed = message_from_bytes(data, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed
