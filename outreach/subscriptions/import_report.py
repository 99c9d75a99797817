"""The import's report: counts, a note per skipped row or dropped field, the limit.

Every note is kept as a message id and its values and put into words only when
printed, in the staff's language (the ``cli`` catalog). A row is *skipped* only
for a bad or missing e-mail address, a missing consent, or an address that must
not be (re)subscribed; a bad optional field is *left out* with a warning while
the contact is imported.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from outreach.errors import SubscriptionError
from outreach.l10n import format_decimal, gettext_for, ngettext_for
from outreach.suppression import SuppressionReason


def _(message: str) -> str:
    """Marks a message for the ``cli`` catalog; it is translated when printed."""
    return message


def _n(singular: str, plural: str) -> tuple[str, str]:
    """Marks a message with a count for the ``cli`` catalog (``ngettext_for`` when printed)."""
    return singular, plural


#: The counts of the summary line, each in the form of its number.
SUMMARY_COUNTS = {
    "imported": _n("{n} imported", "{n} imported"),
    "updated": _n("{n} updated", "{n} updated"),
    "unchanged": _n("{n} unchanged", "{n} unchanged"),
    "skipped": _n("{n} skipped", "{n} skipped"),
    "warned": _n("{n} with a note", "{n} with a note"),
}
SKIP = {
    "email": _("line {line}: skipped: {value} is not a valid e-mail address"),
    "no_email": _("line {line}: skipped: no e-mail address"),
    "consent": _('line {line}: skipped: no consent to e-mail (the consent column says "{value}")'),
    "suppressed": _("line {line}: skipped: address is on the suppression list ({reason})"),
    "unsubscribed": _("line {line}: skipped: the address unsubscribed; not subscribed again"),
    "bounced": _("line {line}: skipped: mail to the address bounced; not subscribed again"),
}
WARN = {
    "business_id": _(
        'line {line}: business ID "{value}" left out: it needs 7 digits, a hyphen and the right '
        "check digit, like 0112038-9"
    ),
    "size_class": _(
        'line {line}: company size "{value}" left out: use mikro, pieni, keskisuuri, suuri, '
        "pk-yritys, their Swedish or English names, or a head count"
    ),
    "language": _(
        'line {line}: language "{value}" is not suomi, ruotsi or englanti (fi, sv, en); '
        "{default} used"
    ),
    "language_offered": _(
        'line {line}: language "{value}" is not one the city sends its newsletter in '
        "({offered}); {default} used"
    ),
    "topics": _('line {line}: topic "{value}" left out: not one of the city\'s topics ({known})'),
    "industry_code": _(
        'line {line}: industry code "{value}" left out: use a TOL 2008 code like 62010'
    ),
    "company_name": _(
        "line {line}: company name left out: longer than 200 characters or with control characters"
    ),
    "contact_name": _(
        "line {line}: contact name left out: longer than 200 characters or with control characters"
    ),
    "duplicate_column": _(
        'line {line}: column {number} "{column}" holds the same field as column {first_number} '
        '"{first}" and is read only where that one is empty'
    ),
    "duplicate": _(
        "line {line}: the same address as line {first}; imported once, from line {first}"
    ),
}
MAIL_FAILED = _n(
    "{count} confirmation mail could not be sent: the mail server did not take it. The "
    "contact stays pending; run the same command again later to send it",
    "{count} confirmation mails could not be sent: the mail server did not take them. The "
    "contacts stay pending; run the same command again later to send them",
)
MAIL_HELD = _n(
    "{count} confirmation mail held back: the address has had its confirmation mails for now "
    "(one an hour, three a day). Run the same command again later to send it",
    "{count} confirmation mails held back: the address has had its confirmation mails for now "
    "(one an hour, three a day). Run the same command again later to send them",
)
REJECTED = frozenset(("email", "consent"))
SUPPRESSION_REASONS: dict[str, str] = {
    SuppressionReason.HARD_BOUNCE: _("bounced"),
    SuppressionReason.COMPLAINT: _("spam complaint"),
    SuppressionReason.UNSUBSCRIBE: _("unsubscribed"),
    SuppressionReason.ERASURE: _("erased"),
    SuppressionReason.MANUAL: _("added by staff"),
}


@dataclass(frozen=True)
class Note:
    """One line's skip reason or dropped field; ``code`` names the kind."""

    line: int
    code: str
    message: str
    params: tuple[tuple[str, str], ...] = ()

    @classmethod
    def skip(cls, line: int, code: str, value: str = "", **params: str) -> Note:
        message = SKIP["no_email"] if code == "email" and not value else SKIP[code]
        return cls(line, code, message, (("value", value[:60]), *params.items()))

    @classmethod
    def warn(cls, line: int, code: str, **params: str) -> Note:
        shown = {k: v[:60] for k, v in params.items()}
        return cls(line, code, WARN[code], tuple(shown.items()))

    def text(self, lang: str = "en") -> str:
        values = dict(self.params)
        if "reason" in values:
            reason = SUPPRESSION_REASONS.get(values["reason"])
            values["reason"] = gettext_for(lang, "cli", reason) if reason else values["reason"]
        return gettext_for(lang, "cli", self.message).format(line=self.line, **values)

    def __str__(self) -> str:
        return self.text()


