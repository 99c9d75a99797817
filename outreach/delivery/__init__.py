"""The delivery stage: outbox rows, per-recipient messages, workers and mail backends.

Other stages import from here:

- :func:`outreach.delivery.outbox.start_outbox` starts an issue's send: fixes its
  audience and writes its outbox (on PostgreSQL the first slice, the rest while sending),
- :func:`outreach.delivery.send.send_issue` sends it (crash-safe, resumable),
- :func:`outreach.delivery.transactional.send_mail` sends one transactional mail
  (:func:`confirmation_mailer` is the subscriptions stage's real mailer),
- :func:`outreach.delivery.backends.get_backend` opens a backend from a mail URL.
"""

from outreach.delivery.audience import audience_query
from outreach.delivery.base_url import require_base_url
from outreach.delivery.held import tell_approvers
from outreach.delivery.message import (
    IssueMessages,
    city_mail_url,
    city_signer,
    domain_of,
    send_transactional,
)
from outreach.delivery.outbox import (
    cancel_issue,
    enqueue_issue,
    failures,
    issue_counts,
    issues_counts,
    pause_issue,
    resume_issue,
    start_outbox,
)
from outreach.delivery.overview import IssueOverview, issue_overview
from outreach.delivery.preview import preview
from outreach.delivery.progress import progress_reporter
from outreach.delivery.send import SendReport, send_issue, send_test
from outreach.delivery.stories import DigestResult, story_digests, tell_rejected
from outreach.delivery.transactional import confirmation_mailer, deliver, send_mail

__all__ = [
    "DigestResult",
    "IssueMessages",
    "IssueOverview",
    "SendReport",
    "audience_query",
    "cancel_issue",
    "city_mail_url",
    "city_signer",
    "confirmation_mailer",
    "deliver",
    "domain_of",
    "enqueue_issue",
    "failures",
    "issue_counts",
    "issue_overview",
    "issues_counts",
    "pause_issue",
    "preview",
    "progress_reporter",
    "require_base_url",
    "resume_issue",
    "send_issue",
    "send_mail",
    "send_test",
    "send_transactional",
    "start_outbox",
    "story_digests",
    "tell_approvers",
    "tell_rejected",
]
