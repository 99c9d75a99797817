"""The console editor's fields and a campaign document, both ways.

The editor shows a document as flat form fields (one per language for the
subject, a schedule as "first Tuesday of the month at 9.00" …) and turns the
posted fields back into a document. Keys the form does not show (``intro``,
``when_empty``, ``grace_minutes`` …) are kept from the document being edited,
so opening and saving a campaign changes nothing. Sections and their sources
are form fields too (:mod:`outreach.campaigns.form_sections`), named by their
key path in the document.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from outreach.campaigns.console import body_file, paths_meet
from outreach.campaigns.form_sections import (
    SectionView,
    section_views,
    sections_from_fields,
    view_fields,
)
from outreach.campaigns.schema import CRON_FIELDS, LANGUAGES

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
NTHS = ("1st", "2nd", "3rd", "4th", "5th", "last")
SCHEDULE_KINDS = ("monthly", "monthly_day", "weekly", "daily", "yearly", "once", "cron")
#: The placeholders a subject or preheader may use (the text sandbox's context).
PLACEHOLDERS = (
    "{{ issue.period_label }}",
    "{{ issue.number }}",
    "{{ issue.period }}",
    "{{ city.name }}",
)
_NTH_DAY = re.compile(rf"^({'|'.join(NTHS)}) ({'|'.join(WEEKDAYS)})$")

Fields = Mapping[str, str | Sequence[str]]


@dataclass
class EditorForm:
    """What the editor shows: flat values by field name, and the lists."""

    values: dict[str, str] = field(default_factory=dict)
    languages: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    size_classes: list[str] = field(default_factory=list)
    sections: list[SectionView] = field(default_factory=list)

    def fields(self) -> dict[str, str | list[str]]:
        """What a browser posts for this form as shown (the lists as lists)."""
        out: dict[str, str | list[str]] = dict(self.values)
        out |= {"languages": self.languages, "topics": self.topics,
                "size_classes": self.size_classes}  # fmt: skip
        out |= view_fields(self.sections)
        return out


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def schedule_fields(schedule: Mapping[str, Any] | None, send_at: Any = None) -> dict[str, str]:
    """A schedule as the editor's fields (``schedule_kind`` and its values)."""
    if schedule is None:
        return {"schedule_kind": "once", "send_at": str(send_at or "")[:16]}
    keys = {k for k, v in schedule.items() if v is not None}
    hour, minute = _int(schedule.get("hour")), _int(schedule.get("minute", 0))
    out = {"hour": str(hour if hour is not None else ""), "minute": f"{minute or 0:02d}"}
    day = schedule.get("day")
    timed = hour is not None and minute is not None
    if timed and keys <= {"day", "hour", "minute"} and isinstance(day, str):
        found = _NTH_DAY.match(day.strip())
        if found:
            return {**out, "schedule_kind": "monthly", "nth": found[1], "weekday": found[2]}
    if timed and keys <= {"day", "hour", "minute"} and _int(day) is not None:
        return {**out, "schedule_kind": "monthly_day", "day": str(_int(day))}
    dow = schedule.get("day_of_week")
    if timed and keys <= {"day_of_week", "hour", "minute"} and dow in WEEKDAYS:
        return {**out, "schedule_kind": "weekly", "weekday": str(dow)}
    if timed and keys <= {"hour", "minute"}:
        return {**out, "schedule_kind": "daily"}
    month = _int(schedule.get("month"))
    if timed and keys == {"month", "day", "hour"} | ({"minute"} & keys) and month and _int(day):
        return {**out, "schedule_kind": "yearly", "month": str(month), "day": str(_int(day))}
    cron = {f"cron_{k}": str(schedule[k]) for k in CRON_FIELDS if schedule.get(k) is not None}
    return {"schedule_kind": "cron", **cron}


def to_form(document: Mapping[str, Any], texts: Mapping[str, str] | None = None) -> EditorForm:
    """The editor's fields for a document (a new one: an empty mapping)."""
    industries = (document.get("audience") or {}).get("industries") or []
    values: dict[str, str] = {
        "slug": str(document.get("slug") or ""),
        "kind": str(document.get("kind") or "newsletter"),
        "approval": str(document.get("approval") or "manual"),
        "template": str(document.get("template") or ""),
        "industries": ", ".join(str(i) for i in industries),
    }
    for key in ("title", "subject", "preheader"):
        for lang, text in (document.get(key) or {}).items():
            values[f"{key}_{lang}"] = str(text)
    for lang, text in (texts or {}).items():
        values[f"body_{lang}"] = text
    values.update(schedule_fields(document.get("schedule"), document.get("send_at")))
    audience = document.get("audience") or {}
    return EditorForm(
        values,
        [str(x) for x in document.get("languages") or []],
        [str(x) for x in audience.get("topics") or []],
        [str(x) for x in audience.get("size_classes") or []],
        section_views(document.get("sections")),
    )


def _one(fields: Fields, name: str) -> str:
    value = fields.get(name, "")
    if not isinstance(value, str):
        value = value[-1] if value else ""
    return value.strip()


def _markdown(fields: Fields, name: str) -> str:
    """A Markdown text as typed (browsers send CR LF line ends)."""
    value = fields.get(name, "")
    text = value if isinstance(value, str) else (value[-1] if value else "")
    return text.replace("\r\n", "\n")


