"""The public pages in Chromium.

- The story widget and the embeddable sign-up form are framed by the city's own
  origin and refused by another (each parent page served from its own 127.0.0.1
  port); a sign-up sent from inside the allowed frame goes through.
- axe-core finds nothing on any public page (the sign-up form and the pages its
  e-mailed links open, the archive and an issue's web version, the stories, a
  story with its image, the company directory, the submission form, the
  accessibility statement, the widget, the embeddable form, an error page) in
  fi, sv and en at 1280 and 375 pixels wide; each page forbids scripts and has
  none, except the widget, whose one script (it tells the city's page its
  height) is allowed by its digest and is the only one. Kerava's pages show
  Kerava's colour and privacy link as drawn.

The browser may reach nothing but 127.0.0.1: every other request is stopped
and fails the test.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import re
import shutil
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from outreach.campaigns import load, sync
from outreach.issues import build_issue
from outreach.models import City, IssueStatus, Subscriber, Subscription
from outreach.models import SubscriptionStatus as Status
from outreach.settings import Settings
from outreach.sources import decide_story, submit_story
from outreach.subscriptions import token_for
from outreach.web.public.widget import HEIGHT_SCRIPT
from tests.conftest import DATA, ROOT
from tests.render.conftest import add_item
from tests.render.test_golden import _fields, _when
from tests.web import test_browser as web_browser
from tests.web.conftest import edit_cities
from tests.web.live import LiveServer, live_server
from tests.web.test_feeds import add_image, translate
from tests.web.test_server import free_port
from tests.web.test_showcase import publish

#: The browser fixtures: Chromium once per module, a fresh context per test; skipped without it.
browser = web_browser.browser
page = web_browser.page
axe_module = web_browser.axe_module
LANGS = ("fi", "sv", "en")
#: The one page with a script: the widget's, which tells the city's page its height.
WIDGET = "/vantaa/embed/stories"
WIDTHS = ((1280, 900), (375, 740))


def _parent(port: int, frames: dict[str, str]) -> http.server.ThreadingHTTPServer:
    """A site on its own 127.0.0.1 port whose pages (by path) frame the given addresses."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            src = frames.get(self.path, "about:blank")
            body = f'<!doctype html><title>p</title><iframe src="{src}" title="w"></iframe>'
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def _frame(tab: Any, url: str) -> Any:
    tab.goto(url)
    tab.wait_for_timeout(800)
    frames = [f for f in tab.frames if f != tab.main_frame]
    assert len(frames) == 1
    return frames[0]


def _framed_text(tab: Any, url: str) -> str:
    try:
        return str(_frame(tab, url).inner_text("body", timeout=1000))
    except Exception:  # a refused frame has no document to read
        return ""


def _local_only(tab: Any) -> list[str]:
    """Stop every request the browser makes to anything but 127.0.0.1; the list of them."""
    stopped: list[str] = []

    def handle(route: Any) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            stopped.append(route.request.url)
            route.abort()

    tab.context.route("**/*", handle)
    return stopped


def test_widget_and_sign_up_form_are_framed_only_by_the_citys_sites(
    settings: Settings, engine: Engine, page: Any
) -> None:
    allowed_port, other_port = free_port(), free_port()
    edit_cities(
        settings,
        "embed_origins: [https://www.vantaa.fi]",
        f"embed_origins: [https://www.vantaa.fi, http://127.0.0.1:{allowed_port}]",
    )
    publish(engine, "vantaa", 2)
    stopped = _local_only(page)
    with live_server(settings) as server:
        frames = {
            "/widget": f"{server.url}/vantaa/embed/stories?limit=3&lang=sv",
            "/signup": f"{server.url}/vantaa/embed?lang=fi",
        }
        allowed, other = _parent(allowed_port, frames), _parent(other_port, frames)
        try:
            mine, theirs = f"http://127.0.0.1:{allowed_port}", f"http://127.0.0.1:{other_port}"
            assert "Aurinkoa 1" in _framed_text(page, f"{mine}/widget")
            assert "Aurinkoa 1" not in _framed_text(page, f"{theirs}/widget")
            assert "Tilaa" not in _framed_text(page, f"{theirs}/signup")
            form = _frame(page, f"{mine}/signup")
            assert "Vantaan ilmastouutiset yrityksille" in form.inner_text("h1")
            form.fill("#email", "kehys@yritys.fi")
            form.check("#consent")
            form.click("button[type=submit]")
            # the answer shows in the same frame: it is framed by the same origins
            form.locator("main", has_text="kehys@yritys.fi").wait_for(timeout=5000)
            assert server.wait_for_mail("kehys@yritys.fi")
        finally:
            for parent in (allowed, other):
                parent.shutdown()
                parent.server_close()
    assert stopped == []


