"""The campaign editor and the sources page in headless Chromium on a real uvicorn
server, checked by axe-core: a Vantaa approver creates a console campaign in the
editor's fields (the audience's count following its topics, a section and its RSS
source, a section added and removed again, the source's options following its
type), sees its next three runs in Finnish in Europe/Helsinki, tries the source
served by a second server on 127.0.0.1 before saving, saves it and builds its
first issue, whose page opens with the preview. A field typed wrong shows its
error beside it. The list, the editor and the sources page have no axe
violation. Without Chromium the test is skipped (see tests/web/test_browser.py).
"""

from __future__ import annotations

import http.server
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from outreach.campaigns import load
from outreach.models import AuditEvent, Campaign, Issue
from outreach.settings import Settings
from tests.staff.support import PASSWORD, make_account, make_subscriber
from tests.staff.test_browser import at, browser, console, page
from tests.web.test_browser import accessible, axe_module

__all__ = ["browser", "page"]
expect = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed").expect

HELSINKI = ZoneInfo("Europe/Helsinki")
TITLES = ("Ilmastoteko: aurinkopaneelit katolle", "Ilmastokumppanit kokoontuvat")
LEFT_OUT = "Kirjaston aukioloajat"  # not kept by the section's include: ilmasto*
#: ``ti 6.1.2027 klo 9.00``: a Finnish weekday, day.month.year and the clock word
RUN = re.compile(r"^ti (\d{1,2})\.(\d{1,2})\.(\d{4}) klo 9\.00$")


def no_violations(page: Any) -> None:
    """axe-core finds nothing at all on the page (of any impact), beyond ``accessible``."""
    accessible(page)
    found = axe_module.Axe().run(page).response["violations"]
    assert not found, f"{page.url}\n" + "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']}" for v in found
    )


def rss(now: datetime) -> bytes:
    items = "".join(
        f"<item><title>{title}</title><link>http://127.0.0.1/{i}</link><guid>g{i}</guid>"
        f"<pubDate>{format_datetime(now - timedelta(hours=i + 1))}</pubDate></item>"
        for i, title in enumerate((*TITLES, LEFT_OUT))
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Vantaa</title><link>http://127.0.0.1/</link>{items}</channel></rss>"
    ).encode()


@pytest.fixture
def feed_url() -> Iterator[str]:
    """A second small HTTP server on 127.0.0.1 with one RSS feed of recent items."""
    body = rss(datetime.now(UTC))

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            found = self.path == "/feed.xml"
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(body) if found else 0))
            self.end_headers()
            if found:
                self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/feed.xml"
    server.shutdown()
    server.server_close()


def fill_editor(page: Any, feed: str) -> None:
    """The new campaign's fields: Finnish only, monthly on the first Tuesday at 9.00,
    one news section of the feed's items about the climate."""
    page.locator("#f-slug").fill("vantaa-ilmasto")
    page.locator("input[name=languages][value=sv]").uncheck()
    page.locator("#f-title-fi").fill("Vantaan ilmastokirje")
    page.locator("#f-subject-fi").fill("Ilmastokirje {{ issue.period_label }}")
    page.locator("input[name=topics][value=climate]").check()
    page.locator("#f-sk").select_option("monthly")
    page.locator("#f-nth").select_option("1st")
    page.locator("#f-wd").select_option("tue")
    page.locator("#f-hour").fill("9")
    page.locator("#f-minute").fill("00")
    page.locator("#f-sections-0-id").fill("news")
    page.locator("#f-sections-0-kind").select_option("news")
    page.locator("#f-sections-0-title-fi").fill("Uutiset")
    page.locator("#f-sections-0-include").fill("ilmasto*")
    page.locator("#f-sections-0-sources-0-type").select_option("rss")
    page.locator("#f-sections-0-sources-0-url").fill(feed)


