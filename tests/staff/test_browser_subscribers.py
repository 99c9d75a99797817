"""The subscribers console in headless Chromium on a real uvicorn server, checked by
axe-core: import a CSV with bad rows through its preview and commit it; search for a
subscriber, open them and forget them after the confirmation step; the list, the
subscriber, the import preview, the forget and the leads pages have no axe
violation of any impact. Without
Chromium the test is skipped (see tests/web/test_browser.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from outreach.models import AuditEvent, Subscriber
from outreach.settings import Settings
from tests.staff.support import PASSWORD, make_account
from tests.staff.test_browser import at, browser, console, page
from tests.staff.test_browser_campaigns import no_violations

__all__ = ["browser", "page"]

CSV = (
    "Sähköposti;Yritys;Y-tunnus;Yhteyshenkilö;Kieli\n"
    "aurinko@example.fi;Aurinkoenergia Oy;;Aino Aurinko;suomi\n"
    "tuuli@example.fi;Tuulivoima Ab;;Tage Tuuli;ruotsi\n"
    "ei-osoite;Rikki Oy;;;suomi\n"  # line 4: not an address
    "kivi@example.fi;Kivi Oy;;;suomi\n"
)


def test_import_search_open_and_forget_in_the_browser(
    page: Any, settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    make_account(engine, "hyvaksyja@vantaa.fi", "approver", "vantaa")
    crm = tmp_path / "crm.csv"
    crm.write_text(CSV, encoding="utf-8")
    with console(settings) as url:
        base = f"{url}/staff/vantaa/subscribers"
        page.goto(f"{base}/import?lang=en")
        page.locator("#email").fill("hyvaksyja@vantaa.fi")
        page.locator("#password").fill(PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url(at("/staff/vantaa/subscribers/import"))
        no_violations(page)

        # the preview: three to add, the bad line named, nothing written
        page.locator("#i-file").set_input_files(str(crm))
        with page.expect_navigation():
            page.get_by_role("button", name="Preview").click()
        assert page.locator("#report").inner_text() == "Preview: nothing is written yet"
        main = page.locator("main").inner_text()
        assert "3 to add" in main and "1 skipped" in main
        assert page.locator("ul.skipped li").all_inner_texts() == [
            "line 4: skipped: ei-osoite is not a valid e-mail address"
        ]
        no_violations(page)
        with Session(engine) as s:
            assert s.scalars(select(Subscriber)).all() == []

        with page.expect_navigation():
            page.get_by_role("button", name="Import these rows").click()
        assert page.locator("#report").inner_text() == "Imported"
        assert "3 added" in page.locator("main").inner_text()

        # the rows are on the list; a search by a part inside a company name finds one
        page.goto(f"{base}?lang=en")
        rows = page.locator("tbody tr th a").all_inner_texts()
        assert sorted(rows) == ["aurinko@example.fi", "kivi@example.fi", "tuuli@example.fi"]
        no_violations(page)
        page.locator("#q").fill("VOIMA")
        with page.expect_navigation():
            page.get_by_role("button", name="Search").click()
        assert page.locator("[role=status]").inner_text() == "1 match."
        assert page.locator("tbody tr th a").all_inner_texts() == ["tuuli@example.fi"]
        no_violations(page)

        # open, then forget after the confirmation step
        with page.expect_navigation():
            page.get_by_role("link", name="tuuli@example.fi").click()
        assert page.locator("h1").inner_text() == "tuuli@example.fi"
        no_violations(page)
        with page.expect_navigation():
            page.get_by_role("link", name="Forget this person (GDPR erasure)").click()
        assert page.locator("h1").inner_text() == "Forget this person (GDPR erasure)"
        with Session(engine) as s:  # the confirmation page writes nothing
            assert s.scalar(select(Subscriber.id).filter_by(email="tuuli@example.fi"))
        no_violations(page)
        with page.expect_navigation():
            page.get_by_role("button", name="Erase for good").click()
        with Session(engine) as s:
            assert s.scalar(select(Subscriber.id).filter_by(email="tuuli@example.fi")) is None
            actions = s.scalars(select(AuditEvent.action)).all()
            assert any("forget" in a for a in actions), actions
        page.goto(f"{base}?lang=en&q=tuuli")
        assert page.locator("[role=status]").inner_text() == "0 matches."

        page.goto(f"{url}/staff/vantaa/leads?lang=en")
        assert page.locator("h1").count() == 1
        no_violations(page)