def percent(share: float, lang: str) -> str:
    """``0.1`` → ``10.0%`` (en) or ``10,0 %`` (fi, sv)."""
    text = format_decimal(share * 100, lang)
    return f"{text}%" if lang == "en" else f"{text} %"


def _limit(share: float, lang: str) -> str:
    """``0.05`` → ``5%`` (en), ``0.125`` → ``12,5 %`` (fi, sv): as few decimals as it needs."""
    text = format_decimal(share * 100, lang, None)
    return f"{text}%" if lang == "en" else f"{text} %"


def parse_share(text: str) -> float:
    """``"5%"``, ``"5 %"``, ``"0.05"`` and ``"0,05"`` are all 0.05.

    A bare number must be a fraction from 0 to 1: ``5`` could mean 5% or 500%.
    """
    value = text.strip().replace(",", ".")
    number = value.removesuffix("%").strip()
    try:
        share = float(number) / (100 if value.endswith("%") else 1)
    except ValueError:
        share = -1.0
    if not re.fullmatch(r"\d+(\.\d+)?", number) or not 0 <= share <= 1:
        raise ImportRefused("share", value=repr(text))
    return share


@dataclass
class ImportReport:
    """Counts and per-line notes of one import run."""

    file: str
    rows: int = 0
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: list[Note] = field(default_factory=list)
    warnings: list[Note] = field(default_factory=list)
    mailed: int = 0
    #: confirmation mails the mail server did not take, and ones held back by the
    #: mailbox's limit (:mod:`.limits`): the contacts stay pending; a re-run sends them
    mail_failed: int = 0
    mail_held: int = 0
    encoding: str = "utf-8"
    delimiter: str = ","
    dry_run: bool = False

    @property
    def saved(self) -> int:
        """Rows whose contact is now in the database (new, updated or already there)."""
        return self.imported + self.updated + self.unchanged

    @property
    def rejected(self) -> int:
        """Rows skipped for what the file says: a bad address or no consent.

        Suppressed, unsubscribed and bounced addresses are skipped too, but as
        they should be, so they do not count towards ``--max-skipped``.
        """
        return sum(1 for note in self.skipped if note.code in REJECTED)

    @property
    def skipped_share(self) -> float:
        return self.rejected / self.rows if self.rows else 0.0

    def over_limit(self, max_share: float) -> bool:
        return self.skipped_share > max_share

    def summary(self, lang: str = "en") -> str:
        """One line of counts; each count is a plural entry of its own, so its word
        takes the form of its number ("1 importerad", "2 importerade")."""
        counts = {
            "imported": self.imported,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": len(self.skipped),
            "warned": len({note.line for note in self.warnings}),
        }
        said = {
            name: ngettext_for(lang, "cli", *SUMMARY_COUNTS[name], n).format(n=n)
            for name, n in counts.items()
        }
        text = gettext_for(
            lang,
            "cli",
            "{file}: {imported}, {updated}, {unchanged}, {skipped}, {warned}, confirmation "
            "mails sent: {mailed} ({encoding}, {delimiter})",
        )
        return text.format(
            file=self.file,
            mailed=self.mailed,
            encoding=self.encoding,
            delimiter=repr(self.delimiter),
            **said,
        )

    def lines(self, lang: str = "en") -> Iterator[str]:
        """The summary, then every note in line order."""
        yield self.summary(lang)
        for count, message in ((self.mail_failed, MAIL_FAILED), (self.mail_held, MAIL_HELD)):
            if count:
                yield ngettext_for(lang, "cli", *message, count).format(count=count)
        if self.dry_run:
            yield gettext_for(lang, "cli", "dry run: nothing was written and no mail was sent")
        notes = sorted([*self.skipped, *self.warnings], key=lambda note: note.line)
        for note in notes:
            yield note.text(lang)

    def limit_message(self, max_share: float, lang: str = "en") -> str:
        """Why the import counts as failed: more rows skipped than ``max_share`` allows."""
        if self.dry_run:
            msg = _("rows skipped for a bad e-mail address or no consent: {skipped} of {rows} "
                    "({share}), more than --max-skipped {limit}; dry run: nothing was "
                    "written")  # fmt: skip
        else:
            msg = _("rows skipped for a bad e-mail address or no consent: {skipped} of {rows} "
                    "({share}), more than --max-skipped {limit}; rows imported and saved: "
                    "{saved}. Fix the skipped lines and run the same command again")  # fmt: skip
        return gettext_for(lang, "cli", msg).format(
            skipped=self.rejected,
            rows=self.rows,
            share=percent(self.skipped_share, lang),
            limit=_limit(max_share, lang),
            saved=self.saved,
        )


