"""Where the figures show: the console (pages, charts, CSV), the JSON API and the CLI,
each only to those who may see the city."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session

from outreach.cli import main
from outreach.issues import register_links
from outreach.models import Delivery, DeliveryStatus, Issue, IssueReach, ReachSummary, StaffUser
from outreach.settings import Settings
from outreach.staff import issue_view, sessions
from outreach.stats import reach as reach_module
from outreach.stats import settle
from outreach.subscriptions.apikeys import create_api_key
from outreach.web import create_app
from outreach.web.staff import stats as staff_stats
from outreach.web.staff.guard import COOKIE
from tests.staff.support import Clock, make_account
from tests.stats.fixture import NOW, make_issue
from tests.stats.test_settle import kept_only
from tests.web.conftest import TestClient
from tests.web.live import generous_limits


@pytest.fixture
def app(settings: Settings, engine: Engine, history: dict[str, int]) -> Iterator[FastAPI]:
    yield create_app(settings, rate_limiter=generous_limits(), clock=Clock(now=NOW))


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="https://testserver") as c:
        yield c


def signed_in(engine: Engine, email: str, role: str, city: str) -> dict[str, str]:
    make_account(engine, email, role, city)
    with Session(engine) as s:
        user = s.query(StaffUser).filter_by(email=email).one()
        token = sessions.start(s, user, sessions.FULL, ip="127.0.0.1", now=NOW)
        s.commit()
    return {"Cookie": f"{COOKIE}={token}"}


def test_the_console_shows_charts_tables_and_csv(
    client: TestClient, engine: Engine, history: dict[str, int]
) -> None:
    me = signed_in(engine, "v@vantaa.fi", "editor", "vantaa")
    page = client.get("/staff/vantaa/stats?lang=fi&year=2026", headers=me)
    assert page.status_code == 200
    html = page.text
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img"') >= 3
    assert '<title id="city-monthly-confirmed-t">Kuukausittain: Vahvistetut</title>' in html
    assert '<desc id="city-monthly-confirmed-d">2026-01 2; 2026-02 2;' in html
    assert '<th scope="col">Tavoitetut yritykset</th>' in html  # the data as a table
    assert "<script" not in html
    download = client.get("/staff/vantaa/stats.csv?year=2026&table=indicators&lang=sv", headers=me)
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(download.text.lstrip("\ufeff"))))
    assert rows[0][0] == "Stad" and rows[1][:2] == ["Vanda", "4"]  # the city by its name
    board = client.get("/staff/vantaa/?lang=en", headers=me)
    assert "Figures 2026" in board.text and 'class="chart"' in board.text
    issue = client.get(f"/staff/vantaa/issues/{history['v1']}/stats?lang=fi", headers=me)
    assert issue.status_code == 200 and "Klikkaukset linkeittäin" in issue.text
    assert "https://vantaa.fi/sv/sol" in issue.text


def test_a_kerava_editor_never_sees_vantaas_figures(
    client: TestClient, engine: Engine, history: dict[str, int]
) -> None:
    kerava = signed_in(engine, "k@kerava.fi", "editor", "kerava")
    v1 = history["v1"]
    paths = ["/staff/vantaa/stats", "/staff/vantaa/stats.csv?year=2026"]
    for city in ("vantaa", "kerava"):  # Vantaa's issue, also under Kerava's name
        paths += [f"/staff/{city}/issues/{v1}/stats", f"/staff/{city}/issues/{v1}/stats.csv"]
    for path in paths:
        answer = client.get(path, headers=kerava)
        assert answer.status_code == 404, path
        assert "vantaa.fi/aurinko" not in answer.text
    own = client.get("/staff/kerava/stats.csv?year=2026&table=indicators", headers=kerava)
    assert own.status_code == 200 and "Kerava,1," in own.text


def test_the_api_answers_a_city_key_for_its_own_city_only(
    client: TestClient, engine: Engine, history: dict[str, int]
) -> None:
    with Session(engine) as s:
        _, kerava = create_api_key(s, "kerava crm", ["kerava"])
        _, vantaa = create_api_key(s, "vantaa crm", ["vantaa"])
        _, every = create_api_key(s, "region")
        s.commit()

    def get(path: str, key: str) -> tuple[int, dict[str, object]]:
        answer = client.get(path, headers={"Authorization": f"Bearer {key}"})
        return answer.status_code, answer.json()

    code, body = get("/api/v1/stats/vantaa/indicators?year=2026", vantaa)
    assert code == 200
    assert body["tables"]["indicators"]["rows"][0]["reached"] == 4  # type: ignore[index]
    code, body = get(f"/api/v1/stats/vantaa/issues/{history['v1']}", vantaa)
    assert code == 200 and body["period"] == "2026-11"
    v1 = history["v1"]
    for path in ("/api/v1/stats/vantaa?year=2026", "/api/v1/stats/vantaa/indicators",
                 f"/api/v1/stats/vantaa/issues/{v1}", "/api/v1/stats/region"):  # fmt: skip
        code, body = get(path, kerava)
        assert code == 403, path
        assert "aurinko" not in json.dumps(body)
    code, _ = get(f"/api/v1/stats/kerava/issues/{history['v1']}", kerava)
    assert code == 404  # Vantaa's issue under Kerava's name
    code, body = get("/api/v1/stats/region?year=2026", every)
    assert code == 200
    assert body["tables"]["region"]["rows"][-1]["reached"] == 5  # type: ignore[index]
    assert client.get("/api/v1/stats/vantaa").status_code == 401


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.setenv("OUTREACH_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("OUTREACH_CAMPAIGNS_DIR", str(settings.campaigns_path))
    monkeypatch.setenv("OUTREACH_TEMPLATES_DIR", str(settings.templates_path))
    monkeypatch.setenv("OUTREACH_SECRET_KEY", "test-secret-key-0123456789abcdef0123456789")
    monkeypatch.setenv("OUTREACH_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("OUTREACH_CLI_LANGUAGE", "fi")
    return CliRunner()


def test_the_command_line(cli_env: CliRunner, history: dict[str, int]) -> None:
    result = cli_env.invoke(main, ["stats", "year", "--year", "2026", "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["tables"]["region"]["rows"]
    assert [r["reached"] for r in rows] == [0, 1, 4, 5]  # jarvenpaa, kerava, vantaa, region
    result = cli_env.invoke(main, ["stats", "issue", str(history["v1"]), "--format", "csv"])
    assert result.exit_code == 0 and "Toimitetut,3" in result.output
    result = cli_env.invoke(main, ["stats", "city", "vantaa", "--year", "2026"])
    assert result.exit_code == 0 and "Tavoitetut yritykset" in result.output
    assert "2026-11" in result.output
    result = cli_env.invoke(main, ["stats", "city", "nowhere"])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "Traceback" not in result.output


def test_the_dashboard_asks_as_much_however_many_issues_and_deliveries(
    client: TestClient, engine: Engine, history: dict[str, int]
) -> None:
    """The dashboard's statements (once the settled issues' reach is kept; the counts of
    the sends, kept a minute, counted again) are as many with fourteen issues as with
    two, and it shows the new ones' deliveries."""
    me = signed_in(engine, "v@vantaa.fi", "editor", "vantaa")

    def statements() -> tuple[int, str]:
        assert client.get("/staff/vantaa/?lang=en", headers=me).status_code == 200
        issue_view.forget_figures()
        seen: list[str] = []

        def count(*args: Any) -> None:
            seen.append(args[2])

        event.listen(Engine, "before_cursor_execute", count)
        try:
            page = client.get("/staff/vantaa/?lang=en", headers=me)
        finally:
            event.remove(Engine, "before_cursor_execute", count)
        assert page.status_code == 200
        return len(seen), page.text

    few, page = statements()
    assert delivered(page) == 6
    with Session(engine) as s:
        v1 = s.get(Issue, history["v1"])
        assert v1 is not None
        people = [(d.subscriber_id, d.subscription_id, d.email) for d in s.scalars(
            select(Delivery).where(Delivery.issue_id == history["v2"]))]  # fmt: skip
        for month in range(1, 13):
            started = datetime(2026, month, 20, 7, tzinfo=UTC)
            issue = make_issue(s, v1.campaign_id, "vantaa", f"2026-{month:02d}-x", started, {})
            s.add_all(
                Delivery(issue_id=issue.id, subscriber_id=sub, subscription_id=subscription,
                         email=email, language="fi", status=DeliveryStatus.SENT,
                         sent_at=started)
                for sub, subscription, email in people
            )  # fmt: skip
        s.commit()
    many, page = statements()
    assert delivered(page) == 6 + 11 * 3  # (December's is on the 20th, after now)
    assert many == few


