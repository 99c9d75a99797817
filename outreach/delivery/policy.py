"""Policy refusals during a send: a burst from one provider pauses the send.

A receiving server that refuses our mail for who we are rather than for
whom it is addressed to — DMARC (``550 5.7.26``), a block list (``5.7.1``),
rate limiting (``421``, ``4.7.x``) — refuses the next recipients of that
provider just the same. Sending on would fail (and, for 5xx, suppress) one
good address after another and teach the provider that the city's domain
sends unwanted mail. So:

- a **policy refusal** (:func:`is_policy_refusal`) is a reply whose enhanced
  status code has the subject 7 ("security or policy status", RFC 3463:
  ``5.7.*``, ``4.7.*``), a ``421``, or a reply whose text names a block list,
  DMARC, reputation or a rate limit. It is never a hard bounce: the row is
  retried like a temporary failure and the address is not suppressed;
- the refusals are counted per receiving **provider** (the recipient's
  domain; the domains of the large mailbox providers count as one provider
  each), and ``policy_pause_refusals`` of them within
  ``policy_pause_window_seconds`` (settings) are a **burst**: every worker
  stops before its next hand-over, and ``send_issue`` pauses the issue
  (:mod:`outreach.delivery.burst`).
"""

from __future__ import annotations

import re
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from outreach.delivery.backends.base import SendResult
from outreach.l10n import format_decimal, gettext_for
from outreach.settings import Settings

_REPLY = re.compile(r"^(?:sender refused: )?([2-5]\d\d)[ -]?(?:([245])\.(\d{1,3})\.(\d{1,3}))?")
_POLICY_TEXT = re.compile(
    r"dmarc|spamhaus|block ?list|black ?list|blocked|reputation|rate.?limit|too many "
    r"(?:messages|mails|emails|connections|recipients)|throttl",
    re.IGNORECASE,
)

#: Domains that share one provider's infrastructure (and one reputation verdict).
PROVIDERS: dict[str, str] = {
    **dict.fromkeys(("gmail.com", "googlemail.com"), "google"),
    **dict.fromkeys(
        (
            "outlook.com",
            "hotmail.com",
            "live.com",
            "msn.com",
            "hotmail.fi",
            "live.fi",
            "outlook.fi",
        ),
        "microsoft",
    ),
    **dict.fromkeys(("yahoo.com", "ymail.com", "aol.com", "yahoo.fi", "rocketmail.com"), "yahoo"),
    **dict.fromkeys(("icloud.com", "me.com", "mac.com"), "apple"),
}


def is_policy_refusal(reply: str | None) -> bool:
    """Whether an SMTP reply refuses the sender (policy, reputation, rate), not the address."""
    if not reply:
        return False
    match = _REPLY.match(reply)
    if match is None or match[1][0] not in "45":
        return False
    if match[3] is not None:  # an enhanced status code decides
        return match[3] == "7"
    return match[1] == "421" or _POLICY_TEXT.search(reply) is not None


def provider_of(address: str) -> str:
    """The receiving provider of ``address``: a large provider's name, else the domain."""
    domain = address.rpartition("@")[2].lower()
    return PROVIDERS.get(domain, domain)


@dataclass
class PolicyBurst:
    """Policy refusals from one provider that paused a send."""

    provider: str
    refusals: int
    window_seconds: float
    reply: str
    #: Rows refused during the burst: due again at once when the send resumes.
    delivery_ids: list[int] = field(default_factory=list)
    told: int = 0  # approvers mailed

    def reason(self) -> str:
        """The issue event's detail (English, like the rest of the history)."""
        return (
            f"{self.refusals} policy refusals from {self.provider} within "
            f"{self.window_seconds:g} s: {self.reply}"
        )[:500]

    def line(self, lang: str, issue_id: int) -> str:
        """The command line's localised explanation."""
        return gettext_for(
            lang,
            "cli",
            "sending paused: {n} policy refusals from {provider} within {seconds} s "
            "({reply}); approvers told: {told}. Fix the cause, then run "
            "`outreach issue resume {id}` and `outreach issue send {id}`",
        ).format(
            n=self.refusals,
            provider=self.provider,
            seconds=format_decimal(self.window_seconds, lang, None),
            reply=self.reply[:200],
            told=self.told,
            id=issue_id,
        )


class PolicyWatch:
    """Counts one send's policy refusals per provider in a sliding window (thread-safe).

    ``threshold`` 0 turns pausing off; refusals are still retried, never suppressed.
    """

    def __init__(self, threshold: int, window_seconds: float) -> None:
        self.threshold = threshold
        self.window = timedelta(seconds=window_seconds)
        self.seen: dict[str, deque[datetime]] = {}
        self.refused: list[int] = []
        self.lock = threading.Lock()
        self.burst: PolicyBurst | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> PolicyWatch:
        return cls(settings.policy_pause_refusals, settings.policy_pause_window_seconds)

    def refusal(self, delivery_id: int, address: str, result: SendResult, now: datetime) -> bool:
        """Count ``result`` if it is a policy refusal (True); may start a burst."""
        if not is_policy_refusal(result.reply):
            return False
        provider = provider_of(address)
        with self.lock:
            self.refused.append(delivery_id)
            times = self.seen.setdefault(provider, deque())
            times.append(now)
            while times and now - times[0] > self.window:
                times.popleft()
            if self.threshold and len(times) >= self.threshold and self.burst is None:
                self.burst = PolicyBurst(
                    provider,
                    len(times),
                    self.window.total_seconds(),
                    result.reply or "",
                    delivery_ids=self.refused,
                )
        return True
