"""The outbox: one Delivery row per recipient of an issue.

- :mod:`.enqueue` fills it (``enqueue_issue``: one ``INSERT … SELECT``, or
  slice by slice with ``fill_slice``) and
  holds its controls (pause, resume, cancel) and counts;
- :mod:`.rows` holds the statements a send runs on its rows (claim,
  re-check, renew, release, reclaim after a crash, the outcome statements);
- :mod:`.writer` writes each outcome before the next hand-over on its
  connection.
"""

from outreach.delivery.outbox.enqueue import (
    DELIVERIES,
    FIRST_SLICE_PER_WORKER,
    cancel_issue,
    enqueue_issue,
    failures,
    fill_slice,
    filled_through,
    issue_counts,
    issues_counts,
    pause_issue,
    resume_issue,
    slice_end,
    start_outbox,
)
from outreach.delivery.outbox.rows import IssueHalted, OutboxRows, process_id, reclaim_dead
from outreach.delivery.outbox.writer import OutcomeWriter, PgOutcomes, SqliteOutcomes

__all__ = [
    "DELIVERIES",
    "FIRST_SLICE_PER_WORKER",
    "IssueHalted",
    "OutboxRows",
    "OutcomeWriter",
    "PgOutcomes",
    "SqliteOutcomes",
    "cancel_issue",
    "enqueue_issue",
    "failures",
    "fill_slice",
    "filled_through",
    "issue_counts",
    "issues_counts",
    "pause_issue",
    "process_id",
    "reclaim_dead",
    "resume_issue",
    "slice_end",
    "start_outbox",
]
