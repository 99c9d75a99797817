"""Every word of the figures has a Finnish and a Swedish translation in the stats catalog."""

from __future__ import annotations

import re

import pytest
from babel.messages.pofile import read_po
from sqlalchemy.orm import Session

from outreach.campaigns import Config
from outreach.l10n import LOCALE_DIR
from outreach.stats import Table, city_figures, issue_figures, region_indicators
from outreach.stats.clicks import __doc__ as CLICKS_DOC
from outreach.stats.issue import BUILT_IN_SECTIONS
from outreach.stats.tables import LANGUAGE_NAMES, WORDS
from tests.conftest import ROOT
from tests.stats.fixture import NOW

TEMPLATES = ROOT / "outreach" / "web" / "templates" / "staff"


def msgids(tables: list[Table]) -> set[str]:
    found = {"No figures yet"}
    for table in tables:
        found.add(table.title)
        found |= {label for _, label in table.columns}
        found |= {str(row[k]) for row in table.rows for k in WORDS if k in row}
    found |= set(LANGUAGE_NAMES.values()) | set(BUILT_IN_SECTIONS.values())
    for path in TEMPLATES.glob("*.html"):
        found |= set(re.findall(r'\bs\("([^"]+)"', path.read_text(encoding="utf-8")))
    return found


@pytest.mark.parametrize("lang", ["fi", "sv"])
def test_every_word_is_translated(
    lang: str, session: Session, config: Config, history: dict[str, int]
) -> None:
    tables = [
        *city_figures(session, config, "vantaa", 2026, now=NOW).tables,
        *issue_figures(session, config, history["v1"]).tables,
        region_indicators(session, config, 2026, now=NOW),
    ]
    wanted = msgids(tables)
    reasons = set(re.findall(r"^``(\w+)``", CLICKS_DOC or "", re.M))
    assert reasons == {"head", "prefetch", "agent", "before_send", "repeat", "burst", "early"}
    wanted |= reasons
    with (LOCALE_DIR / lang / "LC_MESSAGES" / "stats.po").open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    missing = sorted(m for m in wanted if m not in catalog or not catalog[m].string)
    assert len(wanted) > 60 and not missing, missing
