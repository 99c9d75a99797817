"""The figures against the history of tests/stats/fixture.py, worked out by hand."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy.orm import Session

from outreach.campaigns import Config
from outreach.errors import StatsError
from outreach.stats import (
    city_figures,
    issue_figures,
    region_indicators,
    to_csv,
    year_indicators,
)
from outreach.stats.tables import shown
from tests.stats.fixture import NOW, populate


def rows_by(table: object, key: str) -> dict[str, dict[str, object]]:
    return {str(r[key]): r for r in table.rows}  # type: ignore[attr-defined]


def test_by_month(session: Session, config: Config, history: dict[str, int]) -> None:
    figures = city_figures(session, config, "vantaa", 2026, now=NOW)
    months = rows_by(figures.table("monthly"), "month")
    assert list(months) == [f"2026-{m:02d}" for m in range(1, 13)]
    confirmed = [months[m]["confirmed"] for m in months]
    # A and D from January, B from March, F from October; B and D leave in November, C comes
    assert confirmed == [2, 2, 3, 3, 3, 3, 3, 3, 3, 4, 3, 3]
    assert months["2026-01"] | {} == {
        "month": "2026-01", "confirmed": 2, "new": 1, "unsubscribed": 0, "bounced": 0,
        "issues": 0, "delivered": 0, "reached": 0, "clicks": 0, "events": 0, "trainings": 0,
        "stories": 0, "leads": 1,
    }  # fmt: skip
    nov = months["2026-11"]
    assert (nov["new"], nov["unsubscribed"], nov["bounced"]) == (1, 1, 1)
    assert (nov["issues"], nov["delivered"], nov["reached"], nov["clicks"]) == (1, 3, 3, 6)
    assert (nov["events"], nov["trainings"]) == (1, 1)
    dec = months["2026-12"]
    # A and C are one company (one business ID): V2 reached two companies with three mails
    assert (dec["issues"], dec["delivered"], dec["reached"], dec["clicks"]) == (1, 3, 2, 1)
    assert (dec["events"], dec["trainings"]) == (1, 0)
    assert months["2026-06"]["stories"] == 1  # the story without consent is not published


def test_the_years_totals(session: Session, config: Config, history: dict[str, int]) -> None:
    figures = city_figures(session, config, "vantaa", 2026, now=NOW)
    totals = {r["indicator"]: r["value"] for r in figures.table("totals").rows}
    assert totals == {
        "Companies reached": 4,
        "of them SMEs": 3,  # 1234567-8 once, as medium (C), 2345678-9, Pieni Oy
        "of them medium-sized": 2,
        "Issues sent": 2,
        "Delivered": 6,
        "Clicks": 7,
        "Stories published": 1,
        "Companies with a published climate action": 1,
        "Events promoted": 2,
        "Trainings promoted": 1,
        "Leads": 1,
        "Leads contacted": 1,  # A, marked contacted on 20 November
    }


def test_by_segment(session: Session, config: Config, history: dict[str, int]) -> None:
    figures = city_figures(session, config, "vantaa", 2026, now=NOW)
    language = rows_by(figures.table("language"), "segment")
    assert language["fi"] == {
        "segment": "fi", "confirmed": 3, "new": 3, "unsubscribed": 0, "bounced": 1,
    }  # fmt: skip
    assert language["sv"] == {
        "segment": "sv", "confirmed": 0, "new": 1, "unsubscribed": 1, "bounced": 0,
    }  # fmt: skip
    size = rows_by(figures.table("size_class"), "segment")
    assert size["medium"]["confirmed"] == 1 and size["medium"]["unsubscribed"] == 1
    assert size["?"]["confirmed"] == 0  # E is pending
    topic = rows_by(figures.table("topic"), "segment")
    assert topic["climate"]["confirmed"] == 2 and topic["trainings"]["confirmed"] == 1
    industry = rows_by(figures.table("industry"), "segment")
    assert industry["62"]["confirmed"] == 2


def test_issue(session: Session, config: Config, history: dict[str, int]) -> None:
    found = issue_figures(session, config, history["v1"])
    assert found.city == "vantaa"
    tables = {t.key: t for t in found.tables}
    mail = {r["figure"]: r["value"] for r in tables["mail"].rows}
    assert mail == {
        "Delivered": 3, "Failed": 1, "Bounced": 1, "Complaints": 1,
        "Unsubscribes within 7 days": 1,
    }  # fmt: skip
    links = [(r["lang"], r["section"], r["url"], r["clicks"]) for r in tables["links"].rows]
    assert links == [
        ("fi", "news", "https://vantaa.fi/aurinko", 3),
        ("fi", "events", "https://vantaa.fi/koulutus", 1),
        ("sv", "news", "https://vantaa.fi/sv/sol", 2),
    ]
    top = [(r["title"], r["clicks"]) for r in tables["top"].rows]
    assert top == [("Aurinkopaneelit", 5), ("Energiakoulutus yrityksille", 1)]
    assert {r["section"]: r["clicks"] for r in tables["sections"].rows} == {"news": 5, "events": 1}
    assert {r["lang"]: r["clicks"] for r in tables["languages"].rows} == {"fi": 4, "sv": 2}
    assert {r["reason"]: r["requests"] for r in tables["filtered"].rows} == {"agent": 2, "burst": 2}


def test_indicators_and_region(session: Session, config: Config, history: dict[str, int]) -> None:
    row = year_indicators(session, config, "vantaa", 2026, now=NOW).rows[0]
    assert row == {
        "city": "vantaa", "reached": 4, "sme_share": 75.0, "medium_share": 50.0,
        "actions": 1, "events": 2,
    }  # fmt: skip
    region = rows_by(region_indicators(session, config, 2026, now=NOW), "city")
    assert region["kerava"]["reached"] == 1 and region["kerava"]["sme_share"] == 100.0
    assert region["jarvenpaa"]["reached"] == 0 and region["jarvenpaa"]["sme_share"] is None
    assert region["*"] | {} == {
        "city": "*", "reached": 5, "sme_share": 80.0, "medium_share": 40.0,
        "actions": 1, "events": 2,
    }  # fmt: skip


def test_csv_is_localised_and_safe(
    session: Session, config: Config, history: dict[str, int]
) -> None:
    table = year_indicators(session, config, "vantaa", 2026, now=NOW)
    lines = list(csv.reader(io.StringIO(to_csv([table], "fi"))))
    assert lines[0][:2] == ["Kaupunki", "Tavoitetut yritykset"]
    assert lines[1][:2] == ["Vantaa", "4"]  # the city by its name, not its slug
    table.rows[0]["city"] = "=HYPERLINK(1)"
    assert list(csv.reader(io.StringIO(to_csv([table], "sv"))))[1][0] == "'=HYPERLINK(1)"


def test_errors_are_one_line(session: Session, config: Config, history: dict[str, int]) -> None:
    with pytest.raises(StatsError, match="no city 'nowhere'"):
        city_figures(session, config, "nowhere", 2026, now=NOW)
    with pytest.raises(StatsError, match="2027 has not started"):
        city_figures(session, config, "vantaa", 2027, now=NOW)
    with pytest.raises(StatsError, match="no issue 999"):
        issue_figures(session, config, 999)


def test_the_same_figures_on_postgresql(pg_url: str, config: Config) -> None:
    from sqlalchemy import create_engine

    from outreach.models import Base

    engine = create_engine(pg_url)
    Base.metadata.create_all(engine)
    try:
        with Session(engine, expire_on_commit=False) as s:
            history = populate(s, config)
            test_by_month(s, config, history)
            test_the_years_totals(s, config, history)
            test_by_segment(s, config, history)
            test_issue(s, config, history)
            test_indicators_and_region(s, config, history)
    finally:
        engine.dispose()


def test_segments_and_cities_are_named_in_the_readers_language(
    session: Session, config: Config, history: dict[str, int]
) -> None:
    """Topics by their names in cities.yaml, size classes, a value not given and the
    cities by their names: the console's Swedish page shows no code."""
    figures = city_figures(session, config, "vantaa", 2026, now=NOW)

    def shown_segments(key: str, lang: str) -> set[str]:
        table = figures.table(key)
        return {shown(table, "segment", row["segment"], lang) for row in table.rows}

    assert {"Stadens klimatarbete och nyheter", "Utbildningar, kurser och webbinarier"} <= (
        shown_segments("topic", "sv")
    )
    assert "medelstort företag (50–249 anställda)" in shown_segments("size_class", "sv")
    assert "inte angiven" in shown_segments("size_class", "sv")
    assert "keskisuuri yritys (50–249 työntekijää)" in shown_segments("size_class", "fi")
    for key in ("topic", "size_class", "industry"):
        assert not shown_segments(key, "sv") & {"climate", "trainings", "medium", "?"}
    indicators = figures.table("indicators")
    assert shown(indicators, "city", "vantaa", "sv") == "Vanda"
    region = region_indicators(session, config, 2026, now=NOW)
    assert [shown(region, "city", r["city"], "sv") for r in region.rows] == [
        "Träskända", "Kervo", "Vanda", "Hela regionen",
    ]  # fmt: skip
