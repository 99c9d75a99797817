"""The delivery stage: outbox rows, per-recipient messages, workers and mail backends.

Other stages import from here:

- :func:`outreach.delivery.outbox.enqueue_issue` fixes an issue's audience,
- :func:`outreach.delivery.worker.send_issue` sends it (crash-safe, resumable),
- :func:`outreach.delivery.message.send_transactional` sends one confirmation mail,
- :func:`outreach.delivery.backends.get_backend` opens a backend from a mail URL.
"""

from outreach.delivery.base_url import require_base_url
from outreach.delivery.held import tell_approvers
from outreach.delivery.message import send_transactional
from outreach.delivery.outbox import (
    cancel_issue,
    enqueue_issue,
    failures,
    issue_counts,
    pause_issue,
    resume_issue,
)
from outreach.delivery.overview import IssueOverview, issue_overview
from outreach.delivery.worker import SendReport, send_issue, send_test

__all__ = [
    "IssueOverview",
    "SendReport",
    "cancel_issue",
    "enqueue_issue",
    "failures",
    "issue_counts",
    "issue_overview",
    "pause_issue",
    "require_base_url",
    "resume_issue",
    "send_issue",
    "send_test",
    "send_transactional",
    "tell_approvers",
]
