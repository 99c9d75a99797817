"""The console's statistics: a city's figures by month and segment, one issue's
clicks, the year's indicators; each table with its SVG chart and a CSV download.

Every route is ``Require(Permission.VIEW)`` in the path's city: a person sees
only the figures of the cities they have a role in (another city is a 404,
as everywhere in the console). The work is in :mod:`outreach.stats`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import Response
from markupsafe import Markup

from outreach.errors import StatsError
from outreach.stats import (
    CityFigures,
    Table,
    charts,
    city_figures,
    issue_city,
    issue_figures,
    labels,
    settle,
    shown_cells,
    t,
    to_csv,
)
from outreach.web.common import RowId, state
from outreach.web.staff.console import Viewer
from outreach.web.staff.guard import not_found, now
from outreach.web.staff.view import lang_of, page

router = APIRouter()
FIRST_YEAR = 2000


def words(lang: str) -> Callable[..., str]:
    def s(message: str, **values: Any) -> str:
        text = t(lang, message)
        return text.format(**values) if values else text

    return s


def shown(table: Table, lang: str, prefix: str) -> dict[str, Any]:
    """A table as the page template draws it: labels, cells and charts."""
    return {
        "key": table.key,
        "title": t(lang, table.title),
        "labels": labels(table, lang),
        "rows": [shown_cells(table, row, lang) for row in table.rows],
        # escaped where drawn (outreach.stats.charts)
        "charts": [Markup(svg) for svg in charts(table, lang, prefix)],  # noqa: S704
    }


def _year(request: Request, year: int | None) -> int:
    this = now(request).year
    return year if year is not None and FIRST_YEAR <= year <= this else this


def _figures(
    request: Request, background: BackgroundTasks, city: str, year: int, *, segments: bool
) -> CityFigures:
    """The city's figures; a settled issue nobody folded yet (no send's end did) is
    read from its rows now and folded after the answer (``outreach.stats.settle``)."""
    st = state(request)
    with st.session() as session:
        figures = city_figures(
            session, st.config, city, year, now=now(request), segments=segments, fold_now=False
        )
    if figures.unfolded:
        background.add_task(settle, st.engine, st.config, figures.unfolded)
    return figures


def city_tables(request: Request, background: BackgroundTasks, city: str, year: int) -> list[Table]:
    try:
        return _figures(request, background, city, year, segments=True).tables
    except StatsError:
        raise not_found() from None


def summary(request: Request, background: BackgroundTasks, city: str) -> dict[str, Any] | None:
    """What the city dashboard shows of the figures: this year by month, and its totals
    (None while the city is not in the database yet)."""
    lang = lang_of(request)
    year = _year(request, None)
    try:
        figures = _figures(request, background, city, year, segments=False)
    except StatsError:
        return None
    tables = {tb.key: tb for tb in figures.tables}
    return {
        "s": words(lang),
        "year": year,
        "tables": [shown(tables[k], lang, "dash") for k in ("monthly", "totals")],
    }


def _csv(text: str, name: str) -> Response:
    return Response(
        "\ufeff" + text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"',
                 "Cache-Control": "no-store"},
    )  # fmt: skip


@router.get("/staff/{city}/stats")
def city_stats(
    request: Request,
    background: BackgroundTasks,
    city: str,
    current: Viewer,
    year: int | None = None,
) -> Response:
    lang = lang_of(request)
    chosen = _year(request, year)
    tables = city_tables(request, background, city, chosen)
    context = {
        "s": words(lang),
        "year": chosen,
        "years": [y for y in (chosen - 1, chosen + 1) if FIRST_YEAR <= y <= now(request).year],
        "tables": [shown(tb, lang, "city") for tb in tables],
        "csv": f"/staff/{city}/stats.csv?year={chosen}&lang={lang}",
    }
    return page(request, "staff/stats.html", context, current=current, city=city)


@router.get("/staff/{city}/stats.csv")
def city_stats_csv(
    request: Request,
    background: BackgroundTasks,
    city: str,
    current: Viewer,
    year: int | None = None,
    table: str = "",
) -> Response:
    del current
    chosen = _year(request, year)
    tables = city_tables(request, background, city, chosen)
    picked = [tb for tb in tables if tb.key == table] or tables
    name = f"{city}-{chosen}-{picked[0].key if len(picked) == 1 else 'all'}.csv"
    return _csv(to_csv(picked, lang_of(request)), name)


def _issue_tables(request: Request, city: str, issue_id: int) -> tuple[Any, list[Table]]:
    st = state(request)
    with st.session() as session:
        try:
            if issue_city(session, st.config, issue_id) != city:
                raise not_found()
            found = issue_figures(session, st.config, issue_id)
        except StatsError:
            raise not_found() from None
    return found, found.tables


@router.get("/staff/{city}/issues/{issue_id}/stats")
def issue_stats(request: Request, city: str, issue_id: RowId, current: Viewer) -> Response:
    lang = lang_of(request)
    found, tables = _issue_tables(request, city, issue_id)
    context = {
        "s": words(lang),
        "issue": found,
        "tables": [shown(tb, lang, "issue") for tb in tables],
        "csv": f"/staff/{city}/issues/{issue_id}/stats.csv?lang={lang}",
    }
    return page(request, "staff/issue_stats.html", context, current=current, city=city)


@router.get("/staff/{city}/issues/{issue_id}/stats.csv")
def issue_stats_csv(
    request: Request, city: str, issue_id: RowId, current: Viewer, table: str = ""
) -> Response:
    del current
    _, tables = _issue_tables(request, city, issue_id)
    picked = [tb for tb in tables if tb.key == table] or tables
    name = f"{city}-issue-{issue_id}-{picked[0].key if len(picked) == 1 else 'all'}.csv"
    return _csv(to_csv(picked, lang_of(request)), name)