def _campaigns(tmp_path: Path) -> Path:
    """Every shipped campaign, so that Vantaa's newsletter has an issue in the archive."""
    target = tmp_path / "all-campaigns"
    shutil.copytree(ROOT / "campaigns", target)
    return target


def _sent_issue(engine: Engine, settings: Settings) -> int:
    """Vantaa's December issue of the golden case, sent (without the items' images,
    which live on the city's site: the browser reaches nothing but 127.0.0.1)."""
    config = load(settings.campaigns_path, settings.templates_path)
    spec = yaml.safe_load((DATA / "vantaa-monthly" / "issue.yaml").read_text(encoding="utf-8"))
    with Session(engine) as s:
        sync(s, config)
        for raw in spec["items"]:
            raw = {k: v for k, v in raw.items() if k != "image_url"}
            section, source = raw.pop("section"), raw.pop("source", 0)
            add_item(s, config, "vantaa-monthly", section, source=source, **_fields(raw))
        built = build_issue(s, settings, config, "vantaa-monthly", now=_when(spec["now"]))
        assert built.issue is not None, built.skipped
        issue = built.issue
        issue.status = IssueStatus.SENT
        issue.sent_at = datetime(2026, 12, 1, 7, tzinfo=UTC)
        s.commit()
        return issue.id


def _subscriptions(engine: Engine, settings: Settings) -> dict[str, str]:
    """A pending and a confirmed subscription to Vantaa; the pages their links open."""
    paths = {}
    with Session(engine) as s:
        city = s.scalars(select(City).where(City.slug == "vantaa")).one()
        for email, status in (("odottaa@yritys.fi", Status.PENDING),
                              ("tilaaja@yritys.fi", Status.CONFIRMED)):  # fmt: skip
            person = Subscriber(email=email, company_name="Yritys Oy", language="fi")
            s.add(person)
            s.flush()
            sub = Subscription(subscriber_id=person.id, city_id=city.id, status=status,
                               topics=["climate", "awards"], token_salt=email[:8])  # fmt: skip
            s.add(sub)
            s.flush()
            if status == Status.PENDING:
                paths["confirm"] = f"/confirm/{token_for(settings, sub, 'confirm')}"
            else:
                for purpose in ("preferences", "unsubscribe"):
                    paths[purpose] = f"/{purpose}/{token_for(settings, sub, purpose)}"
        s.commit()
    return paths


def _stories(engine: Engine) -> int:
    """Three published stories (one with an image, one translated into Swedish) and a
    company listed with a commitment; the id of the story with the image."""
    ids = publish(engine, "vantaa", 3)
    add_image(engine, ids[2])
    translate(engine, ids[1], "sv", {"title": "Solen 1", "body": "Vi satte **1** panel.",
                                    "figures": "1 MWh per år"})  # fmt: skip
    with Session(engine) as s:
        listed = submit_story(s, "vantaa", company="Listattu Oy", title="Listattu Oy", body="",
                              language="fi", consent=True, business_id="0112038-9",
                              commitment="Hiilineutraali 2030", listing_only=True)  # fmt: skip
        decide_story(s, listed.id, True, "staff")
        s.commit()
    return ids[2]


