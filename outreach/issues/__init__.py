"""Issues: assembly from content items, the content snapshot, and the state machine.

Rooms: :mod:`~outreach.issues.build` assembles an issue and its snapshot
(:mod:`~outreach.issues.snapshot`, items chosen by
:mod:`~outreach.issues.selection`, claimed per campaign by
:mod:`~outreach.issues.claims`, languages planned by
:mod:`~outreach.issues.editions`); :mod:`~outreach.issues.state` is the state
machine (``draft → approved → sending → sent``, paused, held, cancelled,
discarded), approval and look-ups; :mod:`~outreach.issues.hold` holds an
approved issue whose item was cancelled at the source;
:mod:`~outreach.issues.history` keeps what happened to an issue and who did it.

Other stages import what they need from here, and only from here.
"""

from outreach.issues.build import BuildResult, build_issue, default_period
from outreach.issues.carry import carry_edits
from outreach.issues.claims import release_issue_items
from outreach.issues.editing import (
    EditError,
    add_item,
    drop_item,
    edit_item,
    move_item,
    pin_item,
    recurring_dates,
    set_intro,
)
from outreach.issues.editions import audience_snapshot, fixed_audience, send_as
from outreach.issues.editions import summary as edition_summary
from outreach.issues.history import history, record_event, record_send_start, send_origins
from outreach.issues.hold import HoldNotice, cancelled_items, check_cancelled
from outreach.issues.links import item_of, register_links
from outreach.issues.schedule import (
    cancel_schedule,
    schedule_send,
    send_due_filter,
    waits_to_send,
)
from outreach.issues.selection import passes_rules
from outreach.issues.snapshot import city_snapshot, edited_subject
from outreach.issues.state import (
    TRANSITIONS,
    approve_issue,
    discard_issue,
    get_issue,
    list_issues,
    set_status,
)

__all__ = [
    "TRANSITIONS",
    "BuildResult",
    "EditError",
    "HoldNotice",
    "add_item",
    "approve_issue",
    "audience_snapshot",
    "body_html",
    "build_issue",
    "cancel_schedule",
    "cancelled_items",
    "carry_edits",
    "check_cancelled",
    "city_snapshot",
    "default_period",
    "discard_issue",
    "drop_item",
    "edit_item",
    "edited_subject",
    "edition_summary",
    "fixed_audience",
    "get_issue",
    "history",
    "item_of",
    "list_issues",
    "move_item",
    "passes_rules",
    "pin_item",
    "record_event",
    "record_send_start",
    "recurring_dates",
    "register_links",
    "release_issue_items",
    "schedule_send",
    "send_as",
    "send_due_filter",
    "send_origins",
    "set_intro",
    "set_status",
    "waits_to_send",
]
