"""The stories widget sizes itself to its content in Chromium.

A host page on 127.0.0.1 (one of Vantaa's ``embed_origins``) frames the widget with
the documented snippet (``embed_code``): the iframe's height ends up the height of
its content, with nothing to scroll inside it, for one story and for three, at a
desktop and at a phone width, and follows the content when the host page narrows.
Every message the host hears comes from our base URL. A host on another origin
gets no message and no widget (the frame is refused). Without JavaScript the
widget shows every story, and a host without the snippet keeps the default
height, which holds three stories at a desktop width.
"""

from __future__ import annotations

import http.server
import threading
from typing import Any

from sqlalchemy import Engine

from outreach.settings import Settings
from outreach.web.public.widget import default_height, embed_code
from tests.web import test_browser as web_browser
from tests.web.conftest import edit_cities
from tests.web.live import LiveServer, live_server
from tests.web.test_public_browser import _local_only
from tests.web.test_server import free_port
from tests.web.test_showcase import publish

browser = web_browser.browser
page = web_browser.page
FRAME = "#outreach-stories-vantaa"
#: Every message the host page hears, whoever sends it.
RECORDER = (
    "<script>window.heard = []; window.addEventListener('message', function (e) "
    "{ window.heard.push([e.origin, e.data]); });</script>"
)
#: The content's height inside the frame, and whether anything is left to scroll.
MEASURE = (
    "() => [Math.ceil(document.documentElement.getBoundingClientRect().height),"
    " document.documentElement.scrollHeight - window.innerHeight]"
)


def _host(port: int, pages: dict[str, str]) -> http.server.ThreadingHTTPServer:
    """A city's site on its own 127.0.0.1 port: ``pages`` by path, as HTML bodies."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path, "")
            html = f'<!doctype html><html lang="fi"><title>host</title><body>{body}</body></html>'
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(html.encode())

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def _allow(settings: Settings, port: int) -> None:
    edit_cities(settings, "embed_origins: [https://www.vantaa.fi]",
                f"embed_origins: [https://www.vantaa.fi, http://127.0.0.1:{port}]")  # fmt: skip


def _pages(server: LiveServer) -> dict[str, str]:
    return {
        f"/{limit}": RECORDER
        + embed_code(
            server.url, "vantaa", limit=limit, lang="sv", title="Företagens klimatinsatser"
        )
        for limit in (1, 3)
    }


def _settled(tab: Any) -> tuple[int, int, int]:
    """Once the frame's height is its content's: (iframe height, content height, what is
    left to scroll inside the frame)."""
    frame = tab.frame_locator(FRAME)
    frame.locator("h1").wait_for(timeout=5000)
    inner = next(f for f in tab.frames if f != tab.main_frame)
    last: tuple[int, int, int] = (0, 0, 0)
    for _ in range(50):
        content, scroll = inner.evaluate(MEASURE)
        height = tab.evaluate(f"document.querySelector('{FRAME}').clientHeight")
        last = (int(height), int(content), int(scroll))
        if last[0] == last[1] and tab.evaluate(f"document.querySelector('{FRAME}').style.height"):
            return last
        tab.wait_for_timeout(100)
    return last


def test_the_widget_is_as_tall_as_its_content_on_the_citys_site(
    settings: Settings, engine: Engine, page: Any
) -> None:
    allowed_port, other_port = free_port(), free_port()
    _allow(settings, allowed_port)
    publish(engine, "vantaa", 3)
    stopped = _local_only(page)
    with live_server(settings) as server:
        pages = _pages(server)
        allowed, other = _host(allowed_port, pages), _host(other_port, pages)
        try:
            mine, theirs = f"http://127.0.0.1:{allowed_port}", f"http://127.0.0.1:{other_port}"
            seen: dict[tuple[int, int], int] = {}
            for width in (1280, 375):
                page.set_viewport_size({"width": width, "height": 800})
                for limit in (1, 3):
                    page.goto(f"{mine}/{limit}")
                    height, content, scroll = _settled(page)
                    assert height == content > 0, (width, limit, height, content)
                    assert scroll <= 0, (width, limit, scroll)  # no inner scrollbar
                    seen[width, limit] = height
                    heard = page.evaluate("window.heard")
                    assert heard and {origin for origin, _ in heard} == {server.url}
                    assert heard[-1][1] == {"type": "outreach-widget-height", "height": height}
            assert seen[1280, 3] > seen[1280, 1] and seen[375, 3] > seen[375, 1]
            assert seen[375, 3] > seen[1280, 3]  # the narrow frame wraps its lines
            # the frame follows its content when the host's page narrows
            page.set_viewport_size({"width": 1280, "height": 800})
            page.goto(f"{mine}/3")
            wide = _settled(page)[0]
            page.set_viewport_size({"width": 375, "height": 800})
            page.wait_for_function(
                f"document.querySelector('{FRAME}').clientHeight > {wide}", timeout=5000
            )
            assert _settled(page)[0] == seen[375, 3]

            # another site: the frame is refused and nothing is told to it
            page.goto(f"{theirs}/3")
            page.wait_for_timeout(1500)
            assert page.evaluate("window.heard") == []
            assert page.evaluate(f"document.querySelector('{FRAME}').style.height") == ""
            inner = next(f for f in page.frames if f != page.main_frame)
            assert "Aurinkoa" not in (inner.content() or "")
        finally:
            for host in (allowed, other):
                host.shutdown()
                host.server_close()
    assert stopped == []


def test_the_widget_without_javascript_and_the_default_height(
    settings: Settings, engine: Engine, page: Any
) -> None:
    allowed_port = free_port()
    _allow(settings, allowed_port)
    publish(engine, "vantaa", 3)
    stopped = _local_only(page)
    with live_server(settings) as server:
        # no JavaScript: the same page, every story in it
        tab = page.context.new_page()
        cdp = page.context.new_cdp_session(tab)
        cdp.send("Emulation.setScriptExecutionDisabled", {"value": True})
        tab.goto(f"{server.url}/vantaa/embed/stories?limit=3&lang=sv")
        assert tab.locator("article.card").count() == 3
        assert tab.locator("h1").inner_text().startswith("Företagens")
        assert tab.locator("a[href$='/vantaa/stories?lang=sv']").is_visible()
        tab.close()
        # a host without the snippet: the default height holds three stories
        host = _host(allowed_port, {"/plain": embed_code(
            server.url, "vantaa", limit=3, lang="sv", title="Företagens klimatinsatser"
        ).split("<script>")[0]})  # fmt: skip
        try:
            page.set_viewport_size({"width": 1280, "height": 800})
            page.goto(f"http://127.0.0.1:{allowed_port}/plain")
            page.frame_locator(FRAME).locator("h1").wait_for(timeout=5000)
            inner = next(f for f in page.frames if f != page.main_frame)
            content, scroll = inner.evaluate(MEASURE)
            assert page.evaluate(f"document.querySelector('{FRAME}').clientHeight") == (
                default_height(3)
            )
            assert content <= default_height(3) and scroll <= 0
        finally:
            host.shutdown()
            host.server_close()
    assert stopped == []
