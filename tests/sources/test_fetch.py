"""The Fetcher against a real HTTP server: SSRF guard, limits, retries, conditional GET."""

from __future__ import annotations

import ipaddress
import logging
import shutil
import ssl
import subprocess
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from outreach import __version__
from outreach.errors import BlockedURLError, FetchError, SourceGone
from outreach.models import SourceStatus
from outreach.settings import Settings
from outreach.sources.base import FetchContext, FetchResult
from outreach.sources.fetch import Fetcher, Response, fetch_and_parse, load_local_files
from outreach.sources.guard import AddressGuard
from tests.conftest import ROOT
from tests.sources.conftest import GOOD_FEED, MB, FeedServer


def test_default_fetcher_refuses_loopback(server: FeedServer, fetch_settings: Settings) -> None:
    plain = Fetcher(Settings(fetch_retries=0))
    with pytest.raises(BlockedURLError, match=r"127\.0\.0\.1 is not public"):
        plain.get(server.url("/feed.xml"))
    assert server.hits["/feed.xml"] == 0  # refused before connecting


def test_default_fetcher_refuses_redirects_to_metadata_and_files(server: FeedServer) -> None:
    # The first hop is allowed by network; the redirect targets are refused.
    fetcher = Fetcher(Settings(fetch_retries=0), allowed_networks=["127.0.0.1/32"])
    with pytest.raises(BlockedURLError, match="metadata"):
        fetcher.get(server.url("/to-metadata"))
    with pytest.raises(BlockedURLError, match="only http and https"):
        fetcher.get(server.url("/to-file"))
    with pytest.raises(BlockedURLError, match="only http and https"):
        Fetcher(Settings()).get("file:///etc/passwd")


def test_named_intranet_host_allowed_but_redirect_to_loopback_refused(
    server: FeedServer, fetcher: Fetcher
) -> None:
    assert fetcher.get(server.named("/hop")).body == GOOD_FEED
    with pytest.raises(BlockedURLError, match=r"127\.0\.0\.1 is not public"):
        fetcher.get(server.named("/to-loopback"))
    assert server.hits["/feed.xml"] == 1  # only via the allowed /hop


def test_name_resolving_to_loopback_is_refused_at_connect(
    server: FeedServer, fetcher: Fetcher
) -> None:
    with pytest.raises(BlockedURLError, match=r"rebind\.test: address 127\.0\.0\.1"):
        fetcher.get(server.url("/feed.xml", host="rebind.test"))


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "100.64.0.1",
        "169.254.169.254",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "::1",
        "fe80::1",
        "fd00:ec2::254",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "64:ff9b::a00:1",
        "2002:7f00:1::",
        "fec0::1",  # site-local: Python counts it as global
    ],
)
def test_guard_refuses_non_public_addresses(address: str) -> None:
    with pytest.raises(BlockedURLError):
        AddressGuard.build().check("h", ipaddress.ip_address(address))


def test_guard_allows_public_and_allowed_networks_but_never_metadata() -> None:
    AddressGuard.build().check("h", ipaddress.ip_address("93.184.216.34"))
    loose = AddressGuard.build(networks=["0.0.0.0/0", "::/0"], hosts=["intra"])
    loose.check("h", ipaddress.ip_address("10.0.0.1"))
    loose.check("intra", ipaddress.ip_address("192.168.0.1"))
    for meta in ("169.254.169.254", "fd00:ec2::254"):
        with pytest.raises(BlockedURLError, match="metadata"):
            loose.check("intra", ipaddress.ip_address(meta))


def test_user_agent_and_conditional_get(server: FeedServer, fetcher: Fetcher) -> None:
    first = fetcher.get(server.named("/etag-feed.xml"))
    assert first.status == 200 and first.etag == '"v1"'
    assert first.last_modified == "Tue, 24 Nov 2026 09:00:00 GMT"
    agent = server.seen["/etag-feed.xml"]["User-Agent"]
    assert agent == f"outreach/{__version__} (+http://localhost:8000)"  # the base URL
    second = fetcher.get(
        server.named("/etag-feed.xml"), etag=first.etag, last_modified=first.last_modified
    )
    assert second.not_modified and second.body == b""
    assert server.seen["/etag-feed.xml"]["If-None-Match"] == '"v1"'
    assert server.seen["/etag-feed.xml"]["If-Modified-Since"] == first.last_modified


def test_gzip_body_is_decoded(server: FeedServer, fetcher: Fetcher) -> None:
    assert fetcher.get(server.named("/gzip-feed.xml")).body == GOOD_FEED
    with pytest.raises(FetchError, match="truncated gzip body"):
        fetcher.get(server.named("/gzip-truncated"))


def test_5xx_is_retried_then_reported(server: FeedServer, fetcher: Fetcher) -> None:
    with pytest.raises(FetchError, match="HTTP 500"):
        fetcher.get(server.named("/500"))
    assert server.hits["/500"] == 2  # fetch_retries=1
    assert fetcher.get(server.named("/flaky")).body == GOOD_FEED
    assert server.hits["/flaky"] == 2


def test_retry_after_is_honoured_up_to_the_read_timeout(
    server: FeedServer, fetch_settings: Settings
) -> None:
    waits: list[float] = []
    fetcher = Fetcher(fetch_settings, backoff=0.01, sleep=waits.append)
    assert fetcher.get(server.named("/busy")).body == GOOD_FEED
    assert waits == [fetch_settings.fetch_read_timeout]  # not the hour the server asked for


