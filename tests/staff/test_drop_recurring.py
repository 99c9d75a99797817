"""The draft editor says where staff decide that *Drop* on a recurring event takes
out all its dates from the issue, and says afterwards that the event went.

The draft holds a news item, a weekly event (its calendar names the series;
three dates in the issue, one entry with the later two beside it), an event of
a series with only one date in this issue, and a one-off event. Its entries are
the snapshot's own (``item_snapshot``), so they carry the series keys the drop
goes by.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import lxml.html
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from outreach.campaigns import Config
from outreach.cli import main
from outreach.issues.selection import Picked
from outreach.issues.snapshot import item_snapshot
from outreach.models import AuditEvent, ContentItem, Issue, IssueItem, SourceState
from outreach.settings import Settings, get_settings
from tests.staff import test_workflow as wf
from tests.staff.support import csrf_of, make_city_issue
from tests.staff.test_workflow import EDITOR, signed_in
from tests.web.conftest import TestClient

_clean_outbox = wf._clean_outbox
app = wf.app
config = wf.config
settings = wf.settings

COFFEE = "Ilmastokahvit yrityksille"
CLINIC = "Energiaklinikka"
FAIR = "Materiaalitori"
FIRST = datetime(2026, 12, 3, 6, 30, tzinfo=UTC)


def _event(source: int, item_id: int, title: str, when: datetime, series: str | None
           ) -> ContentItem:  # fmt: skip
    return ContentItem(
        id=item_id, source_id=source, kind="event", external_id=f"e{item_id}", title=title,
        fingerprint=f"e{item_id}", starts_at=when, ends_at=when + timedelta(hours=1),
        location="Teams", url=f"https://www.vantaa.fi/tapahtumat/{item_id}", series=series,
    )  # fmt: skip


@pytest.fixture
def draft(engine: Engine, config: Config) -> Issue:
    with Session(engine, expire_on_commit=False) as s:
        issue = make_city_issue(s, config, "vantaa-monthly", titles=("Aurinkopaneelit",))
        source = SourceState(key="test-calendar", type="ical")
        s.add(source)
        s.flush()
        coffees = [
            _event(source.id, 11 + k, COFFEE, FIRST + timedelta(weeks=k), "kahvit@vantaa.fi")
            for k in range(3)
        ]
        clinic = _event(source.id, 21, CLINIC, FIRST + timedelta(days=1), "klinikka@vantaa.fi")
        fair = _event(source.id, 31, FAIR, FIRST + timedelta(days=8), None)
        news = ContentItem(id=1, source_id=source.id, kind="news", external_id="n1",
                           title="Aurinkopaneelit", fingerprint="n1")  # fmt: skip
        s.add_all([news, *coffees, clinic, fair])
        s.flush()
        for item in (1, 11, 12, 13, 21, 31):
            s.add(IssueItem(issue_id=issue.id, item_id=item, section="news", lead=True))
        snapshot: dict[str, Any] = {**issue.snapshot, "languages": {}}
        for lang, data in issue.snapshot["languages"].items():
            [section] = data["sections"]
            events = [
                item_snapshot(Picked(coffees[0], False, tuple(coffees[1:])), lang),
                item_snapshot(Picked(clinic, False), lang),
                item_snapshot(Picked(fair, False), lang),
            ]
            shown = {**section, "entries": [*section["entries"], *events]}
            snapshot["languages"][lang] = {**data, "sections": [shown]}
        issue.snapshot = snapshot
        s.commit()
        return issue


def _item(html: str, item_id: int) -> lxml.html.HtmlElement:
    [found] = lxml.html.fromstring(html).xpath(f'//li[@id="item-{item_id}"]')
    return found


def _drop_button(html: str, item_id: int) -> tuple[str, str, str]:
    """The drop button of an item: its text, its aria-label, what describes it."""
    [button] = _item(html, item_id).xpath('.//form[contains(@action, "/drop")]/button')
    return (button.text_content(), button.get("aria-label"),
            button.get("aria-describedby") or "")  # fmt: skip


def _note(html: str, item_id: int) -> str:
    found = _item(html, item_id).xpath(f'.//p[@id="recurring-{item_id}"]')
    return " ".join(p.text_content() for p in found)


SAID = {
    "en": {
        "button": "Drop all dates",
        "several": "Recurring event: 3 dates in this issue. Dropping it takes out every date "
        "of the event, also when the draft is rebuilt.",
        "one": "Recurring event: 1 date in this issue.",
        "plain": "Drop",
        "dropped several": "The recurring event was dropped from this issue with all its dates "
        "(3 dates); a rebuild of the draft leaves it out too.",
        "dropped one": "The recurring event was dropped from this issue (1 date);",
    },
    "fi": {
        "button": "Poista kaikki päivät",
        "several": "Toistuva tapahtuma: 3 päivää tässä numerossa. Poistaminen poistaa "
        "tapahtuman kaikki päivät, myös kun luonnos kootaan uudelleen.",
        "one": "Toistuva tapahtuma: 1 päivä tässä numerossa.",
        "plain": "Poista",
        "dropped several": "Toistuva tapahtuma poistettiin tästä numerosta kaikkine päivineen "
        "(3 päivää); se jää pois myös, kun luonnos kootaan uudelleen.",
        "dropped one": "Toistuva tapahtuma poistettiin tästä numerosta (1 päivä);",
    },
    "sv": {
        "button": "Ta bort alla datum",
        "several": "Återkommande evenemang: 3 datum i det här numret. Tar du bort det "
        "försvinner alla evenemangets datum, också när utkastet sammanställs på nytt.",
        "one": "Återkommande evenemang: 1 datum i det här numret.",
        "plain": "Ta bort",
        "dropped several": "Det återkommande evenemanget togs bort ur det här numret med alla "
        "sina datum (3 datum); det hålls utanför också när utkastet sammanställs på nytt.",
        "dropped one": "Det återkommande evenemanget togs bort ur det här numret (1 datum);",
    },
}


@pytest.mark.parametrize("lang", ["fi", "sv", "en"])
def test_the_editor_says_drop_takes_every_date_of_a_recurring_event(
    engine: Engine, client: TestClient, draft: Issue, lang: str
) -> None:
    said = SAID[lang]
    signed_in(engine, client, EDITOR, "editor", "vantaa")
    base = f"/staff/vantaa/issues/{draft.id}"
    page = client.get(f"{base}/edit?lang={lang}&edition=fi")
    assert page.status_code == 200
    html = page.text
    # the weekly event: the button says all dates, the note beside it counts them
    text, label, described = _drop_button(html, 11)
    assert (text, label) == (said["button"], f"{said['button']}: {COFFEE}")
    assert described == "recurring-11" and _note(html, 11) == said["several"]
    # a series with one date in this issue is still dropped as the series
    assert _drop_button(html, 21)[0] == said["button"]
    assert _note(html, 21).startswith(said["one"])
    # a one-off event and a news item: a plain drop, no note
    for plain, title in ((31, FAIR), (1, "Aurinkopaneelit")):
        assert _drop_button(html, plain)[:2] == (said["plain"], f"{said['plain']}: {title}")
        assert _note(html, plain) == ""

    token = csrf_of(html)
    answer = client.post(f"{base}/items/11/drop?lang={lang}",
                         data={"csrf_token": token, "edition": "fi"})  # fmt: skip
    assert answer.status_code == 200 and len(answer.history) == 1
    [flash] = lxml.html.fromstring(answer.text).xpath('//p[@role="status"]')
    assert flash.text_content().startswith(said["dropped several"])
    assert not lxml.html.fromstring(answer.text).xpath('//li[@id="item-11"]')
    one = client.post(f"{base}/items/21/drop?lang={lang}",
                      data={"csrf_token": token, "edition": "fi"})  # fmt: skip
    [flash] = lxml.html.fromstring(one.text).xpath('//p[@role="status"]')
    assert flash.text_content().startswith(said["dropped one"])
    plain = client.post(f"{base}/items/31/drop?lang=en", data={"csrf_token": token,
                        "edition": "fi"}, follow_redirects=False)  # fmt: skip
    assert "done=saved" in plain.headers["location"] and "dates" not in plain.headers["location"]

    with Session(engine) as s:
        issue = s.get(Issue, draft.id)
        assert issue is not None
        for data in issue.snapshot["languages"].values():
            assert [e["id"] for e in data["sections"][0]["entries"]] == [1]
        held = s.scalars(select(IssueItem.item_id).where(IssueItem.issue_id == draft.id))
        assert list(held) == [1]  # every date of the weekly event went, not only the shown one
        details = s.scalars(select(AuditEvent.detail).where(
            AuditEvent.issue_id == draft.id).order_by(AuditEvent.id)).all()  # fmt: skip
    assert [d.get("series_dates") for d in details] == [3, 1, None]


def test_a_count_from_the_address_that_is_no_number_says_nothing(
    engine: Engine, client: TestClient, draft: Issue
) -> None:
    signed_in(engine, client, EDITOR, "editor", "vantaa")
    base = f"/staff/vantaa/issues/{draft.id}/edit?lang=en&edition=fi&done=series"
    for dates in ("abc", "²", "-3", "9" * 12):
        page = client.get(f"{base}&dates={dates}")
        assert page.status_code == 200
        [flash] = lxml.html.fromstring(page.text).xpath('//p[@role="status"]')
        assert "(0 dates)" in flash.text_content()


@pytest.fixture
def cli(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("OUTREACH_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("OUTREACH_CAMPAIGNS_DIR", str(settings.campaigns_dir))
    monkeypatch.setenv("OUTREACH_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("OUTREACH_MAIL_URL", "memory:")
    return CliRunner()


@pytest.mark.parametrize(
    ("lang", "several", "one"),
    [
        ("en", "item 11 dropped, a recurring event, with all its 3 dates in this issue",
         "item 21 dropped, a recurring event, with its 1 date in this issue"),
        ("fi", "kohde 11 poistettu; se on toistuva tapahtuma, ja sen kaikki 3 päivää",
         "kohde 21 poistettu; se on toistuva tapahtuma, ja sen 1 päivä"),
        ("sv", "post 11 borttagen; den är ett återkommande evenemang och alla dess 3 datum",
         "post 21 borttagen; den är ett återkommande evenemang och dess 1 datum"),
    ],
)  # fmt: skip
def test_the_cli_says_a_drop_took_every_date_of_a_recurring_event(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch, draft: Issue, lang: str, several: str,
    one: str,
) -> None:  # fmt: skip
    monkeypatch.setenv("OUTREACH_CLI_LANGUAGE", lang)
    get_settings.cache_clear()
    said = []
    for item in ("11", "21", "31"):
        result = cli.invoke(main, ["issue", "drop", str(draft.id), item, "--by", "kaisa"])
        assert result.exit_code == 0, result.output
        said.append(result.output.strip())
    assert several in said[0] and one in said[1]
    assert said[2] == PLAIN[lang].format(id=draft.id)  # a one-off event


PLAIN = {
    "en": "Issue {id}: item 31 dropped.",
    "fi": "Numero {id}: kohde 31 poistettu.",
    "sv": "Nummer {id}: post 31 borttagen.",
}
