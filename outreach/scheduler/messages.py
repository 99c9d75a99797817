"""Messages the scheduler shows a person, kept as a msgid plus arguments.

The scheduler decides what to say when it runs; the language is chosen when the
message is shown (``outreach status`` may run in Swedish what the daemon
recorded). A :class:`Msg` is a msgid of the ``cli`` gettext domain (English,
``str.format`` fields) and its arguments; it is stored in
``Campaign.last_run_message`` as JSON (:meth:`Msg.dump`) and rendered with
:meth:`Msg.render`. Arguments whose names end in ``_at`` are UTC times in ISO
form, shown in the reader's conventions in the city's timezone. Text from
elsewhere (an error from another stage) is a *raw* message, shown as it is.

Every msgid is written as ``_("…")`` so the catalog test finds it; a message with a
count as ``_n("…", "…", "n", n=…)``: its singular, its plural and the name of the
argument whose number picks the form (``1 lähde``, ``2 lähdettä``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Union

from outreach.l10n import format_datetime, gettext_for, ngettext_for

DEFAULT_TIMEZONE = "Europe/Helsinki"

Arg = Union[str, int, "Msg"]


@dataclass(frozen=True)
class Msg:
    """A translatable message: ``text`` is a msgid unless ``raw``."""

    text: str
    args: dict[str, Arg] = field(default_factory=dict)
    raw: bool = False
    #: A message with a count: its plural msgid and the argument that holds the count.
    plural: str = ""
    count: str = ""

    def render(self, lang: str = "en", timezone: str = DEFAULT_TIMEZONE) -> str:
        if self.raw:
            return self.text
        values: dict[str, str | int] = {}
        for name, value in self.args.items():
            if isinstance(value, Msg):
                values[name] = value.render(lang, timezone)
            elif name.endswith("_at") and isinstance(value, str):
                values[name] = format_datetime(datetime.fromisoformat(value), lang, timezone)
            else:
                values[name] = value
        english = self.text
        if self.plural:
            n = int(values.get(self.count, 0))
            template = ngettext_for(lang, "cli", self.text, self.plural, n)
            english = self.text if n == 1 else self.plural
        else:
            template = gettext_for(lang, "cli", self.text)
        try:
            return template.format(**values)
        except (KeyError, IndexError, ValueError):  # a broken translation: fall back
            return english.format(**values)

    def __str__(self) -> str:
        return self.render("en")

    def to_json(self) -> dict[str, Any]:
        args = {k: v.to_json() if isinstance(v, Msg) else v for k, v in self.args.items()}
        data: dict[str, Any] = {"msgid": self.text, "args": args, "raw": self.raw}
        if self.plural:
            data.update(plural=self.plural, count=self.count)
        return data

    def dump(self) -> str:
        """The message as stored in a text column."""
        return json.dumps(self.to_json(), ensure_ascii=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Msg:
        args: dict[str, Arg] = {}
        for name, value in dict(data.get("args") or {}).items():
            args[name] = cls.from_json(value) if isinstance(value, dict) else value
        return cls(
            str(data["msgid"]),
            args,
            bool(data.get("raw", False)),
            str(data.get("plural") or ""),
            str(data.get("count") or ""),
        )

    @classmethod
    def load(cls, text: str | None) -> Msg | None:
        """A stored message; text that is not one (written before) is shown raw."""
        if not text:
            return None
        try:
            data = json.loads(text)
        except ValueError:
            return cls(text, raw=True)
        if not isinstance(data, dict) or "msgid" not in data:
            return cls(text, raw=True)
        return cls.from_json(data)


def _(msgid: str, **args: Arg) -> Msg:
    """Mark a msgid of the ``cli`` domain; translated when rendered."""
    return Msg(msgid, dict(args))


def _n(singular: str, plural: str, count: str, **args: Arg) -> Msg:
    """Mark a ``cli`` msgid with a count: the form is picked by ``args[count]`` when
    rendered."""
    return Msg(singular, dict(args), plural=plural, count=count)


def raw(text: str) -> Msg:
    """Text from elsewhere, shown untranslated."""
    return Msg(text, raw=True)


def as_msg(message: str | Msg) -> Msg:
    return message if isinstance(message, Msg) else raw(message)


def dt_arg(moment: datetime) -> str:
    """A time as an ``_at`` argument."""
    return moment.isoformat()


#: Run and task outcomes, as ``outreach status`` and ``run-due`` print them.
STATUS_WORDS: dict[str, Msg] = {
    "ok": _("ok"),
    "empty": _("empty"),
    "error": _("error"),
    "missed": _("missed"),
    "busy": _("busy"),
    "stopped": _("stopped"),
    "skipped": _("skipped"),
    "idle": _("idle"),
    "held": _("held"),
}

#: Issue and delivery statuses.
STATE_WORDS: dict[str, Msg] = {
    "draft": _("draft"),
    "approved": _("approved"),
    "held": _("held"),
    "sending": _("sending"),
    "paused": _("paused"),
    "sent": _("sent"),
    "failed": _("failed"),
    "cancelled": _("cancelled"),
    "pending": _("pending"),
    "skipped": _("skipped"),
}


def word(value: str, lang: str, table: dict[str, Msg] | None = None) -> str:
    """A status word in ``lang`` (unknown words as they are)."""
    found = (table or STATUS_WORDS).get(value)
    return found.render(lang) if found is not None else value
