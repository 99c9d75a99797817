"""The figures as tables: one shape for the console, the command line, CSV and JSON.

A :class:`Table` has a key (``monthly``, ``language``…), a title and columns
as English msgids of the ``stats`` catalog, and rows of plain values. The
faces localise the labels (:func:`labels`) and the values (:func:`shown`: a
language code as the language's name, a section id as its title, a topic, a size
class and a city by their names, a value not given as such, a number
with decimals with a comma in Finnish and Swedish); JSON keeps the column keys
and the plain values.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from outreach.l10n import LANGUAGES, format_decimal, gettext_for

Value = int | float | str | None


@dataclass
class Table:
    key: str
    title: str  # msgid
    columns: list[tuple[str, str]]  # (key, msgid)
    rows: list[dict[str, Value]] = field(default_factory=list)
    #: Columns a chart draws (numbers), the first column being the category.
    chart: list[str] = field(default_factory=list)
    #: Values of a column as a person reads them: column key → value → text by language
    #: (a section id → its title); a value not given is shown as it is.
    names: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)

    def column_keys(self) -> list[str]:
        return [key for key, _ in self.columns]


def t(lang: str, message: str) -> str:
    return gettext_for(lang, "stats", message)


def labels(table: Table, lang: str) -> list[str]:
    return [t(lang, label) for _, label in table.columns]


#: Columns whose values are words of the stats catalog (a figure's name, a reason).
WORDS = ("indicator", "figure", "reason")


#: Each language's name as a msgid of the stats catalog.
LANGUAGE_NAMES = {"fi": "Finnish", "sv": "Swedish", "en": "English"}


def language_names(codes: Iterable[Value]) -> dict[str, dict[str, str]]:
    """The names of the languages ``codes`` in every language (for :attr:`Table.names`)."""
    return {
        str(code): {lang: t(lang, LANGUAGE_NAMES[str(code)]) for lang in LANGUAGES}
        for code in codes
        if str(code) in LANGUAGE_NAMES
    }


def shown(table: Table, key: str, value: Value, lang: str) -> str:
    """One value of column ``key`` as text a person reads, in ``lang``."""
    if key in WORDS:
        return t(lang, str(value))
    named = table.names.get(key, {}).get(str(value)) if value is not None else None
    if named:
        return named.get(lang) or next(iter(named.values()), "") or str(value)
    return cell(value, lang)


def shown_cells(table: Table, row: dict[str, Value], lang: str) -> list[str]:
    """A row's values as text a person reads, in ``lang``."""
    return [shown(table, key, row.get(key), lang) for key in table.column_keys()]


def cell(value: Value, lang: str = "en") -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return format_decimal(value, lang)
    return str(value)


def to_csv(tables: list[Table], lang: str) -> str:
    """The tables as CSV, one after another, each headed by its title line."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for n, table in enumerate(tables):
        if len(tables) > 1:
            if n:
                writer.writerow([])
            writer.writerow([t(lang, table.title)])
        writer.writerow(labels(table, lang))
        for row in table.rows:
            writer.writerow([_safe(text) for text in shown_cells(table, row, lang)])
    return out.getvalue()


def _safe(text: str) -> str:
    """A cell a spreadsheet will not run as a formula."""
    return (
        "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _number(text) else text
    )


def _number(text: str) -> bool:
    try:
        float(text.replace(",", "."))
    except ValueError:
        return False
    return True


def as_json(tables: list[Table], meta: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        **(meta or {}),
        "tables": {
            table.key: {"columns": table.column_keys(), "rows": table.rows} for table in tables
        },
    }


def dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2, default=str)


def text_table(table: Table, lang: str) -> str:
    """A plain-text table for the terminal."""
    head = labels(table, lang)
    body = [shown_cells(table, row, lang) for row in table.rows]
    widths = [max(len(x) for x in col) for col in zip(head, *body, strict=False)]
    lines = [t(lang, table.title)]
    for values in [head, *body]:
        lines.append("  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip())
    return "\n".join(lines)
