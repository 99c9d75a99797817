"""Editing a draft and moderating stories in headless Chromium on a real uvicorn server.

The draft is edited by keyboard only (reorder, pin, drop, the introduction), its
preview read in Finnish and Swedish; a story is approved with the mouse and one
rejected, the reason arriving at an aiosmtpd server; axe checks every page.
"""

from __future__ import annotations

from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from outreach.campaigns import load, sync
from outreach.models import Issue, Story, StoryStatus
from outreach.settings import Settings
from tests.delivery.conftest import ScriptedHandler
from tests.staff.support import PASSWORD, make_account, make_city_issue, make_story
from tests.staff.test_browser import at, console
from tests.staff.test_workflow import four_eyes_campaigns
from tests.web import test_browser as web_browser
from tests.web.test_browser import accessible
from tests.web.test_server import free_port

browser = web_browser.browser
page = web_browser.page
TITLES = ["Aurinkopaneelit", "Lämpöpumput", "Pyöräparkit"]


def sign_in(page: Any, url: str, path: str, email: str) -> None:
    page.goto(f"{url}{path}")
    page.locator("#email").fill(email)
    page.locator("#password").fill(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(at(path.split("?")[0]))


def press(page: Any, name: str) -> None:
    """Focus a button by its accessible name and press it with the keyboard."""
    page.get_by_role("button", name=name, exact=True).focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "done=saved" in page.url, page.url


def preview_text(page: Any) -> str:
    return str(page.frame_locator("iframe.preview").locator("body").inner_text())


def test_edit_a_draft_by_keyboard_and_preview_two_languages(
    page: Any, settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    live = settings.model_copy(update={"campaigns_dir": four_eyes_campaigns(tmp_path / "c")})
    config = load(live.campaigns_path, live.templates_path)
    with Session(engine, expire_on_commit=False) as s:
        issue = make_city_issue(s, config, "vantaa-monthly", titles=TITLES)
    make_account(engine, "toimittaja@vantaa.fi", "editor", "vantaa")
    with console(live) as url:
        edit = f"/staff/vantaa/issues/{issue.id}/edit"
        sign_in(page, url, f"{edit}?lang=fi&edition=fi", "toimittaja@vantaa.fi")
        assert page.locator("h1").inner_text().startswith(f"Muokkaa luonnosta {issue.id}")
        accessible(page)
        press(page, "Siirrä alas: Aurinkopaneelit")  # L, A, P
        press(page, "Kiinnitä: Pyöräparkit")
        press(page, "Poista: Lämpöpumput")
        page.locator("#intro").focus()
        page.keyboard.type("Joulun **ilmastoteot** kokosimme tähän.")
        page.keyboard.press("Tab")
        with page.expect_navigation():
            page.keyboard.press("Enter")  # the button after the field
        assert "done=saved" in page.url
        accessible(page)
        shown = page.locator(".items li strong").all_inner_texts()
        assert shown == ["Aurinkopaneelit", "Pyöräparkit"]
        assert page.locator(".badge").first.inner_text() == "kiinnitetty"
        fi = preview_text(page)
        assert "Joulun ilmastoteot kokosimme tähän." in fi
        assert fi.index("Aurinkopaneelit") < fi.index("Pyöräparkit") and "Lämpöpumput" not in fi
        page.get_by_role("link", name="ruotsi", exact=True).click()
        page.wait_for_url(lambda u: "edition=sv" in u)
        accessible(page)
        sv = preview_text(page)
        assert "Lämpöpumput" not in sv and "Joulun" not in sv  # the introduction was Finnish
        page.locator("#intro").fill("Julens klimatgärningar.")
        with page.expect_navigation():
            page.get_by_role("button", name="Tallenna johdanto").click()
        assert "Julens klimatgärningar." in preview_text(page)
        # the issue page: two language tabs of the preview, the editor last edited it
        page.goto(f"{url}/staff/vantaa/issues/{issue.id}?lang=fi&edition=sv")
        assert "Julens klimatgärningar." in preview_text(page)
        accessible(page)
    with Session(engine) as s:
        saved = s.get(Issue, issue.id)
        assert saved is not None
        entries = saved.snapshot["languages"]["sv"]["sections"][0]["entries"]
        assert [e["title"] for e in entries] == ["Aurinkopaneelit", "Pyöräparkit"]
        assert [e.get("pinned") for e in entries] == [None, True]


def test_moderate_stories_approve_one_and_reject_one_with_a_mailed_reason(
    page: Any, settings: Settings, engine: Engine
) -> None:
    handler = ScriptedHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        config = load(settings.campaigns_path, settings.templates_path)
        with Session(engine) as s:
            sync(s, config)
            good = make_story(s, "vantaa", title="Aurinkoa katolle").id
            bad = make_story(s, "vantaa", title="Solen", language="sv",
                             contact="info@solen.fi").id  # fmt: skip
            s.commit()
        make_account(engine, "toimittaja@vantaa.fi", "editor", "vantaa")
        smtp = f"smtp://127.0.0.1:{port}?starttls=false"
        with console(settings, mail_url=smtp) as url:
            sign_in(page, url, "/staff/vantaa/stories?lang=fi", "toimittaja@vantaa.fi")
            accessible(page)
            page.get_by_role("link", name="Aurinkoa katolle").click()
            page.wait_for_url(at(f"/staff/vantaa/stories/{good}"))
            assert page.locator("article strong").first.inner_text() == "Aurinko Oy"
            accessible(page)
            page.get_by_role("button", name="Hyväksy tarina").click()
            page.wait_for_url(lambda u: "done=approved" in u)
            accessible(page)
            # its Swedish translation, which the public page then shows
            swedish = page.locator("form.translation", has=page.locator("#title-sv"))
            swedish.locator("#title-sv").fill("Sol på taket")
            swedish.locator("#body-sv").fill("Vi satte **solpaneler** på taket.")
            swedish.get_by_role("button", name="Tallenna käännös").click()
            page.wait_for_url(lambda u: "done=translated" in u)
            assert page.locator("#title-sv").input_value() == "Sol på taket"
            accessible(page)
            page.goto(f"{url}/vantaa/stories/{good}?lang=sv")
            assert page.locator("h1").inner_text() == "Sol på taket"
            assert "Översatt av staden" in page.inner_text("main")
            page.goto(f"{url}/staff/vantaa/stories/{bad}?lang=fi")
            page.locator("#reason").focus()
            page.keyboard.type("Berättelsen saknar siffror.")
            page.keyboard.press("Tab")
            with page.expect_navigation():
                page.keyboard.press("Enter")  # by keyboard
            assert "done=rejected" in page.url
            assert "done=rejected_unmailed" not in page.url
            accessible(page)
        [(rcpt, data)] = handler.received
        mail = message_from_bytes(data, policy=default)
        assert rcpt == "info@solen.fi" and mail["Subject"] == "Om er berättelse: Solen"
        body = mail.get_body(("plain",))
        assert body is not None and "Berättelsen saknar siffror." in body.get_content()
        with Session(engine) as s:
            assert s.get(Story, good).status == StoryStatus.APPROVED  # type: ignore[union-attr]
            assert s.get(Story, bad).status == StoryStatus.REJECTED  # type: ignore[union-attr]
    finally:
        controller.stop()