def _check_page(tab: Any, server: LiveServer, path: str, lang: str) -> list[str]:
    """axe on ``path`` in ``lang`` as shown at the current width: its violations."""
    sep = "&" if "?" in path else "?"
    answer = tab.goto(f"{server.url}{path}{sep}lang={lang}")
    assert answer is not None
    problems = []
    if answer.status >= 400 and not path.startswith("/vantaa/no-such"):
        problems.append(f"{path}: {answer.status}")
    csp = answer.headers.get("content-security-policy") or ""
    if path == WIDGET:
        # its one script, allowed by its digest: no other runs, and no other is sent
        sent = re.findall(r"<script\b[^>]*>(.*?)</script>", answer.text(), re.DOTALL)
        digest = base64.b64encode(hashlib.sha256(HEIGHT_SCRIPT.encode()).digest()).decode()
        if f"script-src 'sha256-{digest}';" not in csp or "unsafe-inline" in csp:
            problems.append(f"{path}: scripts other than its own are not forbidden")
        if sent != [HEIGHT_SCRIPT] or answer.text().count("<script") != 1:
            problems.append(f"{path}: sends another script than its own")
    else:
        # no page needs JavaScript: none is allowed to run, and none is sent
        if "script-src 'none'" not in csp:
            problems.append(f"{path}: scripts are not forbidden")
        if "<script" in answer.text():
            problems.append(f"{path}: sends a script")
    results = axe_module.Axe().run(tab)
    width = tab.viewport_size["width"]
    for v in results.response["violations"]:
        nodes = [n["html"] for n in v["nodes"]][:2]
        problems.append(f"{path} {lang} {width}px: {v['id']} ({v['impact']}) {nodes}")
    return problems


def test_axe_finds_nothing_on_any_public_page(
    settings: Settings, engine: Engine, page: Any, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"campaigns_dir": _campaigns(tmp_path)})
    issue_id = _sent_issue(engine, settings)
    story_id = _stories(engine)
    stopped = _local_only(page)
    with live_server(settings) as server:
        links = _subscriptions(engine, server.settings)
        paths = [
            "/vantaa/subscribe", links["confirm"], links["preferences"], links["unsubscribe"],
            "/vantaa/archive", f"/vantaa/archive/{issue_id}", "/vantaa/stories",
            f"/vantaa/stories/{story_id}", "/vantaa/companies", "/stories/submit?city=vantaa",
            "/vantaa/accessibility", WIDGET, "/vantaa/embed",
            "/vantaa/no-such-page",
        ]  # fmt: skip
        failures = []
        for width, height in WIDTHS:
            page.set_viewport_size({"width": width, "height": height})
            for lang in LANGS:
                for path in paths:
                    failures += _check_page(page, server, path, lang)
        assert not failures, "\n".join(failures)

        # the story's image is shown with its description
        page.goto(f"{server.url}/vantaa/stories/{story_id}?lang=fi")
        image = page.locator("img.story-image")
        assert image.get_attribute("alt") == "Paneeleja katolla"
        assert page.evaluate("i => i.naturalWidth", image.element_handle()) == 320
        # Kerava's pages in Kerava's colour, with Kerava's privacy notice
        for path in ("/kerava/stories", "/kerava/subscribe", "/kerava/archive"):
            page.goto(f"{server.url}{path}?lang=fi")
            band = page.locator(".band")
            colour = page.evaluate(
                "e => getComputedStyle(e).backgroundColor", band.element_handle()
            )
            assert colour == "rgb(27, 94, 59)", path
            assert band.inner_text() == "Kerava"
            privacy = page.locator("footer a[href='https://www.kerava.fi/tietosuoja']")
            assert privacy.is_visible() and privacy.inner_text() == "Tietosuojaseloste"
    assert stopped == []
