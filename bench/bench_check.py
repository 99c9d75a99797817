"""Benchmark of the pre-flight link check: 60 links across 15 hosts, 3 of them slow.

Fifteen HTTP servers on 127.0.0.1 (one port each: a host to the per-host
limit); three answer every request after 5 seconds. The link check of the
60 links (4 per host) must finish within 2x the slowest host's time: hosts are
checked in parallel, at most ``OUTREACH_CHECK_LINK_PER_HOST`` requests at a
time each (the default, 4), so the slow hosts' links wait for each other only
past that limit. Prints the ratio; exits 1 when it is over 2.

Usage: ``python bench/bench_check.py``.
"""

from __future__ import annotations

import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from outreach.checks.links import OK, check_urls  # noqa: E402
from outreach.settings import Settings  # noqa: E402

HOSTS = 15
SLOW_HOSTS = 3
LINKS_PER_HOST = 4
SLOW = 5.0
LIMIT = 2.0


def server(delay: float) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            time.sleep(delay)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_HEAD = do_GET = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def main() -> int:
    servers = [server(SLOW if n < SLOW_HOSTS else 0.0) for n in range(HOSTS)]
    urls = [
        f"http://127.0.0.1:{s.server_address[1]}/page-{n}"
        for s in servers
        for n in range(LINKS_PER_HOST)
    ]
    settings = Settings(
        fetch_allowed_hosts=["127.0.0.1"], fetch_read_timeout=SLOW * 3, check_link_seconds=60
    )
    started = time.monotonic()
    results = check_urls(settings, urls)
    took = time.monotonic() - started
    for s in servers:
        s.shutdown()
    bad = [r for r in results.values() if r.state != OK]
    ratio = took / SLOW
    print(
        f"link check: {len(urls)} links on {HOSTS} hosts ({SLOW_HOSTS} answering in {SLOW:g} s) "
        f"in {took:.2f} s: {ratio:.2f}x the slowest host's time (limit {LIMIT:g}x); "
        f"{len(bad)} not ok"
    )
    return 0 if ratio <= LIMIT and not bad else 1


if __name__ == "__main__":
    sys.exit(main())
