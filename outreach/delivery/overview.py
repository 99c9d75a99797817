"""``outreach issue show``: one issue at a glance, in the staff's language.

Times are shown in the city's time zone in the reader's conventions; the
audience is the fixed outbox once the send has started, else who would get
the issue now; the content is summarised per language, with the languages
that are skipped or sent as another language's version (``when_empty``), and
listed per section: each item's id (what ``outreach issue move|drop|pin|edit-item``
take), title, an event's local time, and whether it is pinned, added or edited
by hand, cancelled or postponed.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outreach.campaigns import Config
from outreach.delivery.audience import audience_query
from outreach.delivery.outbox import failures, issue_counts
from outreach.issues import edition_summary, fixed_audience, history, send_as
from outreach.l10n import (
    format_datetime,
    format_event_time,
    gettext_for,
    ngettext_for,
    version_name,
)
from outreach.models import ISSUE_FINISHED, Delivery, Issue
from outreach.settings import Settings
from outreach.suppression import prepare_connection, suppression_key


def _(message: str) -> str:
    """Mark a ``cli`` msgid that is translated later, where it is shown."""
    return message


#: How an event of the issue's history reads.
ACTIONS = {
    "built": _("built"),
    "rebuilt": _("rebuilt"),
    "approved": _("approved"),
    "discarded": _("discarded"),
    "send": _("send started"),
}
#: How long a draft's audience count is reused (the console asks for it on every view;
#: counting a large city's mailable subscribers takes a while).
AUDIENCE_SECONDS = 60.0
_audiences: dict[tuple[object, ...], tuple[float, dict[str, int]]] = {}
_audience_lock = threading.Lock()
ORIGINS = {"manual": _("with `issue send`"), "scheduled": _("on the campaign's schedule")}
#: The marks of a listed item, in the order shown.
MARKS = {
    "pinned": _("pinned"),
    "manual": _("added by hand"),
    "edited": _("edited by hand"),
    "cancelled": _("cancelled"),
    "postponed": _("postponed"),
}


@dataclass(frozen=True)
class ListedItem:
    """An item of a section as ``outreach issue show`` lists it."""

    id: int
    title: str
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    all_day: bool = False
    ends_date_only: bool = False
    marks: tuple[str, ...] = ()  # keys of MARKS

    def line(self, lang: str, timezone: str) -> str:
        text = f"{self.id:>6}  {self.title}"
        if self.starts_at is not None:
            when = format_event_time(
                self.starts_at,
                self.ends_at,
                lang,
                timezone,
                all_day=self.all_day,
                end_date_only=self.ends_date_only,
            )
            text += f" ({when})"
        if self.marks:
            text += " [" + ", ".join(gettext_for(lang, "cli", MARKS[m]) for m in self.marks) + "]"
        return text


@dataclass
class IssueOverview:
    id: int
    kind: str  # newsletter | announcement
    campaign: str
    period: str
    status: str
    timezone: str
    subjects: dict[str, str]
    built_at: datetime | None
    approved_at: datetime | None
    approved_by: str | None
    send_started_at: datetime | None
    sent_at: datetime | None
    audience: dict[str, int]  # recipients per language of the version they get
    audience_fixed: bool  # the outbox is written: these are the deliveries
    contents: dict[str, list[tuple[str, int]]]
    send_as: dict[str, str | None]
    listing: dict[str, list[tuple[str, list[ListedItem]]]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    failures: list[tuple[str, str | None]] = field(default_factory=list)
    events: list[tuple[datetime, str, str, str | None]] = field(default_factory=list)

    def lines(self, lang: str = "en") -> list[str]:
        def at(moment: datetime) -> str:
            return format_datetime(moment, lang, self.timezone)

        out = [f"issue {self.id}: {self.campaign} {self.period} [{self.status}]"]
        for code, subject in self.subjects.items():
            out.append("  " + gettext_for(lang, "cli", "subject ({lang}): {subject}").format(
                lang=code, subject=subject
            ))  # fmt: skip
        if self.built_at:
            out.append("  " + gettext_for(lang, "cli", "built {at}").format(at=at(self.built_at)))
        if self.approved_at:
            out.append(
                "  "
                + gettext_for(lang, "cli", "approved {at} by {by}").format(
                    at=at(self.approved_at), by=self.approved_by or "?"
                )
            )
        if self.send_started_at:
            out.append(
                "  "
                + gettext_for(lang, "cli", "send started {at}").format(at=at(self.send_started_at))
            )
        if self.sent_at:
            out.append("  " + gettext_for(lang, "cli", "sent {at}").format(at=at(self.sent_at)))
        total = sum(self.audience.values())
        parts = ", ".join(f"{code} {n}" for code, n in sorted(self.audience.items()))
        if self.audience_fixed:
            template = ngettext_for(
                lang,
                "cli",
                "audience: {n} recipient ({parts})",
                "audience: {n} recipients ({parts})",
                total,
            )
        else:
            template = ngettext_for(
                lang,
                "cli",
                "audience if sent now: {n} recipient ({parts})",
                "audience if sent now: {n} recipients ({parts})",
                total,
            )
        out.append("  " + template.format(n=total, parts=parts or "-"))
        out.append("  " + gettext_for(lang, "cli", "content:"))
        for code, sections in self.contents.items():
            items = sum(n for _title, n in sections)
            shown = ", ".join(f"{title} {n}" for title, n in sections)
            target = self.send_as.get(code, code)
            if self.kind == "announcement":
                note = gettext_for(lang, "cli", "the announcement's text")
            elif target is None:
                note = gettext_for(
                    lang, "cli", "skipped: no items in this language, its readers get no issue"
                )
            elif target != code:
                note = gettext_for(lang, "cli", "no items in this language; its readers get {to}")
                note = note.format(to=version_name(target, lang))
            else:
                note = ngettext_for(lang, "cli", "{n} item", "{n} items", items).format(n=items)
            out.append(f"    {code}: {note}" + (f" ({shown})" if shown else ""))
            for title, listed in self.listing.get(code, []):
                if listed:
                    out.append(f"      {title}:")
                    out.extend(f"      {item.line(lang, self.timezone)}" for item in listed)
        if self.status == "draft" and any(ls for secs in self.listing.values() for _t, ls in secs):
            hint = gettext_for(
                lang,
                "cli",
                "the number before a title is the item's id for "
                "`outreach issue move|drop|pin|edit-item {id} ITEM`",
            )
            out.append("  " + hint.format(id=self.id))
        out.append("  " + gettext_for(lang, "cli", "deliveries:"))
        for status, n in sorted(self.counts.items()):
            out.append(f"    {status:10} {n}")
        for email, reason in self.failures:
            out.append(
                "  "
                + gettext_for(lang, "cli", "failed {email}: {reason}").format(
                    email=email, reason=reason
                )
            )
        if self.events:
            out.append("  " + gettext_for(lang, "cli", "history:"))
        for moment, action, actor, detail in self.events:
            what = gettext_for(lang, "cli", ACTIONS.get(action, action))
            line = gettext_for(lang, "cli", "{at} {action} by {actor}").format(
                at=at(moment), action=what, actor=actor
            )
            if action == "send" and detail in ORIGINS:
                line += f", {gettext_for(lang, 'cli', ORIGINS[detail])}"
            elif detail:
                line += f" ({detail})"
            out.append(f"    {line}")
        return out


def _moment(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _listed(entry: dict[str, Any]) -> ListedItem:
    status = entry.get("event_status")
    flags = {"pinned": entry.get("pinned"), "manual": entry.get("manual"),
             "edited": entry.get("edited"), "cancelled": status == "cancelled",
             "postponed": status == "postponed"}  # fmt: skip
    return ListedItem(
        id=int(entry.get("id") or 0),
        title=str(entry.get("title") or ""),
        starts_at=_moment(entry.get("starts_at")),
        ends_at=_moment(entry.get("ends_at")),
        all_day=bool(entry.get("all_day")),
        ends_date_only=bool(entry.get("ends_date_only")),
        marks=tuple(key for key in MARKS if flags[key]),
    )


def listing(snapshot: dict[str, Any]) -> dict[str, list[tuple[str, list[ListedItem]]]]:
    """Per language: (section title, its items) of every section, in the issue's order."""
    return {
        lang: [
            (str(s.get("title") or s.get("id")), [_listed(e) for e in s.get("entries") or []])
            for s in data.get("sections") or []
        ]
        for lang, data in (snapshot.get("languages") or {}).items()
    }