def test_404_is_not_retried_and_410_means_gone(server: FeedServer, fetcher: Fetcher) -> None:
    with pytest.raises(FetchError, match="HTTP 404"):
        fetcher.get(server.named("/404"))
    assert server.hits["/404"] == 1
    with pytest.raises(SourceGone, match="410"):
        fetcher.get(server.named("/410"))


def test_redirect_loop_stops_after_five(server: FeedServer, fetcher: Fetcher) -> None:
    with pytest.raises(FetchError, match="more than 5 redirects"):
        fetcher.get(server.named("/loop"))
    assert server.hits["/loop"] == 6


@pytest.mark.parametrize("path", ["/slow", "/drip"])
def test_slow_answers_cost_no_more_than_the_timeout(
    server: FeedServer, fetcher: Fetcher, path: str
) -> None:
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"timed out|longer than the timeout"):
        fetcher.get(server.named(path))
    # two attempts of at most connect + read timeout (0.5 + 0.5) each, plus backoff
    assert time.monotonic() - started < 2.8


@pytest.mark.parametrize("path", ["/big", "/big-unannounced", "/gzip-bomb"])
def test_body_cap_bounds_memory(server: FeedServer, fetcher: Fetcher, path: str) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(FetchError, match="limit"):
            fetcher.get(server.named(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * MB  # the cap is 1 MB; 50 MB were offered


def test_local_files_answer_in_place_of_the_network(tmp_path: Path) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_bytes(GOOD_FEED)
    fetcher = Fetcher(Settings(), local_files={"https://city.example/rss": feed})
    first = fetcher.get("https://city.example/rss", params={"lang": "fi"})
    assert first.body == GOOD_FEED and first.etag
    assert fetcher.get("https://city.example/rss?x=1", etag=first.etag).not_modified
    with pytest.raises(BlockedURLError):  # anything else still goes through the guard
        fetcher.get("http://127.0.0.1:9/rss")


@pytest.mark.parametrize(("verbose", "traceback"), [(False, False), (True, True)])
def test_a_document_that_cannot_be_parsed_is_one_line_and_a_traceback_only_in_debug(
    tmp_path: Path,
    make_ctx: Callable[..., FetchContext],
    caplog: pytest.LogCaptureFixture,
    verbose: bool,
    traceback: bool,
) -> None:
    page = tmp_path / "c.ics"
    page.write_text("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")
    url = "https://city.example/c.ics"
    ctx = make_ctx(fetcher=Fetcher(Settings(), local_files={url: page}))

    def parse(resp: Response) -> FetchResult:
        raise ValueError("Expected datetime, date, or time. Got: 'INVALID-DATE'")

    caplog.set_level(logging.DEBUG if verbose else logging.WARNING)  # `outreach -v` or not
    result = fetch_and_parse(ctx, url, parse)
    assert result.status == SourceStatus.ERROR
    assert result.error == (
        f"{url}: cannot parse: ValueError: Expected datetime, date, or time. Got: 'INVALID-DATE'"
    )
    assert any(r.exc_info for r in caplog.records) is traceback


def test_examples_map_every_campaign_url() -> None:
    from outreach.campaigns import NewsletterCampaign, load

    mapping = load_local_files(ROOT / "examples" / "sources.yaml")
    assert all(path.is_file() for path in mapping.values())
    used = {
        str(src.options()["url"])
        for camp in load(ROOT / "campaigns").campaigns.values()
        if isinstance(camp, NewsletterCampaign)
        for section in camp.sections
        for src in section.sources
        if "url" in src.options()
    }
    assert used == set(mapping)


def test_https_and_proxies_go_through_the_guard(
    server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    fetcher = Fetcher(Settings(fetch_retries=0))
    with pytest.raises(BlockedURLError, match="not public"):
        fetcher.get(f"https://127.0.0.1:{server.port}/feed.xml")
    # a proxy from the environment must not become a way around the guard
    monkeypatch.setenv("HTTP_PROXY", server.url("/"))
    monkeypatch.setenv("HTTPS_PROXY", server.url("/"))
    with pytest.raises(FetchError, match="resolved"):
        fetcher.get("http://news.example/feed.xml")
    assert sum(server.hits.values()) == 0


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """An HTTPS server on 127.0.0.1 whose certificate names feeds.test (made with openssl)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed; the TLS test needs it to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=feeds.test",
         "-addext", "subjectAltName=DNS:feeds.test"],
        check=True, capture_output=True,
    )  # fmt: skip

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(GOOD_FEED)))
            self.end_headers()
            self.wfile.write(GOOD_FEED)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd.server_address[1], cert
    httpd.shutdown()
    httpd.server_close()


def test_https_keeps_certificate_checks_through_the_guard(
    tls_server: tuple[int, Path], fetch_settings: Settings
) -> None:
    port, cert = tls_server
    trusted = Fetcher(fetch_settings, ca_bundle=cert)
    assert trusted.get(f"https://feeds.test:{port}/feed.xml").body == GOOD_FEED
    with pytest.raises(FetchError, match="TLS failed"):  # not trusted without the CA
        Fetcher(fetch_settings).get(f"https://feeds.test:{port}/feed.xml")
    # the certificate is checked against the name asked for, not the vetted address
    other = fetch_settings.model_copy(update={"fetch_allowed_hosts": ["rebind.test"]})
    with pytest.raises(FetchError, match="TLS failed"):
        Fetcher(other, ca_bundle=cert).get(f"https://rebind.test:{port}/feed.xml")
