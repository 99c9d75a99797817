"""The console in headless Chromium on a real uvicorn server, checked by axe-core.

Sign in with a password and set up TOTP, sign in again with a code, sign in
through the local OpenID Connect provider, and a Kerava editor refused on every
Vantaa page. Without Chromium the tests are skipped (see tests/web/test_browser.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiosmtpd.controller import Controller
from fastapi.routing import APIRoute
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from outreach.campaigns import load
from outreach.settings import OidcProvider, Settings
from outreach.staff.secrets import totp_code
from outreach.subscriptions import RecordingMailer
from outreach.web import create_app
from outreach.web.security import RateLimiter
from tests.delivery.conftest import ScriptedHandler
from tests.staff.oidc_provider import oidc_provider
from tests.staff.support import PASSWORD, make_account, make_city_issue
from tests.staff.test_routes import every_route
from tests.staff.test_workflow import four_eyes_campaigns, subscribe
from tests.web import test_browser as web_browser
from tests.web.test_browser import accessible, tab_order
from tests.web.test_server import free_port, running

#: The browser fixtures: Chromium once per module, a fresh context per test; skipped without it.
browser = web_browser.browser
page = web_browser.page


def at(path: str) -> Any:
    return lambda url: urlsplit(url).path == path


@contextmanager
def console(settings: Settings, **update: Any) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    live = settings.model_copy(update={"base_url": url, **update})
    app = create_app(live, mailer=RecordingMailer(),
                     rate_limiter=RateLimiter({"staff": (1000, 100.0)}))  # fmt: skip
    with running(app, port):
        yield url


def sign_in_by_keyboard(page: Any, url: str, email: str, lang: str) -> None:
    page.goto(f"{url}/staff/vantaa/?lang={lang}")
    assert "/staff/signin" in page.url
    assert page.get_attribute("html", "lang") == lang
    accessible(page)
    # skip link, the two other languages, then the form in reading order
    expected = [page.inner_text(".skip"), *page.locator(".langs a").all_inner_texts(), "email"]
    assert tab_order(page, 4) == expected
    page.keyboard.type(email)
    assert tab_order(page, 1) == ["password"]
    page.keyboard.type(PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")


def test_password_and_totp_sign_in_in_finnish(
    page: Any, settings: Settings, engine: Engine
) -> None:
    make_account(engine, "paakayttaja@vantaa.fi", "admin", None)
    with console(settings) as url:
        page.goto(f"{url}/staff/vantaa/?lang=fi")
        page.locator("#email").fill("paakayttaja@vantaa.fi")
        page.locator("#password").fill(PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url(at("/staff/signin/enrol"))
        assert page.locator("h1").inner_text() == "Ota todennussovellus käyttöön"
        accessible(page)
        secret = page.locator("code.secret").inner_text()
        assert "otpauth://totp/" in page.locator("code.uri").inner_text()
        page.locator("#code").fill(totp_code(secret, datetime.now(UTC)))
        page.keyboard.press("Enter")
        page.wait_for_url(at("/staff/vantaa/"))
        assert page.locator("h1").inner_text() == "Yleiskatsaus: Vantaa"
        accessible(page)
        page.goto(f"{url}/staff/audit?lang=fi")
        assert "staff.totp.enrol" in page.locator("main").inner_text()
        accessible(page)
        page.locator(".signout button").click()
        page.wait_for_url(at("/staff/signin"))
        sign_in_by_keyboard(page, url, "paakayttaja@vantaa.fi", "sv")
        page.wait_for_url(at("/staff/signin/totp"))
        assert page.locator("h1").inner_text() == "Autentiseringskod"
        accessible(page)
        later = datetime.now(UTC) + timedelta(seconds=30)  # the last code works only once
        page.locator("#code").fill(totp_code(secret, later))
        page.keyboard.press("Enter")
        page.wait_for_url(at("/staff/vantaa/"))
        assert page.locator("h1").inner_text() == "Översikt: Vanda"
        accessible(page)


def test_a_kerava_editor_is_refused_on_every_vantaa_page(
    page: Any, settings: Settings, engine: Engine
) -> None:
    make_account(engine, "toimittaja@kerava.fi", "editor", "kerava")
    with console(settings) as url:
        sign_in_by_keyboard(page, url, "toimittaja@kerava.fi", "en")
        page.wait_for_url(at("/staff/vantaa/"))  # asked for Vantaa: there is none for this person
        app_routes = every_route(create_app(settings).routes)
        paths = [r.path for r in app_routes
                 if isinstance(r, APIRoute) and "{city}" in r.path and "GET" in r.methods
                 and r.path.startswith("/staff/") and not r.path.endswith(".css")]  # fmt: skip
        assert "/staff/{city}/" in paths
        for path in paths:
            answer = page.goto(url + path.replace("{city}", "vantaa") + "?lang=en")
            assert answer is not None and answer.status == 404, path
            accessible(page)
        answer = page.goto(f"{url}/staff/kerava/?lang=en")
        assert answer is not None and answer.status == 200
        assert page.locator("h1").inner_text() == "Dashboard: Kerava"
        accessible(page)


def test_single_sign_on_in_the_browser(page: Any, settings: Settings, engine: Engine) -> None:
    with oidc_provider() as idp:
        idp.person = {"sub": "k-1", "email": "kaisa@vantaa.fi", "groups": ["vantaa-editors"]}
        config = OidcProvider.model_validate(idp.settings(
            roles=[{"value": "vantaa-editors", "city": "vantaa", "role": "editor"}]))  # fmt: skip
        with console(settings, staff_oidc={"vantaa-idp": config}) as url:
            page.goto(f"{url}/staff/vantaa/?lang=fi")
            accessible(page)
            page.get_by_role("link", name="Kirjaudu palvelulla Test IdP").click()
            page.wait_for_url(at("/staff/vantaa/"))
            assert page.locator("h1").inner_text() == "Yleiskatsaus: Vantaa"
            assert page.locator(".me").inner_text() == "kaisa@vantaa.fi"
            accessible(page)


def subject(data: bytes) -> str:
    return str(message_from_bytes(data, policy=default)["Subject"])


def test_the_issue_workflow_in_the_browser(
    page: Any, settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    """Preview two languages, send a test, approve (four eyes), watch the send finish."""
    handler = ScriptedHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        smtp = f"smtp://127.0.0.1:{port}?starttls=false"
        campaigns = four_eyes_campaigns(tmp_path / "campaigns")
        live = settings.model_copy(update={"campaigns_dir": campaigns, "mail_url": smtp})
        config = load(live.campaigns_path, live.templates_path)
        with Session(engine, expire_on_commit=False) as s:
            issue = make_city_issue(s, config, "vantaa-monthly", titles=["Aurinkopaneelit"],
                                    by="toimittaja@vantaa.fi")  # fmt: skip
        subscribe(engine, "vantaa", [f"yritys{i}@example.fi" for i in range(3)])
        make_account(engine, "hyvaksyja@vantaa.fi", "approver", "vantaa")
        with console(live, mail_url=smtp) as url:
            base = f"/staff/vantaa/issues/{issue.id}"
            page.goto(f"{url}{base}?lang=fi")
            page.locator("#email").fill("hyvaksyja@vantaa.fi")
            page.locator("#password").fill(PASSWORD)
            page.keyboard.press("Enter")
            page.wait_for_url(at(base))
            assert page.locator("h1").inner_text().startswith(f"Numero {issue.id}:")
            accessible(page)
            preview = page.frame_locator("iframe.preview")
            assert "Aurinkopaneelit" in preview.locator("body").inner_text()
            with page.expect_navigation():
                page.get_by_role("link", name="ruotsi", exact=True).click()
            assert "edition=sv" in page.url
            assert (
                "Aurinkopaneelit"
                in page.frame_locator("iframe.preview").locator("body").inner_text()
            )
            with page.expect_navigation():
                page.get_by_role("link", name="Puhelin").click()
            assert page.locator("iframe.preview.phone").count() == 1
            accessible(page)

            page.get_by_role("button", name="Lähetä testi minulle").click()
            page.wait_for_url(lambda u: "done=test" in u, timeout=30_000)
            assert "done=test" in page.url
            tests = [(r, subject(data)) for r, data in handler.received]
            assert len(tests) == 2  # fi and sv
            assert all(r == "hyvaksyja@vantaa.fi" and s.startswith("[TEST] ") for r, s in tests)

            # the check runs after the page answered; the page reloads itself with its report
            page.locator("#override").wait_for(timeout=90_000)
            page.locator("#override").fill("linkit tarkistettu käsin")
            # by mouse (a click on Approve after typing the reason once did not submit)
            page.get_by_role("button", name="Hyväksy", exact=True).click()
            page.wait_for_url(lambda u: "done=test" not in u)
            assert "done=override" in page.url
            assert "done=override" in page.url
            accessible(page)

            page.get_by_role("button", name="Lähetä nyt").click()
            page.wait_for_url(lambda u: "done=sending" in u, timeout=30_000)
            # the page follows the send and shows the result when it is over
            page.locator(".facts dd", has_text="lähetetty").wait_for(timeout=30_000)
            accessible(page)
            received = sorted(r for r, data in handler.received[2:])
            assert received == [f"yritys{i}@example.fi" for i in range(3)]
            assert page.locator("[data-count=sent]").inner_text() == "3"
    finally:
        controller.stop()
