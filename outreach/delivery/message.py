"""Messages built once per issue language, filled per recipient by substitution.

The ``email`` package builds the whole message once per issue language
(multipart/alternative: text, then HTML; UTF-8; RFC 2047 headers; Date;
List-Id; List-Unsubscribe-Post) with two slots where the bodies go. That
skeleton is serialised to CRLF bytes and cut at the slots. Per recipient the
work is then:

- three header lines (To, Message-ID, List-Unsubscribe) prepended as bytes,
- two signed tokens,
- quoted-printable encoding of the substituted values only; each body's
  literal pieces between the placeholders were encoded once per language
  (see :class:`outreach.delivery.qp.BodyTemplate`), and everything is joined
  as bytes.

A template may have slots of its own besides the issue's three
(``MessageTemplate(slots=…)``, values in ``Recipient.values``): a
confirmation mail's link (:mod:`outreach.delivery.transactional`) is filled
the same way.

Nothing that comes from a feed, a form or a CSV reaches a header: addresses
are validated against a strict ASCII pattern, display names and subjects
have CR/LF removed and are RFC 2047 encoded (``email.header``), Message-IDs
and unsubscribe links must match strict patterns, and every other
per-recipient value lands only in QP-encoded bodies.
"""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email import policy
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Protocol

from outreach.campaigns import EMAIL_RE, CityConfig, Config, Sender
from outreach.delivery.backends import get_backend, split_message_options
from outreach.delivery.backends.base import OutgoingMessage, SendResult
from outreach.delivery.qp import BodyTemplate, qp
from outreach.dkim import DkimSigner, TemplateSigner, check_alignment
from outreach.errors import ConfigError, PermanentDeliveryError, SubscriptionError
from outreach.errors import msg as _msg
from outreach.render import CONTACT_NAME, PREFERENCES_URL, UNSUBSCRIBE_URL
from outreach.settings import Settings
from outreach.tokens import make_token
from outreach.validation import ascii_address
from outreach.verp import return_path

_PLACEHOLDER = re.compile(f"({UNSUBSCRIBE_URL}|{PREFERENCES_URL}|{CONTACT_NAME})")
_TEXT_SLOT = "@@OUTREACH-TEXT-BODY-SLOT@@"
_HTML_SLOT = "@@OUTREACH-HTML-BODY-SLOT@@"
_POLICY = policy.SMTP.clone(max_line_length=78)
CRLF = "\r\n"
_ONE_LINE = re.compile(r"[\r\n\x00]+")
_MESSAGE_ID = re.compile(r"^<[!#-;=?-~]+@[A-Za-z0-9.-]+>$")
_HEADER_URL = re.compile(r"^https?://[!#-;=?-~]+$")
_FEEDBACK_PART = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


_PLACEHOLDER_NAMES = (UNSUBSCRIBE_URL, PREFERENCES_URL, CONTACT_NAME)


def _dot_lines(data: bytes) -> bool:
    """Whether a line of ``data`` starts with "." (taken to start a line itself)."""
    return data[:1] == b"." or b"\n." in data