def delivered(page: str) -> int:
    """The year's deliveries, from the dashboard's table of the year."""
    found = re.search(r'<th scope="row">Delivered</th><td[^>]*>(\d+)</td>', page)
    assert found, "no deliveries in the year's table"
    return int(found.group(1))


def test_a_page_reads_what_no_send_folded_from_the_rows_and_folds_it_after_answering(
    client: TestClient, engine: Engine, history: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    me = signed_in(engine, "v@vantaa.fi", "editor", "vantaa")
    answered: list[set[int]] = []

    def page_folds(*_: Any, **__: Any) -> int:
        raise AssertionError("the page folded before its answer")

    def after_answer(*args: Any, **kwargs: Any) -> int:
        with Session(engine) as s:  # the answer's figures came from the rows: none folded
            answered.append(set(s.scalars(select(IssueReach.issue_id))))
        return settle(*args, **kwargs)

    monkeypatch.setattr(reach_module, "fold", page_folds)
    monkeypatch.setattr(staff_stats, "settle", after_answer)
    page = client.get("/staff/vantaa/?lang=en", headers=me)
    assert page.status_code == 200 and delivered(page.text) == 6
    assert answered == [set()]
    with Session(engine) as s:  # folded once the answer went, the year counted
        assert set(s.scalars(select(IssueReach.issue_id))) == {history["v1"], history["v2"]}
        assert s.scalar(select(func.count()).select_from(ReachSummary)) == 1
    with kept_only(monkeypatch):
        assert delivered(client.get("/staff/vantaa/?lang=en", headers=me).text) == 6


def _cells(html: str) -> list[str]:
    return re.findall(r"<t[hd](?: scope=\"row\")?>([^<]*)</t[hd]>", html)


def test_the_issue_figures_name_sections_and_languages_in_the_readers_language(
    client: TestClient, engine: Engine, history: dict[str, int]
) -> None:
    me = signed_in(engine, "v@vantaa.fi", "editor", "vantaa")
    with Session(engine) as s:  # an issue whose introduction holds a link too
        campaign_id = s.get(Issue, history["v1"]).campaign_id  # type: ignore[union-attr]
        news = {"id": 901, "title": "Uutinen", "url": "https://vantaa.fi/uutinen"}
        issue = make_issue(
            s, campaign_id, "vantaa", "2026-09", None, {"fi": [("news", [news])], "sv": []}
        )
        snapshot = dict(issue.snapshot or {})
        languages = dict(snapshot["languages"])
        intro = '<p><a href="https://vantaa.fi/ilmasto">Ilmasto</a></p>'
        languages["fi"] = {**languages["fi"], "intro_html": intro}
        issue.snapshot = {**snapshot, "languages": languages}
        register_links(s, issue)
        s.commit()
        issue_id = issue.id
    fi = client.get(f"/staff/vantaa/issues/{issue_id}/stats?lang=fi", headers=me).text
    assert {"Kaupungin ilmastotyö", "Johdanto", "suomi"} <= set(_cells(fi))
    sv = client.get(f"/staff/vantaa/issues/{issue_id}/stats?lang=sv", headers=me).text
    assert {"Stadens klimatarbete", "Inledning", "finska"} <= set(_cells(sv))
    en = client.get(f"/staff/vantaa/issues/{issue_id}/stats?lang=en", headers=me).text
    assert {"Introduction", "Finnish"} <= set(_cells(en))
    for page in (fi, sv, en):
        assert not {"news", "intro", "fi", "sv"} & set(_cells(page))
    # both sections of the sent issue, by their titles, in the chart's words too
    v1 = client.get(f"/staff/vantaa/issues/{history['v1']}/stats?lang=sv", headers=me).text
    assert {"Stadens klimatarbete", "Utbildningar och webbinarier"} <= set(_cells(v1))
    assert "Utbildningar och webbinarier" in re.findall(r"<desc [^>]*>([^<]*)</desc>", v1)[-2]


def test_figures_with_decimals_take_a_comma_in_finnish_and_swedish() -> None:
    from outreach.stats import Table, shown_cells

    table = Table("t", "Delivered", [("figure", "Figure"), ("value", "Value")],
                  [{"figure": "Delivered", "value": 12.5}])  # fmt: skip
    assert shown_cells(table, table.rows[0], "fi")[1] == "12,5"
    assert shown_cells(table, table.rows[0], "sv")[1] == "12,5"
    assert shown_cells(table, table.rows[0], "en")[1] == "12.5"


def test_a_charts_long_labels_stay_inside_it() -> None:
    """Topic names turned under their bars (about 6.2 px a character in 11 px type)
    end inside the chart: not cut at its left edge nor below it."""
    import math

    from outreach.stats.charts import bar_chart
    from outreach.stats.tables import Table

    names = ["Priser och utmärkelser", "Stadens klimatarbete och nyheter", "Upphandlingar",
             "Utbildningar, kurser och webbinarier"]  # fmt: skip
    table = Table("topic", "Subscribers by topic", [("segment", "Topic"), ("n", "Confirmed")],
                  [{"segment": name, "n": 1} for name in names], chart=["n"])  # fmt: skip
    svg = bar_chart(table, "n", "sv", "t")
    height = float(re.search(r'viewBox="0 0 \d+ (\d+)"', svg)[1])  # type: ignore[index]
    labels = re.findall(r'<text x="([\d.]+)" y="([\d.]+)" text-anchor="end" font-size="11" '
                        r'transform="rotate\((-?\d+) [^"]+">([^<]+)</text>', svg)  # fmt: skip
    assert len(labels) == len(names)
    for x, y, angle, text in labels:
        extent = len(text) * 6.2
        turn = math.radians(-float(angle))
        assert float(x) - extent * math.cos(turn) >= 0, text
        assert float(y) + extent * math.sin(turn) <= height, text