class ImportAborted(SubscriptionError):
    """The file could not be read past ``line``; the rows before it were saved.

    ``report`` holds what was done up to there; re-running the same file after
    fixing the line is safe (saved rows stay as they are).
    """

    def __init__(self, report: ImportReport, line: int, problem: str, **params: str) -> None:
        self.report = report
        self.line = line
        self.problem = problem
        self.params = params
        super().__init__(self.text("en"))

    def text(self, lang: str = "en", *, console: bool = False) -> str:
        """The message in ``lang``; ``console`` words what to do next for the staff
        console's import page (a preview, the same file imported again) instead of
        for the command line (a dry run, the same command run again)."""
        problem = gettext_for(lang, "cli", self.problem).format(**self.params)
        if self.report.dry_run and console:
            msg = _(
                "line {line}: {problem}; nothing was written: fix line {line} and upload the "
                "file again"
            )
        elif self.report.dry_run:
            msg = _("line {line}: {problem}; dry run: nothing was written")
        elif console:
            msg = _(
                "line {line}: {problem}; rows saved before it: {saved}. Fix line {line} and "
                "import the file again: saved rows stay as they are"
            )
        else:
            one, many = _n(
                "line {line}: {problem}; the {saved} row before it was saved. Fix line {line} "
                "and run the same command again: saved rows stay as they are",
                "line {line}: {problem}; the {saved} rows before it were saved. Fix line {line} "
                "and run the same command again: saved rows stay as they are",
            )
            text = ngettext_for(lang, "cli", one, many, self.report.saved)
            return text.format(line=self.line, problem=problem, saved=self.report.saved)
        text = gettext_for(lang, "cli", msg)
        return text.format(line=self.line, problem=problem, saved=self.report.saved)


PROBLEMS = {
    "field_limit": _("a field is longer than {limit} characters (a quote left open?)"),
    "csv": _("not valid CSV ({error})"),
    "quote": _(
        "a quotation mark that is not closed makes one field of lines {first}–{end} (line "
        "{row} looks like a row of its own); remove or close it"
    ),
}


class ImportRefused(SubscriptionError):
    """The import will not start: the file, the city or an option is wrong; nothing is
    written. ``text(lang)`` words it in the staff's language (``REFUSED`` names each kind)."""

    def __init__(self, code: str, **params: str) -> None:
        self.code = code
        self.params = params
        super().__init__(self.text("en"))

    def text(self, lang: str = "en", *, console: bool = False) -> str:
        """The message in ``lang``; ``console`` takes the staff console's wording where
        the command line's names its options (``CONSOLE_REFUSED``)."""
        message = (console and CONSOLE_REFUSED.get(self.code)) or REFUSED[self.code]
        return gettext_for(lang, "cli", message).format(**self.params)


REFUSED = {
    "city": _('no city "{city}" (known: {known})'),
    "consent_note": _("--confirmed needs --consent-note stating the legal basis"),
    "no_file": _("{file}: no such file"),
    "empty": _("{file} is empty: export the contacts again"),
    "byte": _(
        "{file}: line {line}: byte 0x{byte} is neither UTF-8 nor Windows-1252 text; save the "
        "file as UTF-8 (in Excel: CSV UTF-8)"
    ),
    "not_utf8_line": _(
        "{file}: line {line} is not UTF-8 text like the rest of the file (letters such as ä, "
        "ö or å on it were saved in another encoding); correct them in an editor that saves "
        "UTF-8 and import the file again; nothing was written"
    ),
    "not_utf8_lines": _(
        "{file}: {count} lines are not UTF-8 text like the rest of the file (lines {lines}: "
        "letters such as ä, ö or å on them were saved in another encoding); correct them in "
        "an editor that saves UTF-8 and import the file again; nothing was written"
    ),
    "quote": _(
        "{file}: line {line}: a quotation mark that is not closed makes one field of lines "
        "{line}–{end} (line {row} looks like a row of its own); remove or close the quotation "
        "mark on line {line} and import the file again; nothing was written"
    ),
    "field_limit": _(
        "{file}: line {line}: a field is longer than {limit} characters (a quote left open?); "
        "fix the line and import the file again; nothing was written"
    ),
    "csv": _(
        "{file}: line {line}: not valid CSV ({error}); fix the line and import the file "
        "again; nothing was written"
    ),
    "utf16": _(
        "{file}: the file starts as UTF-16 text (Excel's Unicode text) but is not valid "
        "UTF-16; save it as UTF-8 (in Excel: CSV UTF-8)"
    ),
    "no_email": _(
        "{file}: no e-mail column among the columns {columns} (expected a header like "
        "sähköposti or email, or --map COLUMN=email)"
    ),
    "map_form": _("--map {pair}: expected COLUMN=FIELD with FIELD one of {fields}"),
    "map_column": _('--map {pair}: the file has no column "{column}" (its columns: {columns})'),
    "share": _(
        "{value} is not a share of rows: write a percentage like 5% or a fraction like 0.05"
    ),
}
#: The staff console's words for refusals whose command-line words name an option
#: the console does not have.
CONSOLE_REFUSED = {
    "no_email": _(
        "{file}: no e-mail column among the columns {columns}; name the e-mail column "
        "sähköposti or email in the header row and upload the file again"
    ),
}
