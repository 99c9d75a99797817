"""The bounces stage: the return path of every issue message.

Reports come in by three ways — :mod:`outreach.bounces.receiver` (SMTP/LMTP
for a Postfix transport), :mod:`outreach.bounces.imap` (a mailbox poller) and
the provider webhooks of :mod:`outreach.web.hooks` — are parsed to one
normalised :class:`MailEvent` (:mod:`outreach.bounces.parse`), and acted on
once each (:mod:`outreach.bounces.act`): a hard bounce suppresses the address,
soft bounces do after a threshold, a complaint unsubscribes from the city.
"""

from outreach.bounces.act import Outcome, process_events, process_message
from outreach.bounces.events import EventKind, MailEvent
from outreach.bounces.imap import PollReport, imap_configured, poll
from outreach.bounces.parse import parse
from outreach.bounces.providers import PROVIDERS, WebhookRefused
from outreach.bounces.rates import (
    Rates,
    issue_rates,
    issues_rates,
    rate_warnings,
    reported_issues,
    sent_counts,
    warnings_of,
)
from outreach.bounces.receiver import bounce_domains
from outreach.bounces.receiver import start as start_receiver

__all__ = [
    "PROVIDERS",
    "EventKind",
    "MailEvent",
    "Outcome",
    "PollReport",
    "Rates",
    "WebhookRefused",
    "bounce_domains",
    "imap_configured",
    "issue_rates",
    "issues_rates",
    "parse",
    "poll",
    "process_events",
    "process_message",
    "rate_warnings",
    "reported_issues",
    "sent_counts",
    "start_receiver",
    "warnings_of",
]
