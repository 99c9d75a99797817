"""``outreach stats city|issue|year``: the figures of outreach.stats, as a table, CSV or JSON."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from outreach.cli.base import App, Group, cli_language, main, pass_app
from outreach.stats import (
    Table,
    as_json,
    city_figures,
    dumps,
    issue_figures,
    region_indicators,
    text_table,
    to_csv,
    year_indicators,
)

FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
    help="A table to read, CSV or JSON.",
)
YEAR = click.option("--year", type=click.IntRange(2000, 2100), help="Default: this year.")


@main.group(cls=Group)
def stats() -> None:
    """Figures without tracking people: reach, subscribers, clicks (docs/stats.md)."""


def _print(tables: list[Table], fmt: str, meta: dict[str, object]) -> None:
    lang = cli_language()
    if fmt == "json":
        click.echo(dumps(as_json(tables, meta)))
    elif fmt == "csv":
        click.echo(to_csv(tables, lang), nl=False)
    else:
        click.echo("\n\n".join(text_table(table, lang) for table in tables))


def _year(year: int | None) -> int:
    return year if year is not None else datetime.now(UTC).year


@stats.command("city")
@click.argument("city")
@YEAR
@FORMAT
@pass_app
def city(app: App, city: str, year: int | None, fmt: str) -> None:
    """A city's year: by month, the year's totals, subscribers by segment."""
    with app.session() as session:
        found = city_figures(session, app.synced(session), city, _year(year))
    _print(found.tables, fmt, {"city": city, "year": found.year})


@stats.command("issue")
@click.argument("issue_id", type=int)
@FORMAT
@pass_app
def issue(app: App, issue_id: int, fmt: str) -> None:
    """One issue: delivered, failed, bounced, complaints, unsubscribes, clicks."""
    with app.session() as session:
        found = issue_figures(session, app.synced(session), issue_id)
    _print(found.tables, fmt, {"issue": issue_id, "city": found.city, "period": found.period})


@stats.command("year")
@click.argument("city", required=False)
@YEAR
@FORMAT
@pass_app
def year(app: App, city: str | None, year: int | None, fmt: str) -> None:
    """The year's indicators of CITY, or of every city and the region."""
    with app.session() as session:
        config = app.synced(session)
        if city:
            table = year_indicators(session, config, city, _year(year))
        else:
            table = region_indicators(session, config, _year(year))
    _print([table], fmt, {"year": _year(year), **({"city": city} if city else {})})
