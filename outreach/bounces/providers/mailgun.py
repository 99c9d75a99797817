"""Mailgun's webhooks (``/hooks/mailgun``).

Every call carries ``signature: {timestamp, token, signature}``, the hex
HMAC-SHA256 of ``timestamp + token`` under the webhook signing key. A call is
accepted only if the signature matches, the timestamp is within
:data:`WINDOW` seconds of now, and its token was not seen before (the caller
spends it). ``event-data`` maps to one :class:`MailEvent`: ``failed`` with
severity ``permanent``/``temporary`` is a hard/soft bounce, ``complained``,
``unsubscribed`` and ``delivered`` map to their namesakes.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from outreach.bounces.events import EventKind, MailEvent
from outreach.bounces.providers.base import WebhookRefused
from outreach.settings import Settings

WINDOW = 300  # seconds either side of now

_KINDS = {
    "complained": EventKind.COMPLAINED,
    "unsubscribed": EventKind.UNSUBSCRIBED,
    "delivered": EventKind.DELIVERED,
}


def verify(settings: Settings, payload: dict[str, Any], now: float) -> str:
    """The call's single-use token if it is signed right and fresh."""
    key = settings.mailgun_webhook_key
    if key is None or not key.get_secret_value():
        raise WebhookRefused("the Mailgun webhook signing key is not configured")
    sig = payload.get("signature")
    if not isinstance(sig, dict):
        raise WebhookRefused("no signature")
    timestamp, token, signature = (str(sig.get(k, "")) for k in ("timestamp", "token", "signature"))
    if not timestamp.isdigit() or not token or len(token) > 200 or len(signature) != 64:
        raise WebhookRefused("malformed signature")
    expected = hmac.new(
        key.get_secret_value().encode(), (timestamp + token).encode(), hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected, signature.lower()):
        raise WebhookRefused("bad signature")
    if abs(now - int(timestamp)) > WINDOW:
        raise WebhookRefused("timestamp outside the window")
    return "mailgun:" + token


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def events(payload: dict[str, Any]) -> list[MailEvent]:
    data = payload.get("event-data")
    if not isinstance(data, dict):
        return []
    name = str(data.get("event", ""))
    hard = False
    if name == "failed":
        hard = str(data.get("severity", "")) == "permanent"
        kind = EventKind.BOUNCED
    elif name in _KINDS:
        kind = _KINDS[name]
    else:
        return []
    message = _dict(data.get("message"))
    mid = str(_dict(message.get("headers")).get("message-id", "")).strip().strip("<>")
    status = _dict(data.get("delivery-status"))
    return [
        MailEvent(
            kind,
            str(data.get("recipient", "")).lower() or None,
            hard,
            str(status.get("enhanced-code") or status.get("code") or "") or None,
            str(status.get("description") or status.get("message") or "")[:500] or None,
            f"<{mid}>" if mid else None,
            None,
            "mailgun:" + str(data.get("id", "")),
        )
    ]