class Rendered(Protocol):
    """What :func:`outreach.render.render_issue` returns (RenderedMessage)."""

    @property
    def lang(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def html(self) -> str: ...
    @property
    def text(self) -> str: ...


def one_line(value: str) -> str:
    """``value`` with CR, LF and NUL replaced by single spaces."""
    return _ONE_LINE.sub(" ", value).strip()


def check_address(address: str) -> str:
    """``address`` as a plain ASCII mailbox; raises PermanentDeliveryError.

    An internationalised domain is encoded with IDNA 2008
    (:func:`outreach.validation.ascii_address`): ``user@faß.de`` goes to
    ``user@xn--fa-hia.de``, never to ``user@fass.de``.
    """
    if not address.isascii():
        try:
            address = ascii_address(address)
        except SubscriptionError:
            raise PermanentDeliveryError(f"not a valid email address: {address[:80]!r}") from None
    if len(address) > 254 or not EMAIL_RE.match(address):
        raise PermanentDeliveryError(f"not a valid email address: {address[:80]!r}")
    return address


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower()


def verp_address(bounce: str, recipient: str) -> str:
    """``bounces@ex.org`` + ``a@b.fi`` → ``bounces+a=b.fi@ex.org`` (VERP)."""
    local, _, domain = check_address(bounce).partition("@")
    return f"{local}+{check_address(recipient).replace('@', '=')}@{domain}"


def feedback_id(*parts: str) -> str:
    """The ``Feedback-ID`` value ``a:b:c:SenderId`` of Gmail's feedback loop.

    Each part must be a short token without a colon; the last names the sender.
    """
    for part in parts:
        if not _FEEDBACK_PART.match(part):
            raise ConfigError(f"Feedback-ID part {part[:80]!r} must be 1-64 of A-Z a-z 0-9 . _ -")
    return ":".join(parts)


def _text_header(name: str, value: str) -> str:
    """``Name: value`` CRLF-terminated, RFC 2047 encoded and folded when not ASCII."""
    if value.isascii() and len(value) + len(name) < 990:
        return f"{name}: {value}\r\n"
    return f"{name}: {Header(value, 'utf-8', header_name=name).encode(linesep=CRLF)}\r\n"


def _address_header(name: str, display_name: str, address: str) -> str:
    if not display_name:
        return f"{name}: {address}\r\n"
    # One encoded word for the whole display name: decoders (Python's among
    # them) may put a space between adjacent encoded words of a phrase.
    return f"{name}: {formataddr((display_name, address), charset='utf-8')}\r\n"


@dataclass(frozen=True)
class Recipient:
    """Per-recipient values; only ``to`` reaches a header, after validation."""

    to: str
    message_id: str
    unsubscribe_url: str
    preferences_url: str
    contact_name: str = ""
    #: The values of a template's own placeholders (``MessageTemplate(slots=…)``),
    #: e.g. a confirmation mail's link: as they are in the text part, HTML-escaped
    #: in the HTML part, like the links above.
    values: Mapping[str, str] = field(default_factory=dict)


def fill_values(r: Recipient) -> tuple[dict[str, str], dict[str, str]]:
    """What each placeholder becomes for ``r``: in the text part, in the HTML part.

    The name slot is a space and the name on one line, or nothing, so the
    greeting reads "Hei Maija," or "Hei,".
    """
    name = one_line(r.contact_name)
    text = {
        UNSUBSCRIBE_URL: r.unsubscribe_url,
        PREFERENCES_URL: r.preferences_url,
        CONTACT_NAME: f" {name}" if name else "",
        **r.values,
    }
    return text, {k: html.escape(v) for k, v in text.items()}


def personalise(rendered: Rendered, r: Recipient) -> tuple[str, str]:
    """The HTML and text of ``rendered`` as ``r`` gets them (the same values the
    send fills in, before transfer encoding)."""
    text_values, html_values = fill_values(r)
    html_part = _PLACEHOLDER.sub(lambda m: html_values[m[1]], rendered.html)
    return html_part, _PLACEHOLDER.sub(lambda m: text_values[m[1]], rendered.text)


class MessageTemplate:
    """One language's message, serialised once; :meth:`fill` makes each recipient's copy.

    ``slots`` names placeholders of this template beyond the three of an issue
    (``@@NAME@@`` strings the rendered text and HTML carry, e.g. a confirmation
    mail's link); each recipient gives their values in ``Recipient.values``.
    """

    def __init__(
        self,
        sender: Sender,
        lang: str,
        rendered: Rendered,
        *,
        list_id: str | None = None,
        subject_prefix: str = "",
        verp: str | None = None,
        unsubscribe_mailto: str | None = None,
        date: datetime | None = None,
        dkim: DkimSigner | None = None,
        feedback: str | None = None,
        slots: Sequence[str] = (),
    ) -> None:
        slot_names = (*_PLACEHOLDER_NAMES, *slots)
        placeholder = (
            re.compile("(" + "|".join(map(re.escape, slot_names)) + ")") if slots else _PLACEHOLDER
        )
        self.sender_address = check_address(sender.address)
        self.domain = domain_of(sender.address)
        self.verp = check_address(verp) if verp else None
        self.unsubscribe_mailto = check_address(unsubscribe_mailto) if unsubscribe_mailto else None
        self.list_headers = list_id is not None
        msg = EmailMessage(policy=_POLICY)
        names: dict[str, str] = {str(k): v for k, v in sender.name.items()}
        name = one_line(names.get(lang) or next(iter(names.values()), ""))
        # From and Subject are encoded here rather than by the email package's
        # folder, which can insert a space between two encoded words inside a
        # quoted display name (a long "Järvenpää, …" would not round-trip).
        from_header = _address_header("From", name, self.sender_address)
        subject_header = _text_header("Subject", one_line(subject_prefix + rendered.subject))
        if sender.reply_to:
            msg["Reply-To"] = check_address(sender.reply_to)
        msg["Date"] = format_datetime(date or datetime.now(UTC))
        if list_id is not None:
            msg["List-Id"] = one_line(list_id)
            msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
            msg["Precedence"] = "bulk"
        if feedback is not None:
            msg["Feedback-ID"] = one_line(feedback)
        msg.set_content(_TEXT_SLOT, subtype="plain", charset="utf-8", cte="quoted-printable")
        msg.add_alternative(_HTML_SLOT, subtype="html", charset="utf-8", cte="quoted-printable")
        msg["Content-Language"] = one_line(lang)
        raw = msg.as_bytes(policy=_POLICY)
        head, rest = raw.split(_TEXT_SLOT.encode(), 1)
        head = (from_header + subject_header).encode("ascii") + head
        middle, tail = rest.split(_HTML_SLOT.encode(), 1)
        self.head, self.middle, self.tail = head, middle, tail
        # DKIM: the shared headers are hashed once; the body starts after the blank line.
        self.signer: TemplateSigner | None = None
        if dkim is not None:
            check_alignment(dkim.domain, self.sender_address)
            end = head.index(b"\r\n\r\n") + 2
            self.body_start = head[end + 2 :]
            self.signer = dkim.for_template(head[:end])
        self.text = BodyTemplate(rendered.text, placeholder)
        self.html = BodyTemplate(rendered.html, placeholder)
        # Whether a line of the message starts with "." (SMTP doubles it): a value goes
        # on a line of its own (soft breaks around it), so the message has such a line
        # if the fixed parts have one (filled with dot-free values) or a value does.
        dotless = dict.fromkeys(slot_names, b"x")
        text, html_body = self.text.fill_encoded(dotless), self.html.fill_encoded(dotless)
        self.dot_lines = _dot_lines(b"".join((head, text, middle, html_body, tail)))

    def fill(self, r: Recipient) -> OutgoingMessage:
        """Each recipient's copy; ``ValueError`` if an id or link is not header-safe."""
        to = check_address(r.to)
        mid = r.message_id
        if not _MESSAGE_ID.match(mid):
            raise ValueError(f"refusing Message-ID {mid[:80]!r}")
        header = f"To: {to}\r\nMessage-ID: {mid}\r\n"
        if self.list_headers:
            if not _HEADER_URL.match(r.unsubscribe_url):
                raise ValueError(f"refusing unsubscribe URL {r.unsubscribe_url[:80]!r}")
            unsub = f"<{r.unsubscribe_url}>"
            if self.unsubscribe_mailto:
                unsub += f",\r\n <mailto:{self.unsubscribe_mailto}?subject=unsubscribe>"
            header += f"List-Unsubscribe: {unsub}\r\n"
        text_values, html_values = fill_values(r)
        # Each value encoded once: links are the same in both parts (nothing to escape).
        text_encoded = {k: qp(v) for k, v in text_values.items()}
        html_encoded = {
            k: text_encoded[k] if v == text_values[k] else qp(v) for k, v in html_values.items()
        }
        text = self.text.fill_encoded(text_encoded)
        html_body = self.html.fill_encoded(html_encoded)
        recipient_headers = header.encode("ascii")
        data = b"".join((recipient_headers, self.head, text, self.middle, html_body, self.tail))
        # The recipient's header lines start with a name or a space; each value starts
        # a line of its own.
        dot_lines = (
            self.dot_lines
            or any(_dot_lines(text_encoded[name]) for name in self.text.names)
            or any(_dot_lines(html_encoded[name]) for name in self.html.names)
        )
        if self.signer is not None:
            body = (self.body_start, text, self.middle, html_body, self.tail)
            signature = self.signer.sign(recipient_headers, body)
            data = signature + data
            dot_lines = dot_lines or _dot_lines(signature)
        envelope = verp_address(self.verp, to) if self.verp else self.sender_address
        return OutgoingMessage(envelope, [to], data, mid, dot_lines)


class IssueMessages:
    """Builds every recipient's message of one issue language (tokens, links, ids)."""

    def __init__(
        self,
        settings: Settings,
        config: Config,
        *,
        city_slug: str,
        campaign_slug: str,
        issue_id: int,
        lang: str,
        rendered: Rendered,
        mail_url: str,
        subject_prefix: str = "",
    ) -> None:
        city = config.cities[city_slug]
        options = split_message_options(mail_url)
        campaign = config.campaigns.get(campaign_slug)
        kind = campaign.kind if campaign is not None else "campaign"
        self.template = MessageTemplate(
            city.sender,
            lang,
            rendered,
            list_id=f"<{campaign_slug}.{city_slug}.outreach>",
            subject_prefix=subject_prefix,
            verp=options.get("verp") or None,
            unsubscribe_mailto=options.get("unsubscribe_mailto") or None,
            dkim=city_signer(settings, city),
            # campaign : city : kind : sender id (the sender's domain), once per language
            feedback=feedback_id(campaign_slug, city_slug, kind, domain_of(city.sender.address)),
        )
        base = one_line(settings.base_url_clean)
        if not _HEADER_URL.match(base):  # it goes into List-Unsubscribe: ASCII only
            raise ConfigError(_msg("OUTREACH_BASE_URL {url} is not an http(s) URL"), url=repr(base))
        self.base = base
        self.secret = settings.secret()
        self.issue_id = issue_id
        self.domain = self.template.domain
        bounce = city.sender.bounce_address or settings.bounce_address
        self.bounce = check_address(bounce) if bounce else None

    def message_id(self, subscriber_id: int) -> str:
        return f"<issue-{self.issue_id}.sub-{subscriber_id}@{self.domain}>"

    def build(
        self,
        *,
        email: str,
        subscriber_id: int,
        subscription_id: int,
        token_salt: str,
        contact_name: str | None = None,
        delivery_id: int | None = None,
    ) -> OutgoingMessage:
        now = datetime.now(UTC)  # one issue time for both tokens
        unsub = make_token(self.secret, "unsubscribe", subscription_id, token_salt, now=now)
        prefs = make_token(self.secret, "preferences", subscription_id, token_salt, now=now)
        message = self.template.fill(
            Recipient(
                to=email,
                message_id=self.message_id(subscriber_id),
                unsubscribe_url=f"{self.base}/unsubscribe/{unsub}",
                preferences_url=f"{self.base}/preferences/{prefs}",
                contact_name=contact_name or "",
            )
        )
        if self.bounce is None or delivery_id is None:
            return message
        # A signed VERP return path names the delivery (outreach.verp).
        return replace(message, envelope_from=return_path(self.secret, self.bounce, delivery_id))

    def build_test(self, email: str) -> OutgoingMessage:
        """A test copy: working-looking links that no token validates, a fresh Message-ID."""
        return self.template.fill(
            Recipient(
                to=email,
                message_id=f"<test-{uuid.uuid4().hex}@{self.domain}>",
                unsubscribe_url=f"{self.base}/unsubscribe/test",
                preferences_url=f"{self.base}/preferences/test",
            )
        )


def build_transactional(
    sender: Sender, lang: str, to: str, rendered: Rendered, *, dkim: DkimSigner | None = None
) -> OutgoingMessage:
    """A one-off message (e.g. the subscription confirmation): no list headers."""
    template = MessageTemplate(sender, lang, rendered, dkim=dkim)
    domain = template.domain
    return template.fill(
        Recipient(
            to=to,
            message_id=f"<{uuid.uuid4().hex}@{domain}>",
            unsubscribe_url="",
            preferences_url="",
        )
    )


def city_signer(settings: Settings, city: CityConfig) -> DkimSigner | None:
    """The city's DKIM identity: its ``sender.dkim``, else the ``OUTREACH_DKIM_*`` settings.

    None when neither is configured. The settings' domain must align with the
    city's From domain (ConfigError otherwise: give that city its own
    ``sender.dkim``).
    """
    own = city.sender.dkim
    if own is not None:
        return DkimSigner.load(own.selector, own.domain, own.key_file)
    if settings.dkim_key_file is None:
        return None
    try:
        check_alignment(settings.dkim_domain, city.sender.address)
    except ConfigError as exc:
        raise ConfigError(
            _msg(
                "OUTREACH_DKIM_DOMAIN does not fit city {city}: {error} "
                "(or give the city its own sender.dkim)"
            ),
            city=city.slug,
            error=exc,
        ) from None
    return DkimSigner.load(settings.dkim_selector, settings.dkim_domain, settings.dkim_key_file)


def city_mail_url(settings: Settings, config: Config, city_slug: str) -> str:
    """The city's own mail URL if it has one, else ``OUTREACH_MAIL_URL``."""
    city = config.cities.get(city_slug)
    if city is None:
        known = ", ".join(sorted(config.cities)) or "none"
        raise ConfigError(_msg('no city "{city}" (known: {known})'), city=city_slug, known=known)
    return city.mail_url or settings.mail_url


def send_transactional(
    settings: Settings, config: Config, city_slug: str, to: str, rendered: Rendered
) -> SendResult:
    """Send one message through the city's backend; an invalid address is permanent."""
    city = config.cities.get(city_slug)
    url = city_mail_url(settings, config, city_slug)
    assert city is not None
    signer = city_signer(settings, city)
    try:
        message = build_transactional(city.sender, rendered.lang, to, rendered, dkim=signer)
    except PermanentDeliveryError as exc:
        return SendResult("permanent", str(exc))
    with get_backend(url) as backend:
        return backend.send_messages([message])[0]


def send_batch(url: str, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
    """Open the backend of ``url``, send ``messages``, close it."""
    with get_backend(url) as backend:
        return backend.send_messages(messages)
