"""The public pages in Chromium: the story widget framed by the city's own origin and
refused by another (each parent page served from its own 127.0.0.1 port), and
axe-core on the public pages in fi, sv and en at desktop and phone widths."""

from __future__ import annotations

import http.server
import threading
from typing import Any

from sqlalchemy import Engine

from outreach.settings import Settings
from tests.web import test_browser as web_browser
from tests.web.live import live_server
from tests.web.test_server import free_port
from tests.web.test_showcase import publish

#: The public pages' browser fixture: a fresh Chromium profile, skipped without Chromium.
page = web_browser.page
axe_module = web_browser.axe_module


def _parent(port: int, widget_url: str) -> http.server.ThreadingHTTPServer:
    body = f'<!doctype html><title>p</title><iframe src="{widget_url}" title="w"></iframe>'

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def _framed_text(tab: Any, url: str) -> str:
    tab.goto(url)
    tab.wait_for_timeout(800)
    frames = [f for f in tab.frames if f != tab.main_frame]
    try:
        return str(frames[0].inner_text("body", timeout=1000)) if frames else ""
    except Exception:  # a refused frame has no document to read
        return ""


def test_widget_framing_and_axe_on_public_pages(
    settings: Settings, engine: Engine, page: Any
) -> None:
    allowed_port, other_port = free_port(), free_port()
    cities = settings.campaigns_path / "cities.yaml"
    cities.write_text(
        cities.read_text().replace(
            "embed_origins: [https://www.vantaa.fi]",
            f"embed_origins: [https://www.vantaa.fi, http://127.0.0.1:{allowed_port}]",
        )
    )
    publish(engine, "vantaa", 2)
    with live_server(settings) as server:
        widget = f"{server.url}/vantaa/embed/stories?limit=3&lang=sv"
        allowed = _parent(allowed_port, widget)
        other = _parent(other_port, widget)
        try:
            assert "Aurinkoa 1" in _framed_text(page, f"http://127.0.0.1:{allowed_port}/")
            assert "Aurinkoa 1" not in _framed_text(page, f"http://127.0.0.1:{other_port}/")
        finally:
            for parent in (allowed, other):
                parent.shutdown()
                parent.server_close()
        paths = [
            "/vantaa/stories", "/vantaa/stories/1", "/vantaa/companies", "/vantaa/archive",
            "/vantaa/accessibility", "/vantaa/embed/stories", "/stories/submit?city=vantaa",
        ]  # fmt: skip
        failures = []
        for width, height in ((1280, 900), (375, 740)):
            page.set_viewport_size({"width": width, "height": height})
            for lang in ("fi", "sv", "en"):
                for path in paths:
                    sep = "&" if "?" in path else "?"
                    page.goto(f"{server.url}{path}{sep}lang={lang}")
                    results = axe_module.Axe().run(page)
                    failures += [
                        f"{path} {lang} {width}px: {v['id']} ({v['impact']}) "
                        f"{[n['html'] for n in v['nodes']][:2]}"
                        for v in results.response["violations"]
                    ]
        assert not failures, "\n".join(failures)
