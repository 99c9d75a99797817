"""The pre-flight check of an issue: what a careful editor looks at before approving.

One module per family of checks, each a function from what it reads to a list
of :class:`~outreach.checks.report.Finding`:

- :mod:`~outreach.checks.links`: every link and image answers (safe fetcher, cached);
- :mod:`~outreach.checks.content`: empty versions, thin sections, past events, doubles;
- :mod:`~outreach.checks.size`: Gmail's clipping, images, the plain-text part;
- :mod:`~outreach.checks.headers`: unsubscribe headers, domains, DKIM, address, subject;
- :mod:`~outreach.checks.spam`: SpamAssassin's score, when it is installed;
- :mod:`~outreach.checks.accessibility`: contrast, link texts, lang, headings, alt.

:func:`~outreach.checks.run.run_checks` runs them on every language version that goes out (a
version skipped or sent as another only gets its content finding);
:mod:`outreach.checks.flow` stores the report with the issue and uses it on
build, approve and automatic approval. The stage sits above issues, render,
delivery and sources, and below the CLI, the scheduler and the web app.
"""

from outreach.checks.flow import (
    MAX_AGE,
    Approval,
    CheckedBuild,
    approve_checked,
    build_checked,
    current_report,
    digest,
    save_report,
    stored_report,
)
from outreach.checks.report import ERROR, WARNING, Finding, Report
from outreach.checks.run import FAMILIES, run_checks

__all__ = [
    "ERROR",
    "FAMILIES",
    "MAX_AGE",
    "WARNING",
    "Approval",
    "CheckedBuild",
    "Finding",
    "Report",
    "approve_checked",
    "build_checked",
    "current_report",
    "digest",
    "run_checks",
    "save_report",
    "stored_report",
]
