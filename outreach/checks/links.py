"""Link check: every link and image URL of an issue, through the safe fetcher.

Each URL is asked with HEAD, and with GET where HEAD is refused (any 4xx or
5xx to HEAD; the GET body is never read). Redirects are followed hop by hop
(at most five) through the same SSRF guard as source fetches
(:meth:`outreach.sources.fetch.Fetcher.session`); a link that ends on another
host is reported. URLs are checked in parallel, at most
``OUTREACH_CHECK_LINK_PER_HOST`` at a time per host (host and port), and the
whole check ends after ``OUTREACH_CHECK_LINK_SECONDS``: whatever has not
answered by then is reported as not answered in time, and no request outlives
the limit (each one's timeouts are cut to the time left).

Results are kept in the ``link_checks`` table for an hour, so every process
(the CLI, the daemon, the console) shares them; a timeout is not kept.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from outreach.errors import BlockedURLError
from outreach.models import LinkCheck
from outreach.settings import Settings
from outreach.sources import MAX_REDIRECTS, REDIRECT_STATUSES, Fetcher
from outreach.sources import failure_reason as reason

CACHE_FOR = timedelta(hours=1)

OK = "ok"
BROKEN = "broken"  # the server answered 4xx or 5xx
UNREACHABLE = "unreachable"  # DNS, refused connection, TLS
BLOCKED = "blocked"  # the SSRF guard refused the address
TIMEOUT = "timeout"  # not answered within the check's time limit


@dataclass(frozen=True)
class LinkResult:
    url: str
    state: str
    status: int | None = None
    final_url: str = ""
    error: str = ""
    size: int | None = None
    content_type: str = ""

    @property
    def other_host(self) -> str | None:
        """The host a redirect ended on, when it is not the link's own."""
        if not self.final_url:
            return None
        start, end = urlsplit(self.url).hostname, urlsplit(self.final_url).hostname
        return end if end and start and end.lower() != start.lower() else None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LinkResult:
        fields = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**fields)


def host_key(url: str) -> str:
    parts = urlsplit(url)
    return f"{(parts.hostname or '').lower()}:{parts.port or parts.scheme}"


