"""``/api/v1/stats``: a city's figures, read-only, for its own reporting tools.

The same API keys as the rest of ``/api/v1``: a key acts only for its cities
(another city's figures are 403, an issue of another city 404); the region's
indicators need a key for every city. Answers are the tables of
:mod:`outreach.stats` by key: ``{"tables": {key: {"columns": [...], "rows": [...]}}}``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request

from outreach.errors import StatsError
from outreach.stats import (
    as_json,
    city_figures,
    issue_city,
    issue_figures,
    region_indicators,
    year_indicators,
)
from outreach.web.api import ERRORS, Auth, CitySlug
from outreach.web.common import RowId, state

router = APIRouter(prefix="/api/v1/stats", tags=["statistics"], responses=ERRORS)
Year = Annotated[int | None, Query(ge=2000, le=2100, description="default: this year")]
Tables = dict[str, Any]


def _year(year: int | None) -> int:
    return year if year is not None else datetime.now(UTC).year


def _answer(call: Any) -> Tables:
    try:
        return dict(call())
    except StatsError as exc:
        raise HTTPException(404, str(exc)) from None


@router.get("/region")
def region(request: Request, who: Auth, year: Year = None) -> Tables:
    """The year's indicators of every city and of the region (a key for every city)."""
    if not who.all_cities:
        raise HTTPException(403, "the region's figures need a key for every city")
    st = state(request)
    with st.session() as session:
        return _answer(
            lambda: as_json(
                [region_indicators(session, st.config, _year(year))], {"year": _year(year)}
            )
        )


@router.get("/{city}")
def city(request: Request, city: CitySlug, who: Auth, year: Year = None) -> Tables:
    """The city's figures for the year: by month, the year's totals, by segment."""
    who.require(city)
    st = state(request)
    with st.session() as session:
        return _answer(
            lambda: as_json(
                city_figures(session, st.config, city, _year(year)).tables,
                {"city": city, "year": _year(year)},
            )
        )


@router.get("/{city}/indicators")
def indicators(request: Request, city: CitySlug, who: Auth, year: Year = None) -> Tables:
    """The figures the city reports upward for the year."""
    who.require(city)
    st = state(request)
    with st.session() as session:
        return _answer(
            lambda: as_json(
                [year_indicators(session, st.config, city, _year(year))],
                {"city": city, "year": _year(year)},
            )
        )


@router.get("/{city}/issues/{issue_id}")
def issue(request: Request, city: CitySlug, issue_id: RowId, who: Auth) -> Tables:
    """One issue's mail and clicks (404 for an issue of another city)."""
    who.require(city)
    st = state(request)
    with st.session() as session:
        try:
            if issue_city(session, st.config, issue_id) != city:
                raise StatsError("no such issue")
            found = issue_figures(session, st.config, issue_id)
        except StatsError:
            raise HTTPException(404, "no such issue") from None
        return as_json(found.tables, {"city": city, "issue": issue_id, "period": found.period})