def test_create_try_save_and_build_a_campaign_in_the_browser(
    page: Any, settings: Settings, engine: Engine, feed_url: str
) -> None:
    make_account(engine, "hyvaksyja@vantaa.fi", "approver", "vantaa")
    make_subscriber(engine, settings, load(settings.campaigns_path), "vantaa")  # climate, fi
    # the feed on 127.0.0.1 is allowed the way the test suite's own fetches are
    live = {"fetch_allowed_hosts": ["127.0.0.1"], "fetch_retries": 0}
    with console(settings, **live) as url:
        base = f"{url}/staff/vantaa/campaigns"
        page.goto(f"{base}?lang=fi")
        page.locator("#email").fill("hyvaksyja@vantaa.fi")
        page.locator("#password").fill(PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url(at("/staff/vantaa/campaigns"))
        assert "vantaa-monthly" in page.locator("main").inner_text()
        no_violations(page)

        page.goto(f"{base}/new?lang=fi")
        assert page.locator("h1").inner_text() == "Uusi kampanja"
        no_violations(page)
        assert page.locator("textarea", has_text="sources").count() == 0  # no YAML to write

        # the audience's count follows its fields as they change (the script)
        def count_is(n: int) -> None:
            expect(page.locator("#audience-count")).to_have_text(re.compile(rf": {n}$"))

        count_is(1)
        page.locator("input[name=topics][value=awards]").check()
        count_is(0)
        page.locator("input[name=topics][value=awards]").uncheck()
        count_is(1)
        fill_editor(page, feed_url)

        # a source shows the options of its type only (the script); rss has no parameters
        params = page.locator("#f-sections-0-sources-0-params")
        assert params.is_hidden() and page.locator("#f-sections-0-sources-0-url").is_visible()
        page.locator("#f-sections-0-sources-0-type").select_option("linkedevents")
        assert params.is_visible() and page.locator("#f-sections-0-sources-0-language").is_hidden()
        page.locator("#f-sections-0-sources-0-type").select_option("rss")
        assert params.is_hidden()

        # Add a section: the form comes back with what was typed and a second section,
        # its short name focused; Remove takes it away again
        with page.expect_navigation():
            page.get_by_role("button", name="Lisää osio").click()
        assert page.locator("#f-sections-0-sources-0-url").input_value() == feed_url
        assert page.locator("#f-sections-1-id").input_value() == "section-1"
        assert page.evaluate("document.activeElement.id") == "f-sections-1-id"
        no_violations(page)
        with page.expect_navigation():
            page.locator("#section-1").get_by_role("button", name="Poista osio").click()
        assert page.locator("#section-1").count() == 0

        # a number out of its range: its error beside the field, in Finnish
        page.locator("#f-sections-0-max-items").fill("80")
        with page.expect_navigation():
            page.get_by_role("button", name="Tarkista", exact=True).click()
        error = page.locator("#f-sections-0-max-items-err")
        assert error.inner_text() == "Enintään 50."
        assert page.locator("#f-sections-0-max-items").get_attribute("aria-invalid") == "true"
        page.locator("#errors a").first.click()  # the list at the top leads to the field
        assert page.evaluate("document.activeElement.id") == "f-sections-0-max-items"
        no_violations(page)

        # Enter in a field checks: no errors, the next three runs in Finnish, Helsinki time
        page.locator("#f-sections-0-max-items").fill("6")
        with page.expect_navigation():
            page.locator("#f-sections-0-title-fi").press("Enter")
        assert page.locator("main [role=status]").first.inner_text() == "Virheitä ei löytynyt."
        runs = page.locator("#next-runs")
        assert "Europe/Helsinki" in runs.locator("p").inner_text()
        shown = runs.locator("li").all_inner_texts()
        assert len(shown) == 3, shown
        after = datetime.now(HELSINKI)
        dates = []
        for text in shown:
            match = RUN.match(text)
            assert match, text
            day, month, year = (int(g) for g in match.groups())
            when = datetime(year, month, day, 9, tzinfo=HELSINKI)
            assert when.weekday() == 1 and day <= 7, text  # the first Tuesday
            dates.append(when)
        assert dates == sorted(dates) and dates[0] > after
        assert len({(d.year, d.month) for d in dates}) == 3  # one a month
        no_violations(page)
        with Session(engine) as s:  # Check writes nothing
            assert s.scalar(select(Campaign.id).filter_by(slug="vantaa-ilmasto")) is None

        # Try this source: the feed's items the section keeps, under the source, unsaved
        with page.expect_navigation():
            page.locator("#section-0").get_by_role("button", name="Kokeile tätä lähdettä").click()
        trial = page.locator("#trial")
        assert trial.locator("ul.trial strong").all_inner_texts() == list(TITLES)
        assert LEFT_OUT not in page.locator("main").inner_text()
        assert page.evaluate("document.activeElement.id") == "trial"
        no_violations(page)
        with Session(engine) as s:
            assert s.scalar(select(Campaign.id).filter_by(slug="vantaa-ilmasto")) is None

        # Save (the form still holds what was typed), then build the first issue
        page.get_by_role("button", name="Tallenna").click()
        page.wait_for_url(at("/staff/vantaa/campaigns/vantaa-ilmasto"))
        assert page.locator("h1").inner_text() == "vantaa-ilmasto"
        assert "done=saved" in page.url
        with Session(engine) as s:
            stored = s.scalars(select(Campaign).filter_by(slug="vantaa-ilmasto")).one()
            assert stored.document["sections"] == [
                {"id": "news", "kind": "news", "title": {"fi": "Uutiset"},
                 "include": ["ilmasto*"], "sources": [{"type": "rss", "url": feed_url}]}
            ]  # fmt: skip
        assert page.locator("#f-sections-0-sources-0-url").input_value() == feed_url
        no_violations(page)
        page.get_by_role("button", name="Kokoa numero nyt").click()
        page.wait_for_url(lambda u: "/staff/vantaa/issues/" in u)
        with Session(engine) as s:
            issue = s.scalars(select(Issue)).one()
            campaign = s.get(Campaign, issue.campaign_id)
            assert campaign is not None and campaign.slug == "vantaa-ilmasto"
            actions = set(s.scalars(select(AuditEvent.action)).all())
            assert {"campaign.create", "issue.build"} <= actions, actions
        assert page.locator("h1").inner_text().startswith(f"Numero {issue.id}:")
        preview = page.frame_locator("iframe.preview").locator("body")
        assert TITLES[0] in preview.inner_text()
        accessible(page)

        # the sources page lists the new source with the fetch the build made (once
        # the pre-flight check the build started is stored and the page shows it)
        page.locator("#checking").wait_for(state="detached")
        page.goto(f"{url}/staff/vantaa/sources?lang=fi")
        row = page.locator("tbody tr", has_text=feed_url)
        assert row.count() == 1
        cells = row.locator("td").all_inner_texts()
        assert cells[0] == "vantaa-ilmasto/news"
        assert cells[2:4] == ["200", "3"]  # fetched by the build: HTTP status, items found
        no_violations(page)


def test_an_announcements_markdown_preview_follows_the_typing(
    page: Any, settings: Settings, engine: Engine
) -> None:
    make_account(engine, "toimittaja@vantaa.fi", "editor", "vantaa")
    with console(settings) as url:
        page.goto(f"{url}/staff/vantaa/campaigns/new?kind=announcement&lang=fi")
        page.locator("#email").fill("toimittaja@vantaa.fi")
        page.locator("#password").fill(PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url(at("/staff/vantaa/campaigns/new"))
        assert page.locator("#f-body-fi").count() == 1
        assert page.locator("#f-sections-0-id").count() == 0  # no sections in an announcement
        page.locator("#f-body-fi").fill("Haku on **auki** <script>alert(1)</script>")
        expect(page.locator("#preview-fi strong")).to_have_text("auki")
        assert page.locator("#preview-fi script").count() == 0  # sanitised on the server
        no_violations(page)
