"""Statistics without tracking people: counted links and the figures built on them.

The stage above ``delivery`` and ``bounces`` (it reads their rows) and below
``staff`` and the faces, which show what it computes. See docs/stats.md.

    clicks    /l/<id>: resolve a signed link id to its stored URL, count or filter the click
    city      the building blocks: months, issues sent, subscribers, events promoted
    reach     companies reached, from one mask per subscriber
    marks     settled issues folded into those masks once (issue_reach, reach_marks)
    summaries the reach of folded issues counted once and kept while nothing it rests on changes
    settle    what a finished send calls: fold its issue, count its city's year
    figures   a city's year by month and segment; the year's indicators; the region
    issue     one issue: its mail, its clicks per link, item, section and language
    tables    the one table shape behind the console, the CLI, CSV and JSON
    charts    accessible SVG bar charts, drawn on the server
"""

from outreach.stats.charts import bar_chart, charts
from outreach.stats.city import leads_contacted
from outreach.stats.clicks import (
    PURPOSE_HEADERS,
    Links,
    follow,
    network,
    prefetch,
    resolve,
    scanner_agent,
)
from outreach.stats.clicks import Request as ClickRequest
from outreach.stats.figures import (
    CityFigures,
    city_figures,
    region_indicators,
    year_indicators,
    year_reach,
)
from outreach.stats.issue import IssueFigures, issue_city, issue_figures
from outreach.stats.settle import settle
from outreach.stats.tables import (
    Table,
    as_json,
    cell,
    dumps,
    labels,
    shown_cells,
    t,
    text_table,
    to_csv,
)

__all__ = [
    "PURPOSE_HEADERS",
    "CityFigures",
    "ClickRequest",
    "IssueFigures",
    "Links",
    "Table",
    "as_json",
    "bar_chart",
    "cell",
    "charts",
    "city_figures",
    "dumps",
    "follow",
    "issue_city",
    "issue_figures",
    "labels",
    "leads_contacted",
    "network",
    "prefetch",
    "region_indicators",
    "resolve",
    "scanner_agent",
    "settle",
    "shown_cells",
    "t",
    "text_table",
    "to_csv",
    "year_indicators",
    "year_reach",
]