def _audience(
    session: Session, settings: Settings, config: Config, issue: Issue
) -> tuple[dict[str, int], bool]:
    now = time.monotonic()
    done = issue.status in ISSUE_FINISHED
    with _audience_lock:
        kept = _audiences.get((settings.database_url, issue.id)) if done else None
    if kept is not None and now - kept[0] < AUDIENCE_SECONDS:
        return dict(kept[1]), True
    fixed = session.execute(
        select(Delivery.language, func.count())
        .where(Delivery.issue_id == issue.id)
        .group_by(Delivery.language)
    ).all()
    if fixed:
        found = {str(lang): int(n) for lang, n in fixed}
        if done:  # a finished send's recipients no longer change
            with _audience_lock:
                _audiences[(settings.database_url, issue.id)] = (now, found)
        return dict(found), True
    campaign = config.campaigns.get(issue.campaign.slug)
    if campaign is None:
        return {}, False
    chosen, languages = fixed_audience(issue.snapshot or {}, campaign)
    key = (settings.database_url, issue.id, issue.campaign.city_id, repr(chosen),
           tuple(languages), repr(send_as(issue.snapshot or {})))  # fmt: skip
    with _audience_lock:
        kept = _audiences.get(key)
    if kept is not None and now - kept[0] < AUDIENCE_SECONDS:
        return dict(kept[1]), False
    prepare_connection(session)
    query = audience_query(
        issue.campaign.city_id,
        chosen,
        languages,
        key=suppression_key(settings),
        send_as=send_as(issue.snapshot or {}),
    ).subquery()
    counts = Counter(
        {
            str(lang): int(n)
            for lang, n in session.execute(
                select(query.c.language, func.count()).group_by(query.c.language)
            )
        }
    )
    with _audience_lock:
        _audiences[key] = (now, dict(counts))
        for stale in [k for k, (at, _) in _audiences.items() if now - at >= AUDIENCE_SECONDS]:
            del _audiences[stale]
    return dict(counts), False


