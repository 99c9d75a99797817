"""In Chromium: a company chooses an image, sends the story form with a wrong business
ID, sees its image kept (name, size, a thumbnail the page's policy lets show) on a
page axe finds nothing on, corrects the ID without choosing the image again, and
the story arrives with the image."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from PIL import Image
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from outreach.models import Story, StoryImage, StoryUpload
from outreach.settings import Settings
from tests.web import test_browser as web_browser
from tests.web.live import live_server

browser = web_browser.browser
page = web_browser.page


def test_the_corrected_form_sends_the_image_chosen_before(
    settings: Settings, engine: Engine, page: Any, tmp_path: Path
) -> None:
    photo = tmp_path / "paneelit.jpg"
    out = io.BytesIO()
    Image.new("RGB", (800, 600), (30, 110, 160)).save(out, "JPEG")
    photo.write_bytes(out.getvalue())
    with live_server(settings) as server:
        page.goto(f"{server.url}/stories/submit?city=vantaa&lang=sv")
        page.fill("#company_name", "Sol Ab")
        page.fill("#business_id", "0112038-8")  # a wrong check digit
        page.fill("#title", "Solpaneler på taket")
        page.fill("#body", "Vi installerade 40 paneler.")
        page.fill("#image_alt", "Solpaneler på ett tak")
        page.locator("#image").set_input_files(str(photo))
        page.check("#consent_to_publish")
        with page.expect_navigation():
            page.get_by_role("button", name="Skicka berättelsen").click()
        kept = page.locator("#kept-image")
        assert "paneelit.jpg" in kept.inner_text() and "sparas i en timme" in kept.inner_text()
        thumb = kept.locator("img")
        assert page.evaluate("i => i.complete && i.naturalWidth", thumb.element_handle()) == 160
        assert page.locator("#image").evaluate("i => i.files.length") == 0  # as browsers do
        web_browser.accessible(page)

        page.fill("#business_id", "0112038-9")
        page.check("#consent_to_publish")  # consent is given anew each time
        with page.expect_navigation():
            page.get_by_role("button", name="Skicka berättelsen").click()
        assert page.locator("h1").inner_text().startswith("Tack")
    with Session(engine) as s:
        story = s.scalars(select(Story)).one()
        image = s.get(StoryImage, story.id)
        assert image is not None and (image.width, image.height) == (800, 600)
        assert story.image_alt == "Solpaneler på ett tak"
        assert s.scalars(select(StoryUpload)).all() == []
