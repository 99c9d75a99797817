"""A refused console form in headless Chromium, checked by axe-core: the business ID
of a new subscriber refused, the page comes back with everything typed, the error
beside the field and in the list at the top, whose link leads to the field. Without
Chromium the test is skipped (see tests/web/test_browser.py).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from outreach.settings import Settings
from tests.staff.support import PASSWORD, make_account
from tests.staff.test_browser import at, browser, console, page
from tests.staff.test_browser_campaigns import no_violations

__all__ = ["browser", "page"]


def test_a_refused_subscriber_comes_back_as_typed_in_the_browser(
    page: Any, settings: Settings, engine: Engine
) -> None:
    make_account(engine, "toimittaja@vantaa.fi", "editor", "vantaa")
    with console(settings) as url:
        page.goto(f"{url}/staff/vantaa/subscribers/new?lang=fi")
        page.locator("#email").fill("toimittaja@vantaa.fi")
        page.locator("#password").fill(PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url(at("/staff/vantaa/subscribers/new"))
        page.locator("#n-email").fill("aino@aurinko.fi")
        page.locator("#n-company").fill("Aurinko Oy")
        page.locator("#n-bid").fill("1234567-8")  # the wrong check digit
        page.locator("#n-note").fill("Sopimus 12/2026")
        with page.expect_navigation():
            page.get_by_role("button", name="Lisää", exact=True).click()
        assert page.locator("#n-email").input_value() == "aino@aurinko.fi"
        assert page.locator("#n-company").input_value() == "Aurinko Oy"
        assert page.locator("#n-bid").input_value() == "1234567-8"
        assert page.locator("#n-note").input_value() == "Sopimus 12/2026"
        assert page.locator("#n-bid").get_attribute("aria-invalid") == "true"
        assert page.locator("#n-bid-err").inner_text().startswith("Y-tunnuksessa on 7 numeroa")
        page.locator("#errors a").first.click()  # the list at the top leads to the field
        assert page.evaluate("document.activeElement.id") == "n-bid"
        no_violations(page)
