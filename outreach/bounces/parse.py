"""Bounce and complaint reports to :class:`~outreach.bounces.events.MailEvent`.

In order of trust:

1. ``multipart/report; report-type=feedback-report`` (ARF, RFC 5965): one
   ``complained`` event for the original recipient.
2. ``multipart/report; report-type=delivery-status`` (DSN, RFC 3464): one
   event per recipient block — ``Action: failed`` is a bounce (hard for
   status 5.x.x, or a 5xx reply code where a server wrote one instead),
   ``delayed`` is deferred, ``delivered``/``relayed`` delivered. The same
   for a ``message/delivery-status`` part inside another multipart. A
   report whose status part names no recipient goes on to 3.
3. Anything else goes to flufl.bounce, GNU Mailman's detector of the many
   non-standard bounce formats real servers send: its permanent failures are
   hard bounces, its temporary ones soft.
4. Auto-replies and out-of-office answers (``Auto-Submitted: auto-replied``,
   ``X-Autoreply``, ``Precedence: auto_reply``, fi/sv/en subjects) and read
   receipts yield nothing, unless flufl.bounce reads a permanent failure in
   them: some servers send their bounces as plain mail marked
   ``Auto-Submitted: auto-replied``, and an absence notice is never a
   permanent failure of delivery. A delivery-status or feedback report is
   never an auto-reply, whatever its headers say: Postfix, Gmail and Exchange
   mark their DSNs ``Auto-Submitted: auto-replied`` (RFC 3834), and their soft
   bounces and delays count as such.

A recipient reported twice in one message is one event.

The original Message-ID is taken from the returned message or headers part
(``message/rfc822``, ``text/rfc822-headers``), so the event names the
delivery even when the report did not come back through a VERP address.
"""

from __future__ import annotations

import email
import hashlib
import logging
import re
from email import policy
from email.message import Message
from email.utils import getaddresses

from flufl.bounce import all_failures

from outreach.bounces.events import EventKind, MailEvent

_AUTO_SUBJECT = re.compile(
    r"^\s*(auto(matic)?[ -]?(reply|response|svar)|out of (the )?office|abwesend"
    r"|poissa|lomalla|automaattinen vastaus|ei toimistolla|poissaoloilmoitus"
    r"|frånvar|fr[aå]nvaro|autosvar|automatiskt svar|semester"
    # "Olen lomalla 7.12. asti", "Jag är på semester", "I am on leave"
    r"|(olen|jag är|i am|i'm)\s+(nyt\s+|currently\s+)?(vuosi)?(lomalla|poissa|på semester"
    r"|ledig|borta|tjänstledig|away|on (vacation|holiday|leave)|out of (the )?office))",
    re.IGNORECASE,
)
#: The reports read as such (RFC 3464, RFC 5965): whatever their other headers
#: say, they are no auto-reply. (Servers mark their DSNs ``Auto-Submitted:
#: auto-replied`` as RFC 3834 asks: Postfix, Gmail and Exchange all do.)
_REPORT_TYPES = ("delivery-status", "feedback-report")
# flufl.bounce logs a traceback for every detector that trips over a message
# it was not written for; a message no detector recognises is reported instead.
logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)

_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_REPLY_CODE = re.compile(r"^\s*([245])\d\d\b")  # "553 Exceeded …" where a status belongs
_MAX_EVENTS = 100
_QUOTED_MID = re.compile(r"^Message-ID:\s*(<[^<>\s]{1,250}>)", re.IGNORECASE | re.MULTILINE)


def message_from_bytes(data: bytes) -> Message:
    return email.message_from_bytes(data, policy=policy.compat32)


def report_id(msg: Message, data: bytes) -> str:
    """The report's identity: its own Message-ID, else a hash of its bytes."""
    mid = str(msg.get("Message-ID", "")).strip()
    if mid:
        return "mid:" + mid
    return "sha256:" + hashlib.sha256(data).hexdigest()


def is_auto_reply(msg: Message) -> bool:
    """An auto-reply or out-of-office answer (RFC 3834 and the usual other marks),
    or a read receipt (RFC 8098); never a delivery-status or feedback report."""
    if _is_report(msg):
        return False
    if _report_type(msg) == "disposition-notification":
        return True
    auto = str(msg.get("Auto-Submitted", "")).strip().lower()
    if auto.startswith("auto-replied"):
        return True
    if msg.get("X-Autoreply") or msg.get("X-Autorespond"):
        return True
    if str(msg.get("Precedence", "")).strip().lower() == "auto_reply":
        return True
    return bool(_AUTO_SUBJECT.match(_decoded(msg.get("Subject", ""))))


def parse(data: bytes, *, return_path: str | None = None) -> list[MailEvent]:
    """Every event of one incoming message; [] for auto-replies and other mail."""
    msg = message_from_bytes(data)
    rid = report_id(msg, data)
    report_type = _report_type(msg)
    if msg.get_content_type() == "multipart/report" and report_type == "feedback-report":
        events = _arf(msg)
    elif report_type == "delivery-status" or any(
        part.get_content_type() == "message/delivery-status" for part in msg.walk()
    ):  # a report, or a status part a server put in some other multipart
        events = _dsn(msg) or _flufl(msg)
    else:
        events = _flufl(msg)
    if is_auto_reply(msg):
        events = [e for e in events if e.kind is EventKind.BOUNCED and e.hard]
    unique: dict[tuple[EventKind, str | None], MailEvent] = {}
    for e in events:
        unique.setdefault((e.kind, e.recipient), e)
    return [
        MailEvent(
            e.kind, e.recipient, e.hard, e.status, e.diagnostic, e.message_id, return_path, rid
        )
        for e in list(unique.values())[:_MAX_EVENTS]
    ]


