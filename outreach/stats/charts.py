"""Bar charts as accessible SVG, drawn on the server (no script, no web font).

Each chart is an ``<svg role="img">`` with a ``<title>`` and a ``<desc>`` that
says in words what the bars show; the page puts the same numbers in a table
beside it and offers them as CSV. Text is escaped here; the faces mark the
result safe.
"""

from __future__ import annotations

from html import escape

from outreach.stats.tables import Table, cell, shown, t

WIDTH = 640
BAR_AREA = 200
TOP = 16
#: A category's label: at most this many characters, turned 45 degrees under its bar;
#: at about 6.2 px a character in 11 px type, each of its sides takes ``SLANT`` px a
#: character, which the chart leaves room for below the axis and left of the first bar.
LABEL_CHARS = 24
SLANT = 6.2 * 0.71


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def bar_chart(table: Table, column: str, lang: str, ident: str) -> str:
    """A vertical bar chart of ``column`` of ``table``, one bar per row."""
    labels = dict(table.columns)
    first = table.columns[0][0]
    values = [
        (shown(table, first, row.get(first), lang) or "?", _number(row.get(column)))
        for row in table.rows
    ]
    title = f"{t(lang, table.title)}: {t(lang, labels[column])}"
    desc = "; ".join(
        f"{name} {cell(value if value % 1 else int(value), lang)}" for name, value in values
    )
    top = max((v for _, v in values), default=0.0) or 1.0
    count = max(len(values), 1)
    reach = max((len(name[:LABEL_CHARS]) for name, _ in values), default=0) * SLANT
    # the first label ends left of its bar's middle: start the bars far enough right
    left = 10.0
    step = (WIDTH - 10 - left) / count
    if step / 2 < reach:
        left = min(reach - step / 2 + 10, WIDTH / 2)
        step = (WIDTH - 10 - left) / count
    bar = max(step * 0.7, 2.0)
    height = TOP + BAR_AREA + 14 + int(reach) + 6
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {WIDTH} {height}" aria-labelledby="{ident}-t {ident}-d">',
        f'<title id="{ident}-t">{escape(title)}</title>',
        f'<desc id="{ident}-d">{escape(desc or t(lang, "No figures yet"))}</desc>',
        f'<line x1="10" y1="{TOP + BAR_AREA}" x2="{WIDTH - 10}" y2="{TOP + BAR_AREA}" '
        'class="axis" stroke="#555"/>',
    ]
    for n, (name, value) in enumerate(values):
        h = BAR_AREA * value / top
        x = left + n * step + (step - bar) / 2
        y = TOP + BAR_AREA - h
        said = cell(value if value % 1 else int(value), lang)
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
            f'fill="#00587a"><title>{escape(name)}: {escape(said)}</title></rect>'
        )
        parts.append(
            f'<text x="{x + bar / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle" '
            f'font-size="11">{escape(said)}</text>'
        )
        parts.append(
            f'<text x="{x + bar / 2:.1f}" y="{TOP + BAR_AREA + 14}" text-anchor="end" '
            f'font-size="11" transform="rotate(-45 {x + bar / 2:.1f} {TOP + BAR_AREA + 14})">'
            f"{escape(name[:LABEL_CHARS])}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def charts(table: Table, lang: str, prefix: str) -> list[str]:
    """Every chart a table asks for (its ``chart`` columns)."""
    return [
        bar_chart(table, column, lang, f"{prefix}-{table.key}-{column}")
        for column in table.chart
        if table.rows
    ]
