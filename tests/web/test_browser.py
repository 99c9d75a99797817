"""The public pages in headless Chromium (Debian's ``chromium``, driven by Playwright).

Sign up in Finnish and in Swedish on a real uvicorn server, read the
confirmation mail the delivery stage kept in ``memory:``, confirm with the
button, change preferences, unsubscribe — and run axe-core on every page:
no violation of impact ``serious`` or ``critical`` is allowed.

Without Chromium at :data:`CHROMIUM` the tests are skipped, saying where
they looked. Playwright's browser download is never used.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from outreach.models import City, Subscriber, Subscription, SubscriptionStatus
from outreach.settings import Settings
from outreach.subscriptions import token_for
from tests.web.live import LiveServer, live_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
BLOCKING = ("serious", "critical")

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
axe_module = pytest.importorskip(
    "axe_playwright_python.sync_playwright", reason="axe-playwright-python is not installed"
)


@pytest.fixture
def server(settings: Settings, engine: Engine) -> Iterator[LiveServer]:
    with live_server(settings) as live:
        yield live


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium, started once per test module; skipped where it is not installed.

    Once per module, not per session: while Playwright's sync API runs, the test
    process's thread has its event loop marked running, which other tests'
    ``asyncio.run`` would refuse."""
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A page in a fresh browser context of its own (no cookies, storage or cache shared
    with another test)."""
    context = browser.new_context()
    try:
        context.set_default_timeout(10_000)
        yield context.new_page()
    finally:
        context.close()


def accessible(page: Any) -> None:
    """axe-core on the page as shown: no serious or critical violation."""
    results = axe_module.Axe().run(page)
    blocking = [v for v in results.response["violations"] if v["impact"] in BLOCKING]
    assert not blocking, f"{page.url}\n" + "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['html'] for n in v['nodes']]}"
        for v in blocking
    )


def tab_order(page: Any, presses: int) -> list[str]:
    """What the keyboard focuses, Tab after Tab: an element's id, else its text."""
    seen = []
    for _ in range(presses):
        page.keyboard.press("Tab")
        seen.append(page.evaluate("(e => e.id || e.textContent.trim())(document.activeElement)"))
    return seen


def sign_up(page: Any, server: LiveServer, lang: str, email: str, company: str) -> None:
    page.goto(f"{server.url}/vantaa/subscribe?lang={lang}")
    assert page.get_attribute("html", "lang") == lang
    accessible(page)
    # Focus follows the reading order: skip link, the two other languages, the fields,
    # the topics, one stop for the language radios, consent, the button (not the honeypot).
    expected = [
        page.inner_text(".skip"), *page.locator(".langs a").all_inner_texts(),
        "email", "company_name", "business_id", "contact_name",
        "topic-climate", "topic-trainings", "topic-procurement", "topic-awards",
        f"language-{lang}", "consent", page.inner_text("button[type=submit]"),
    ]  # fmt: skip
    assert tab_order(page, len(expected)) == expected
    # A wrong check digit first: the page lists the error and marks the field.
    page.fill("#email", email)
    page.fill("#company_name", company)
    page.fill("#business_id", "0112038-8")
    page.check("#consent")
    page.click("button[type=submit]")
    assert page.locator("[role=alert]").is_visible()
    assert page.get_attribute("#business_id", "aria-invalid") == "true"
    accessible(page)
    page.fill("#business_id", "0112038-9")
    page.check(f"#language-{lang}")
    page.check("#consent")
    page.click("button[type=submit]")
    assert email in page.inner_text("main")
    accessible(page)


def confirm(page: Any, server: LiveServer, email: str, lang: str) -> None:
    page.goto(server.confirm_url(email))
    assert page.get_attribute("html", "lang") == lang
    accessible(page)
    page.click("main button[type=submit]")
    assert (
        page.locator("h1").inner_text()
        == {
            "fi": "Tilaus on vahvistettu",
            "sv": "Prenumerationen är bekräftad",
        }[lang]
    )
    accessible(page)


def subscription(engine: Engine, email: str, city: str = "vantaa") -> Subscription:
    with Session(engine, expire_on_commit=False) as s:
        sub = s.scalars(
            select(Subscription)
            .join(Subscriber)
            .join(City, Subscription.city_id == City.id)
            .where(Subscriber.email == email, City.slug == city)
        ).one()
        s.refresh(sub.subscriber)
        return sub


def test_finnish_sign_up_confirm_preferences_unsubscribe(
    page: Any, server: LiveServer, engine: Engine
) -> None:
    email = "kaisa@yritys.fi"
    sign_up(page, server, "fi", email, "Yritys Oy")
    assert subscription(engine, email).status == SubscriptionStatus.PENDING
    confirm(page, server, email, "fi")
    assert subscription(engine, email).status == SubscriptionStatus.CONFIRMED

    page.click("main a")  # the preferences link on the confirmation page
    assert "/preferences/" in page.url
    # in the subscriber's language, though Chromium's Accept-Language asks for English
    assert page.get_attribute("html", "lang") == "fi"
    accessible(page)
    page.uncheck("#topic-awards")
    page.check("#city-kerava")
    page.select_option("#size_class", "small")
    page.check("#interested_in_visit")
    page.click("main button[type=submit]")
    assert page.locator("[role=status]").is_visible()
    accessible(page)
    sub = subscription(engine, email)
    assert "awards" not in sub.topics and "climate" in sub.topics
    assert (sub.subscriber.size_class, sub.subscriber.interested_in_visit) == ("small", True)
    assert subscription(engine, email, "kerava").status == SubscriptionStatus.CONFIRMED

    page.goto(f"{server.url}/unsubscribe/{token_for(server.settings, sub, 'unsubscribe')}")
    accessible(page)
    page.check("#scope-city")
    page.click("main button[type=submit]")
    assert page.locator("h1").inner_text() == "Tilaus on peruttu"
    accessible(page)
    assert subscription(engine, email).status == SubscriptionStatus.UNSUBSCRIBED
    assert subscription(engine, email, "kerava").status == SubscriptionStatus.CONFIRMED


def test_swedish_sign_up_and_leave_every_city(
    page: Any, server: LiveServer, engine: Engine
) -> None:
    email = "sven@foretag.fi"
    sign_up(page, server, "sv", email, "Företag Ab")
    mail = server.wait_for_mail(email)[-1]
    assert mail["Content-Language"] == "sv"
    assert mail["Subject"] == "Bekräfta din prenumeration: Vanda – klimatnyheter"
    confirm(page, server, email, "sv")
    sub = subscription(engine, email)
    assert sub.subscriber.language == "sv"

    page.goto(f"{server.url}/unsubscribe/{token_for(server.settings, sub, 'unsubscribe')}")
    assert page.get_attribute("html", "lang") == "sv"
    accessible(page)
    page.check("#scope-all")
    page.click("main button[type=submit]")
    accessible(page)
    assert subscription(engine, email).status == SubscriptionStatus.UNSUBSCRIBED

    page.goto(f"{server.url}/unsubscribe/u1.1.AAAA?lang=sv")  # a forged link
    assert page.locator("h1").inner_text() == "Länken fungerar inte"
    accessible(page)

    page.goto(f"{server.url}/vantaa/embed?lang=sv")  # the form cities put in an iframe
    assert page.get_attribute("html", "lang") == "sv"
    accessible(page)