def _report_type(msg: Message) -> str:
    return str(msg.get_param("report-type", "", header="content-type")).strip().lower()


def _is_report(msg: Message) -> bool:
    """A delivery-status or feedback report, or a status part in another multipart."""
    if msg.get_content_type() == "multipart/report" and _report_type(msg) in _REPORT_TYPES:
        return True
    return any(part.get_content_type() == "message/delivery-status" for part in msg.walk())


def _decoded(value: object) -> str:
    try:
        return str(email.header.make_header(email.header.decode_header(str(value))))
    except (ValueError, LookupError, UnicodeError):
        return str(value)


def _address(value: str | None) -> str | None:
    """``rfc822; a@b.fi`` or ``<a@b.fi>`` → ``a@b.fi``."""
    if not value:
        return None
    text = value.split(";", 1)[1] if ";" in value else value
    addresses = [a for _, a in getaddresses([text.strip()]) if "@" in a]
    return addresses[0].strip().lower() if addresses else None


def _original_headers(msg: Message) -> Message | None:
    """The returned message (or its headers) a report quotes."""
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype in ("message/rfc822", "message/global"):
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                return inner[0]
        if ctype in ("text/rfc822-headers", "text/global-headers"):
            raw = part.get_payload(decode=True)
            if isinstance(raw, bytes):
                return message_from_bytes(raw)
    return None


def _message_id(original: Message | None) -> str | None:
    if original is None:
        return None
    mid = str(original.get("Message-ID", "")).strip()
    return mid or None


def _status_fields(msg: Message, ctype: str) -> list[Message]:
    """The field groups of a ``message/delivery-status`` or ``feedback-report`` part."""
    for part in msg.walk():
        if part.get_content_type() != ctype:
            continue
        payload = part.get_payload()
        if isinstance(payload, list):  # the email package parsed the groups already
            return [p for p in payload if isinstance(p, Message)]
        raw = part.get_payload(decode=True)
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(payload)
        blocks = re.split(r"\r?\n\s*\r?\n", text.strip())
        return [email.message_from_string(b + "\n", policy=policy.compat32) for b in blocks]
    return []


def _dsn(msg: Message) -> list[MailEvent]:
    groups = _status_fields(msg, "message/delivery-status")
    mid = _message_id(_original_headers(msg))
    events = []
    for group in groups[1:]:  # the first group is per-message
        recipient = _address(group.get("Original-Recipient")) or _address(
            group.get("Final-Recipient")
        )
        action = (str(group.get("Action", "")).lower().split() or [""])[0]
        status_text = str(group.get("Status", ""))
        status_match = _STATUS.search(status_text) or _REPLY_CODE.match(status_text)
        status = status_match.group(0).strip() if status_match else None
        diagnostic = " ".join(str(group.get("Diagnostic-Code", "")).split()) or None
        if action in ("failed", "failure"):
            hard = status is None or status.startswith("5")
            kind = EventKind.BOUNCED
        elif action == "delayed":
            hard, kind = False, EventKind.DEFERRED
        elif action in ("delivered", "relayed", "expanded"):
            hard, kind = False, EventKind.DELIVERED
        else:
            continue
        events.append(MailEvent(kind, recipient, hard, status, diagnostic, mid))
    return events


def _arf(msg: Message) -> list[MailEvent]:
    groups = _status_fields(msg, "message/feedback-report")
    fields = groups[0] if groups else Message()
    original = _original_headers(msg)
    recipient = _address(fields.get("Original-Rcpt-To"))
    if recipient is None and original is not None:
        recipient = _address(str(original.get("To", "")))
    feedback = str(fields.get("Feedback-Type", "abuse")).strip().lower()
    kind = EventKind.UNSUBSCRIBED if feedback == "opt-out" else EventKind.COMPLAINED
    return [MailEvent(kind, recipient, False, None, feedback, _message_id(original))]


def _quoted_message_id(msg: Message) -> str | None:
    """A Message-ID quoted in the plain text of a non-standard bounce."""
    for part in msg.walk():
        if part.get_content_maintype() != "text":
            continue
        raw = part.get_payload(decode=True)
        if isinstance(raw, bytes):
            found = _QUOTED_MID.search(raw.decode("utf-8", "replace"))
            if found:
                return found.group(1)
    return None


def _flufl(msg: Message) -> list[MailEvent]:
    try:
        temporary, permanent = all_failures(msg)
    except Exception:  # a third-party heuristic on hostile input: never fatal
        return []
    mid = _message_id(_original_headers(msg)) or _quoted_message_id(msg)
    events = []
    for addresses, hard in ((permanent, True), (temporary - permanent, False)):
        for raw in sorted(addresses):
            text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
            address = _address(text)
            if address:
                events.append(MailEvent(EventKind.BOUNCED, address, hard, None, None, mid))
    return events