def _many(fields: Fields, name: str) -> list[str]:
    value = fields.get(name, [])
    items = [value] if isinstance(value, str) else list(value)
    return [v.strip() for v in items if v.strip()]


def _schedule(fields: Fields, errors: list[str]) -> tuple[dict[str, Any] | None, str | None]:
    kind = _one(fields, "schedule_kind")
    if kind == "once":
        at = _one(fields, "send_at")
        if not at:
            errors.append("send_at: expected a date and time")
        return None, at or None
    if kind == "cron":
        cron: dict[str, Any] = {}
        for name in CRON_FIELDS:
            raw = _one(fields, f"cron_{name}")
            if raw:
                cron[name] = int(raw) if raw.isdigit() else raw
        return cron, None
    hour, minute = _int(_one(fields, "hour")), _int(_one(fields, "minute") or "0")
    if hour is None or not 0 <= hour <= 23 or minute is None or not 0 <= minute <= 59:
        errors.append("schedule.hour: expected a time like 9.00")
        return None, None
    out: dict[str, Any] = {}
    weekday, nth = _one(fields, "weekday"), _one(fields, "nth")
    if kind == "monthly":
        if weekday not in WEEKDAYS or nth not in NTHS:
            errors.append("schedule.day: expected a week and a weekday")
        out["day"] = f"{nth} {weekday}"
    elif kind == "monthly_day":
        out["day"] = _int(_one(fields, "day")) or _one(fields, "day")
    elif kind == "weekly":
        if weekday not in WEEKDAYS:
            errors.append("schedule.day_of_week: expected a weekday")
        out["day_of_week"] = weekday
    elif kind == "yearly":
        out["month"] = _int(_one(fields, "month")) or _one(fields, "month")
        out["day"] = _int(_one(fields, "day")) or _one(fields, "day")
    elif kind != "daily":
        errors.append(
            f"schedule: unknown kind {kind!r} (expected one of {', '.join(SCHEDULE_KINDS)})"
        )
    out["hour"] = hour
    if minute:
        out["minute"] = minute
    return out, None


def _texts(fields: Fields, key: str, langs: list[str]) -> dict[str, str]:
    return {lang: t for lang in LANGUAGES if (t := _one(fields, f"{key}_{lang}")) and (
        lang in langs or key == "title")}  # fmt: skip


def from_form(
    base: Mapping[str, Any], fields: Fields, *, city: str
) -> tuple[dict[str, Any], dict[str, str] | None, list[str]]:
    """A document from the posted fields over ``base`` (the one edited; keys the form
    does not show are kept): (document, an announcement's Markdown, parse errors)."""
    errors: list[str] = []
    doc: dict[str, Any] = dict(base)
    doc["slug"] = str(base.get("slug") or _one(fields, "slug"))
    doc["kind"] = str(base.get("kind") or _one(fields, "kind") or "newsletter")
    doc["city"] = city
    chosen = [lang for lang in LANGUAGES if lang in _many(fields, "languages")]
    old = [str(x) for x in base.get("languages") or []]
    doc["languages"] = old if set(old) == set(chosen) else chosen
    for key in ("title", "subject", "preheader"):
        texts = _texts(fields, key, doc["languages"])
        if texts or key == "subject":
            doc[key] = texts
        else:
            doc.pop(key, None)
    schedule, send_at = _schedule(fields, errors)
    doc.pop("schedule", None)
    doc.pop("send_at", None)
    if schedule is not None:
        doc["schedule"] = schedule
    if send_at is not None:
        doc["send_at"] = send_at
    audience: dict[str, Any] = dict(base.get("audience") or {})
    for key, got in (
        ("topics", _many(fields, "topics")),
        ("size_classes", _many(fields, "size_classes")),
        ("industries", [p for p in re.split(r"[,\s]+", _one(fields, "industries")) if p]),
    ):
        if got:
            audience[key] = got
        else:
            audience.pop(key, None)
    doc.pop("audience", None)
    if audience:
        doc["audience"] = audience
    doc["approval"] = _one(fields, "approval") or "manual"
    template = _one(fields, "template")
    if template:
        doc["template"] = template
    else:
        doc.pop("template", None)
    texts_out: dict[str, str] | None = None
    if doc["kind"] == "announcement":
        texts_out = {lang: _markdown(fields, f"body_{lang}") for lang in doc["languages"]}
        named = dict(base.get("body") or {})
        doc["body"] = {
            lang: named.get(lang) or body_file(doc["slug"], lang) for lang in doc["languages"]
        }
    else:
        doc["sections"], problems = sections_from_fields(fields, base.get("sections"))
        errors += problems
    return doc, texts_out, errors


def _area(line: str) -> str:
    """The key path an error line is about; the schedule's fields are one area."""
    path = line.partition(": ")[0]
    return "schedule" if path.split(".")[0] in ("schedule", "send_at") else path


def with_form_errors(form_errors: Sequence[str], found: Sequence[str]) -> list[str]:
    """The form's own errors (a field that could not be read) and the validator's on
    the rest: a validator's error about a field the form already named (or one inside
    or around it) is left out, since it is about what stood in for that field."""
    taken = [_area(line) for line in form_errors]
    kept = [line for line in found if not any(paths_meet(_area(line), t) for t in taken)]
    return list(dict.fromkeys([*form_errors, *kept]))
