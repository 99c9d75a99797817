"""The scheduler stage: ``outreach daemon``, ``outreach run-due`` and ``outreach status``.

The daemon drives fetch → build → [approve] → send on each campaign's cron (see
:mod:`outreach.scheduler.daemon`); ``run-due`` does one pass of the same work for
system cron (:mod:`outreach.scheduler.runs`); ``status`` reports it
(:mod:`outreach.scheduler.status`). Fire times live in
:mod:`outreach.scheduler.timing`, locks and leader election in
:mod:`outreach.scheduler.locks`. See docs/scheduler.md.
"""

from outreach.scheduler.daemon import (
    JOBS_TABLE,
    Daemon,
    DaemonOptions,
    daemon,
)
from outreach.scheduler.messages import Msg
from outreach.scheduler.pipeline import Pipeline, RunResult, StagePipeline
from outreach.scheduler.runs import PeriodicIntervals, RunOutcome, run_due
from outreach.scheduler.status import StatusReport, status
from outreach.scheduler.timing import next_runs

__all__ = [
    "JOBS_TABLE",
    "Daemon",
    "DaemonOptions",
    "Msg",
    "PeriodicIntervals",
    "Pipeline",
    "RunOutcome",
    "RunResult",
    "StagePipeline",
    "StatusReport",
    "daemon",
    "next_runs",
    "run_due",
    "status",
]