def issue_overview(
    session: Session, settings: Settings, config: Config, issue: Issue
) -> IssueOverview:
    """Everything ``outreach issue show`` prints about ``issue``."""
    snapshot = issue.snapshot or {}
    languages = snapshot.get("languages") or {}
    city = config.cities.get(issue.campaign.city.slug)
    timezone = city.timezone if city is not None else "Europe/Helsinki"
    audience, fixed = _audience(session, settings, config, issue)
    return IssueOverview(
        id=issue.id,
        kind=str(snapshot.get("kind") or "newsletter"),
        campaign=issue.campaign.slug,
        period=issue.period,
        status=issue.status.value,
        timezone=timezone,
        subjects={code: str(data.get("subject") or "") for code, data in languages.items()},
        built_at=issue.built_at,
        approved_at=issue.approved_at,
        approved_by=issue.approved_by,
        send_started_at=issue.send_started_at,
        sent_at=issue.sent_at,
        audience=audience,
        audience_fixed=fixed,
        contents=edition_summary(snapshot),
        send_as=send_as(snapshot),
        listing=listing(snapshot),
        counts={k: v for k, v in issue_counts(session, issue.id).items() if v or k == "total"},
        failures=failures(session, issue.id),
        events=[(e.created_at, e.action, e.actor, e.detail) for e in history(session, issue.id)],
    )
