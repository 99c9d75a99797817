"""The campaign editor's errors: each next to its field, in the reader's language.

A campaign document is validated by the schema and the cross-checks the files
use (:func:`outreach.campaigns.console.check_document`); their error lines are
``key.path: what is wrong`` in English, the words of ``outreach campaigns
validate``. Here each line is given the form field it belongs to (the editor's
fields are named by key path, :mod:`outreach.campaigns.form_sections`) and its
message is said again in Finnish, Swedish or English from the ``web`` catalog.
A message not in :data:`MESSAGES` is shown as the validator wrote it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from outreach.l10n import LANGUAGE_MSGIDS, gettext_for

#: Top-level fields whose element id is not ``f-`` and the field's name.
TOP_IDS = {
    "schedule": "f-sk",
    "approval": "f-appr",
    "template": "f-tpl",
    "industries": "f-ind",
    "send_at": "f-at",
}

#: (pattern of the validator's English message, msgid with the groups it takes).
MESSAGES: list[tuple[str, str]] = [
    (r"^Field required$", "Required."),
    (r"^Input should be a valid integer", "Expected a whole number."),
    (r"^Input should be less than or equal to (?P<n>-?\d+)$", "At most {n}."),
    (r"^Input should be greater than or equal to (?P<n>-?\d+)$", "At least {n}."),
    (r"^String should match pattern", "Use lowercase letters a-z, digits and dashes."),
    (r"^Input should be (?P<choices>'.*')$", "Choose one of: {choices}."),
    (r"^List should have at least 1 item", "Add at least one."),
    (r"^Input should be a valid (date|datetime)", "Expected a date and time."),
    (r"^Input should be a valid", "Expected another kind of value."),
    (r"^expected an http\(s\) URL", "Expected an address that starts with https:// or http://."),
    (r"^section ids must be unique", "Each section needs a short name of its own."),
    (r"^missing the '(?P<language>[a-z]{2})' (title|subject|body|text)$",
     "Missing the text in {language}."),
    (r"^never fires", "This schedule never fires: no date matches it (e.g. 31 February)."),
    (r"^invalid cron fields: (?P<detail>.*)$", "Invalid cron fields: {detail}"),
    (r"^expected a schedule", "Choose a schedule, or a date and time."),
    (r"^expected a date and time", "Expected a date and time."),
    (r"^expected a time like 9\.00", "Expected a time like 9.00."),
    (r"^expected a week and a weekday", "Choose the week and the weekday."),
    (r"^expected a weekday", "Choose the weekday."),
    (r"^expected a path relative to the campaigns folder",
     "Expected a path inside the campaigns folder."),
    (r"^expected a \.json, \.yaml, \.yml or \.csv file",
     "Expected a .json, .yaml, .yml or .csv file."),
    (r"^expected name=value on each line", "Write one name=value on each line."),
    (r"^not valid YAML", "This is not valid YAML."),
    (r"is already used by another campaign", "Another campaign already uses this short name."),
    (r"is archived; restore it first", "The campaign is archived; make it active first."),
    (r"^unknown topic '(?P<topic>[^']*)'", "Unknown topic {topic}."),
    (r"^'(?P<language>[a-z]{2})' is not a language of",
     "{language} is not a language of the city."),
    (r"^no template ", "There is no such template."),
    (r"^unknown source type", "Unknown source type."),
    (r"has no such source$", "There is no such source."),
    (r"^unknown name (?P<name>\{\{ .+? \}\}) \(a subject or preheader may use (?P<known>[^)]*)\)$",
     "Unknown name {name}; you can use: {known}."),
    (r"^expected a single line$", "Write it on one line."),
    (r"^expected at most (?P<n>\d+) characters", "At most {n} characters."),
    (r"^template syntax error: (?P<detail>.*?)\.?$",
     "A placeholder is not written right ({detail}); write it like {example}."),
    (r"is not allowed here \(only values, filters and if\)$",
     "Only placeholders, filters and if are allowed here."),
    (r"^filter '(?P<filter>[^']*)' is not allowed", "The filter {filter} is not allowed here."),
]  # fmt: skip
_COMPILED = [(re.compile(p), msgid) for p, msgid in MESSAGES]
_LINE = re.compile(r"^([A-Za-z0-9_.]+|\(top level\)): (.*)$")
_GOT = re.compile(r" \(got .*\)$")
_LANG_IN = re.compile(r"'(fi|sv|en)'")

#: The editor's labels of a field, by the last part of its key path.
TOP_LABELS = {
    "slug": "Short name", "title": "Name", "subject": "Subject", "preheader": "Preheader",
    "languages": "Languages", "topics": "Topics", "size_classes": "Company sizes",
    "industries": "Industries", "schedule": "Schedule", "send_at": "Date and time (once)",
    "approval": "Approval", "template": "Template", "body": "Text in Markdown",
    "sections": "Sections and their sources",
}  # fmt: skip
SECTION_LABELS = {
    "id": "Short name", "kind": "Kind", "title": "Title", "intro": "Introduction",
    "max_items": "Items at most", "window_days": "Days to look back (first issue)",
    "horizon_days": "Days ahead for events", "include": "Only items matching",
    "exclude": "Leave out items matching", "categories": "Only these categories",
    "language": "Language of the items", "fallback": "Show in other languages too",
    "relist_upcoming": "List an upcoming event again", "sources": "Sources",
}  # fmt: skip
OPTION_LABELS = {
    "type": "Type", "url": "Address (URL)", "language": "Language of the items",
    "params": "Query parameters (one name=value a line)", "max_pages": "Pages at most",
    "path": "File in the campaigns folder",
}  # fmt: skip


#: The top-level fields named ``<key>_<language>``.
PER_LANGUAGE = ("title_", "subject_", "preheader_", "body_")


def field_id(name: str) -> str:
    """The element id of the field ``name`` (and the target of its error's link)."""
    return TOP_IDS.get(name) or "f-" + name.replace(".", "-").replace("_", "-")


def _field_of(path: str, message: str) -> str | None:
    """The form field a key path (and its message) belongs to; None: the whole campaign."""
    parts = path.split(".")
    lang_named = _LANG_IN.search(message)
    lang = lang_named[1] if lang_named else None
    head = parts[0]
    if head == "sections":
        if len(parts) == 1:
            return "sections"
        at = f"sections.{parts[1]}"
        if len(parts) == 2:
            return f"{at}.id"
        key = parts[2]
        if key in ("title", "intro"):
            got = parts[3] if len(parts) > 3 else lang
            return f"{at}.{key}.{got}" if got else f"{at}.{key}"
        if key != "sources":
            return f"{at}.{key}"
        if len(parts) == 3:
            return f"{at}.sources"
        return f"{at}.sources.{parts[3]}.{parts[4] if len(parts) > 4 else 'type'}"
    if head in ("title", "subject", "preheader", "body"):
        got = parts[1] if len(parts) > 1 else lang
        return f"{head}_{got}" if got else None
    if head == "audience" and len(parts) > 1:
        return parts[1]
    if head in ("slug", "languages", "schedule", "send_at", "approval", "template"):
        return head
    return None


def _in_language(text: str, lang: str, gettext: Callable[[str], str]) -> str:
    """``Subject (Finnish)``: a field's label and its language, named in the reader's."""
    return f"{text} ({gettext(LANGUAGE_MSGIDS[lang])})" if lang in LANGUAGE_MSGIDS else text


def _label(name: str, gettext: Callable[[str], str]) -> str:
    """Where a field is, in words: ``Section 2 › Source 1 › Address (URL)``."""
    parts = name.split(".")
    if parts[0] != "sections" or len(parts) < 3:
        key, _, lang = name.partition("_") if name.startswith(PER_LANGUAGE) else (name, "", "")
        text = gettext(TOP_LABELS.get(key, key))
        return _in_language(text, lang, gettext)
    where = [gettext("Section {n}").format(n=int(parts[1]) + 1)]
    if parts[2] == "sources" and len(parts) > 4:
        where.append(gettext("Source {n}").format(n=int(parts[3]) + 1))
        where.append(gettext(OPTION_LABELS[parts[4]]) if parts[4] in OPTION_LABELS else parts[4])
    else:
        text = gettext(SECTION_LABELS.get(parts[2], parts[2]))
        lang = parts[3] if len(parts) > 3 else ""
        where.append(_in_language(text, lang, gettext))
    return " › ".join(where)


def say(message: str, gettext: Callable[[str], str]) -> str:
    """The validator's English ``message`` in the reader's language, where known."""
    message = _GOT.sub("", message.strip())
    for pattern, msgid in _COMPILED:
        found = pattern.search(message)
        if found is None:
            continue
        values = found.groupdict()
        if "known" in values:  # the placeholders a subject may use, as they are written
            known = values["known"].split(",")
            values["known"] = ", ".join(f"{{{{ {k.strip()} }}}}" for k in known)
        if "language" in values:
            code = values["language"]
            values["language"] = gettext(LANGUAGE_MSGIDS[code]) if code in LANGUAGE_MSGIDS else code
        said = gettext(msgid).format(**values, example="{{ issue.period_label }}")
        return said[:1].upper() + said[1:]  # "ruotsi ei ole …" starts a sentence
    return message


@dataclass(frozen=True)
class Shown:
    """The errors as the editor shows them: by field, and the list at the top."""

    by_field: dict[str, list[str]]
    #: (the field's element id or None, "where: what") in the order found.
    summary: list[tuple[str | None, str]]


def localise(lines: list[str], lang: str) -> Shown:
    """Error lines (``key.path: message``) as the editor shows them in ``lang``."""

    def gettext(msgid: str) -> str:
        return gettext_for(lang, "web", msgid)

    by_field: dict[str, list[str]] = {}
    summary: list[tuple[str | None, str]] = []
    for line in lines:
        found = _LINE.match(line)
        if found is None:
            summary.append((None, say(line, gettext)))
            continue
        path, message = found[1], found[2]
        text = say(message, gettext)
        name = _field_of(path, message)
        if name is None:
            summary.append((None, text))
            continue
        by_field.setdefault(name, []).append(text)
        summary.append((field_id(name), f"{_label(name, gettext)}: {text}"))
    return Shown(by_field, summary)
