"""The figures as tables: one shape for the console, the command line, CSV and JSON.

A :class:`Table` has a key (``monthly``, ``language``…), a title and columns
as English msgids of the ``stats`` catalog, and rows of plain values. The
faces localise the labels (:func:`labels`); JSON keeps the column keys.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any

from outreach.l10n import gettext_for

Value = int | float | str | None


@dataclass
class Table:
    key: str
    title: str  # msgid
    columns: list[tuple[str, str]]  # (key, msgid)
    rows: list[dict[str, Value]] = field(default_factory=list)
    #: Columns a chart draws (numbers), the first column being the category.
    chart: list[str] = field(default_factory=list)

    def column_keys(self) -> list[str]:
        return [key for key, _ in self.columns]


def t(lang: str, message: str) -> str:
    return gettext_for(lang, "stats", message)


def labels(table: Table, lang: str) -> list[str]:
    return [t(lang, label) for _, label in table.columns]


#: Columns whose values are words of the stats catalog (a figure's name, a reason).
WORDS = ("indicator", "figure", "reason")


def shown_cells(table: Table, row: dict[str, Value], lang: str) -> list[str]:
    """A row's values as text a person reads, in ``lang``."""
    return [
        t(lang, str(row.get(key))) if key in WORDS else cell(row.get(key))
        for key in table.column_keys()
    ]


def cell(value: Value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.1f}"
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
        float(text)
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