def _hash(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8")).hexdigest()


# -- one URL ------------------------------------------------------------------------


def _follow(
    session: requests.Session,
    method: str,
    url: str,
    headers: dict[str, str],
    timeout: Callable[[], tuple[float, float]],
) -> LinkResult:
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        if urlsplit(current).scheme.lower() not in ("http", "https"):
            return LinkResult(url, BLOCKED, final_url=current, error="not an http(s) address")
        connect, read = timeout()
        if connect <= 0:
            return LinkResult(url, TIMEOUT, error="not answered in time")
        try:
            resp = session.request(
                method,
                current,
                headers=headers,
                allow_redirects=False,
                stream=True,
                timeout=(connect, read),
            )
        except BlockedURLError as exc:
            return LinkResult(url, BLOCKED, error=str(exc))
        except requests.Timeout:
            return LinkResult(url, TIMEOUT, error="not answered in time")
        except requests.RequestException as exc:
            return LinkResult(url, UNREACHABLE, error=reason(exc))
        with resp:
            location = resp.headers.get("Location")
            if resp.status_code in REDIRECT_STATUSES and location:
                current = urljoin(current, location.strip())
                continue
            final = current if current != url else ""
            if resp.status_code >= 400:
                return LinkResult(url, BROKEN, resp.status_code, final, f"HTTP {resp.status_code}")
            length = resp.headers.get("Content-Length", "")
            return LinkResult(
                url,
                OK,
                resp.status_code,
                final,
                size=int(length) if length.isdigit() else None,
                content_type=resp.headers.get("Content-Type", "").split(";")[0].strip(),
            )
    return LinkResult(url, BROKEN, error=f"more than {MAX_REDIRECTS} redirects")


def probe(fetcher: Fetcher, url: str, timeout: Callable[[], tuple[float, float]]) -> LinkResult:
    """HEAD ``url``, then GET where HEAD is refused."""
    headers = {"User-Agent": fetcher.user_agent, "Accept": "*/*"}
    with fetcher.session() as session:
        result = _follow(session, "HEAD", url, headers, timeout)
        if result.state == BROKEN and result.status is not None:
            result = _follow(session, "GET", url, headers, timeout)
    return result


# -- many URLs ----------------------------------------------------------------------


def check_urls(
    settings: Settings,
    urls: Iterable[str],
    *,
    fetcher: Fetcher | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, LinkResult]:
    """Every URL's result within the time limit; a URL still waiting then is a TIMEOUT."""
    fetcher = fetcher or Fetcher(settings)
    limit = settings.check_link_seconds
    deadline = clock() + limit
    wanted = list(dict.fromkeys(urls))
    lanes: dict[str, deque[str]] = {}
    for url in wanted:
        lanes.setdefault(host_key(url), deque()).append(url)
    results: dict[str, LinkResult] = {}
    lock = threading.Lock()

    def timeout() -> tuple[float, float]:
        left = deadline - clock()
        return min(fetcher.connect_timeout, left), min(fetcher.read_timeout, left)

    def lane(queue: deque[str]) -> None:
        while clock() < deadline:
            with lock:
                if not queue:
                    return
                url = queue.popleft()
            result = probe(fetcher, url, timeout)
            with lock:
                results[url] = result

    jobs = [q for q in lanes.values() for _ in range(min(len(q), settings.check_link_per_host))]
    if jobs:
        pool = ThreadPoolExecutor(
            max_workers=min(len(jobs), settings.fetch_workers), thread_name_prefix="linkcheck"
        )
        futures = [pool.submit(lane, q) for q in jobs]
        wait(futures, timeout=max(0.0, deadline - clock()))
        pool.shutdown(wait=False, cancel_futures=True)
    with lock:
        done = dict(results)
    late = f"not answered within {limit:g} s"
    return {url: done.get(url) or LinkResult(url, TIMEOUT, error=late) for url in wanted}


# -- the cache ----------------------------------------------------------------------


def cached(session: Session, urls: Iterable[str], now: datetime) -> dict[str, LinkResult]:
    """Results of the last hour, by URL (the newest where two processes wrote one)."""
    by_hash = {_hash(url): url for url in urls}
    if not by_hash:
        return {}
    rows = session.scalars(
        select(LinkCheck)
        .where(LinkCheck.url_hash.in_(list(by_hash)), LinkCheck.checked_at > now - CACHE_FOR)
        .order_by(LinkCheck.checked_at)
    )
    found: dict[str, LinkResult] = {}
    for row in rows:
        url = by_hash.get(row.url_hash)
        if url is not None and row.url == url:
            found[url] = LinkResult.from_json({**row.outcome, "url": url})
    return found


def remember(session: Session, results: Iterable[LinkResult], now: datetime) -> None:
    """Keep the results (not timeouts) for an hour; older rows of the same URLs go."""
    keep = [r for r in results if r.state != TIMEOUT]
    if keep:
        session.execute(
            delete(LinkCheck).where(LinkCheck.url_hash.in_([_hash(r.url) for r in keep]))
        )
    session.execute(delete(LinkCheck).where(LinkCheck.checked_at < now - CACHE_FOR))
    for result in keep:
        outcome = {k: v for k, v in asdict(result).items() if k != "url"}
        session.add(
            LinkCheck(url_hash=_hash(result.url), url=result.url, checked_at=now, outcome=outcome)
        )
    session.flush()


def check_links(
    session: Session,
    settings: Settings,
    urls: Iterable[str],
    now: datetime,
    *,
    fetcher: Fetcher | None = None,
) -> dict[str, LinkResult]:
    """The result of every URL: from the cache where fresh, else checked now and kept."""
    wanted = list(dict.fromkeys(urls))
    known = cached(session, wanted, now)
    fresh = check_urls(settings, [u for u in wanted if u not in known], fetcher=fetcher)
    remember(session, fresh.values(), now)
    return {url: known.get(url) or fresh[url] for url in wanted}
