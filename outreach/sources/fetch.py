"""Fetching like a well-behaved robot: safe, bounded, conditional HTTP GET.

:class:`Fetcher` is shared by every remote source type. It

- allows http and https only, follows at most five redirects itself and
  vets each hop's address at connect time (:mod:`outreach.sources.guard`);
- applies connect and read timeouts plus a deadline per attempt, so a source
  that drips bytes costs no more than its own timeout;
- caps the body on the wire and after decompression (it decompresses gzip and
  deflate itself, with a bounded output, so a gzip bomb stops at the cap);
- sends a User-Agent naming the service and a contact URL, and conditional
  headers (ETag / Last-Modified) so unchanged feeds answer 304;
- retries 5xx answers, timeouts and dropped connections with backoff, and
  reports 410 Gone as :class:`SourceGone` so the source is disabled.

``local_files`` maps URLs (without query string) to files that answer in place
of the network; the demo uses it to ingest the bundled examples for the shipped
campaigns' real URLs. It is set by code only, never from web input.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict

from outreach import __version__
from outreach.errors import BlockedURLError, FetchError, SourceError, SourceGone
from outreach.models import SourceStatus
from outreach.settings import Settings
from outreach.sources.base import FetchContext, FetchResult
from outreach.sources.guard import AddressGuard, pool_classes

log = logging.getLogger(__name__)

MAX_REDIRECTS = 5
RETRY_STATUSES = frozenset({500, 502, 503, 504, 429})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
CHUNK = 64 * 1024
#: Failures worth another attempt (with backoff).
TRANSIENT = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


@dataclass
class Response:
    """A fetched body (or a 304) and the headers a source needs."""

    url: str
    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def etag(self) -> str | None:
        return self.headers.get("ETag") or None

    @property
    def last_modified(self) -> str | None:
        return self.headers.get("Last-Modified") or None

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "").split(";")[0].strip().lower()

    @property
    def charset(self) -> str | None:
        for part in self.headers.get("Content-Type", "").split(";")[1:]:
            name, _, value = part.partition("=")
            if name.strip().lower() == "charset" and value.strip():
                return value.strip().strip("\"'")
        return None


class _Decoder:
    """Decompresses with a bounded output: never more than ``limit`` bytes at once."""

    def __init__(self, encoding: str) -> None:
        encoding = encoding.strip().lower()
        self.zlib: Any = None
        if encoding in ("gzip", "x-gzip"):
            self.zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self.zlib = zlib.decompressobj()
            self.raw_deflate_tried = False
        elif encoding not in ("", "identity"):
            raise FetchError(f"unsupported Content-Encoding {encoding!r}")
        self.encoding = encoding

    def feed(self, data: bytes, limit: int, out: bytearray) -> None:
        if self.zlib is None:
            out += data
            return
        try:
            out += self.zlib.decompress(data, limit - len(out) + 1)
            while self.zlib.unconsumed_tail and len(out) <= limit:
                out += self.zlib.decompress(self.zlib.unconsumed_tail, limit - len(out) + 1)
        except zlib.error as exc:
            if self.encoding == "deflate" and not out and not self.raw_deflate_tried:
                self.raw_deflate_tried = True  # servers that send raw deflate
                self.zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                self.feed(data, limit, out)
                return
            raise FetchError(f"broken {self.encoding} body: {exc}") from exc

    def finish(self, out: bytearray) -> None:
        if self.zlib is not None and not self.zlib.eof and out:
            raise FetchError(f"truncated {self.encoding} body")


def _strip_query(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


class Fetcher:
    """Safe HTTP GET for sources; thread-safe (one requests session per call)."""

    def __init__(
        self,
        settings: Settings,
        *,
        allowed_networks: Sequence[str] = (),
        local_files: Mapping[str, Path] | None = None,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        ca_bundle: Path | None = None,
    ) -> None:
        """``allowed_networks`` lifts the address guard for CIDR ranges (tests, labs);
        ``ca_bundle`` adds trust for an internal certificate authority."""
        self.connect_timeout = settings.fetch_connect_timeout
        self.read_timeout = settings.fetch_read_timeout
        self.max_bytes = settings.fetch_max_bytes
        self.retries = max(0, settings.fetch_retries)
        self.backoff = backoff
        self.sleep = sleep
        contact = settings.contact_url or settings.base_url
        self.user_agent = f"outreach/{__version__} (+{contact})"
        self.guard = AddressGuard.build(settings.fetch_allowed_hosts, allowed_networks)
        self._pools = pool_classes(self.guard)
        self.local_files = {_strip_query(k): Path(v) for k, v in (local_files or {}).items()}
        self.verify: str | bool = str(ca_bundle) if ca_bundle else True

    # -- public -----------------------------------------------------------------

    def get(
        self,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        accept: str = "*/*",
    ) -> Response:
        """GET ``url``; a 2xx or 304 :class:`Response`, else a :class:`SourceError`."""
        if params:
            try:
                url = requests.Request("GET", url, params=dict(params)).prepare().url or url
            except requests.RequestException as exc:
                raise FetchError(f"{url}: invalid URL ({exc.__class__.__name__})") from exc
        local = self.local_files.get(_strip_query(url))
        if local is not None:
            return self._local(url, local, etag)
        headers: dict[str, str] = {
            "User-Agent": self.user_agent,
            "Accept": accept,
            "Accept-Encoding": "gzip, deflate",
        }
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        attempt = 0
        while True:
            delay = self.backoff * (2**attempt)
            try:
                resp = self._follow(url, headers)
            except FetchError as exc:
                if not exc.retryable or attempt >= self.retries:
                    raise
            else:
                if resp.status not in RETRY_STATUSES or attempt >= self.retries:
                    return self._check_status(resp)
                wait = resp.headers.get("Retry-After", "").strip()
                if wait.isdigit():  # honoured up to the read timeout, so the cost stays bounded
                    delay = max(delay, min(float(wait), self.read_timeout))
            self.sleep(delay)
            attempt += 1

    def session(self) -> requests.Session:
        """A session whose every connection goes through the SSRF guard, with no
        proxies from the environment, for callers that make their own requests
        (the pre-flight link check's HEAD requests). Close it after use."""
        return self._session()

    # -- internals --------------------------------------------------------------

    def _check_status(self, resp: Response) -> Response:
        if resp.status == 410:
            raise SourceGone(
                f"{resp.url} answered 410 Gone: the source is disabled; "
                "remove it from the campaign file or change its URL"
            )
        if resp.status == 304 or 200 <= resp.status < 300:
            return resp
        raise FetchError(f"HTTP {resp.status} from {resp.url}")

    def _session(self) -> requests.Session:
        session = requests.Session()
        session.trust_env = False  # no proxies or .netrc from the environment
        session.verify = self.verify
        adapter = HTTPAdapter(max_retries=0, pool_connections=1, pool_maxsize=1)
        adapter.poolmanager.pool_classes_by_scheme = self._pools
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    def _follow(self, url: str, headers: dict[str, str]) -> Response:
        with self._session() as session:
            current = url
            for hop in range(MAX_REDIRECTS + 1):
                scheme = urlsplit(current).scheme.lower()
                if scheme not in ("http", "https"):
                    raise BlockedURLError(f"{current}: only http and https URLs are fetched")
                try:
                    raw = session.get(
                        current,
                        headers=headers,
                        stream=True,
                        allow_redirects=False,
                        timeout=(self.connect_timeout, self.read_timeout),
                    )
                except BlockedURLError:
                    raise
                except requests.exceptions.SSLError as exc:
                    raise FetchError(f"{current}: {failure_reason(exc)}") from exc
                except TRANSIENT as exc:
                    raise _retryable(f"{current}: {failure_reason(exc)}") from exc
                except requests.RequestException as exc:
                    raise FetchError(f"{current}: {failure_reason(exc)}") from exc
                with raw:
                    location = raw.headers.get("Location")
                    if raw.status_code in REDIRECT_STATUSES and location:
                        if hop == MAX_REDIRECTS:
                            raise FetchError(f"{url}: more than {MAX_REDIRECTS} redirects")
                        current = urljoin(current, location.strip())
                        continue
                    body = b"" if raw.status_code == 304 else self._read(raw, current)
                    return Response(
                        current, raw.status_code, body, CaseInsensitiveDict(raw.headers)
                    )
        raise FetchError(f"{url}: more than {MAX_REDIRECTS} redirects")  # pragma: no cover

    def _read(self, raw: requests.Response, url: str) -> bytes:
        if raw.status_code >= 400:
            return b""  # error bodies are not needed
        limit = self.max_bytes
        length = raw.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > limit:
            raise FetchError(f"{url}: body of {length} bytes is over the {limit}-byte limit")
        decoder = _Decoder(raw.headers.get("Content-Encoding", ""))
        deadline = time.monotonic() + self.connect_timeout + self.read_timeout
        out = bytearray()
        wire = 0
        try:
            while True:
                if time.monotonic() > deadline:
                    raise _retryable(f"{url}: body took longer than the timeout")
                chunk = raw.raw.read1(CHUNK, decode_content=False)
                if not chunk:
                    break
                wire += len(chunk)
                if wire > limit:
                    raise FetchError(f"{url}: body is over the {limit}-byte limit")
                decoder.feed(chunk, limit, out)
                if len(out) > limit:
                    raise FetchError(f"{url}: decompressed body is over the {limit}-byte limit")
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise _retryable(f"{url}: {failure_reason(exc)}") from exc
        decoder.finish(out)
        return bytes(out)

    def _local(self, url: str, path: Path, etag: str | None) -> Response:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise FetchError(f"{url}: local file {path} cannot be read: {exc.strerror}") from exc
        if len(data) > self.max_bytes:
            raise FetchError(f"{url}: local file {path} is over the {self.max_bytes}-byte limit")
        tag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
        if etag == tag:
            return Response(url, 304, b"", {"ETag": tag})
        kind = {".ics": "text/calendar", ".json": "application/json", ".xml": "application/xml"}
        ctype = kind.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "text/plain"
        return Response(url, 200, data, CaseInsensitiveDict({"ETag": tag, "Content-Type": ctype}))


def _retryable(message: str) -> FetchError:
    return FetchError(message, retryable=True)


def failure_reason(exc: BaseException) -> str:
    """Why a request failed, in a few words (a timeout, TLS, a name, a refusal)."""
    if isinstance(exc, requests.ConnectTimeout | urllib3.exceptions.ConnectTimeoutError):
        return "connection timed out"
    if isinstance(exc, requests.ReadTimeout | urllib3.exceptions.ReadTimeoutError | TimeoutError):
        return "read timed out"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS failed (certificate not trusted or not for this host)"
    text = str(exc)
    if "NameResolutionError" in text or "Name or service not known" in text:
        return "host name could not be resolved"
    if "Connection refused" in text:
        return "connection refused"
    return text.splitlines()[0][:200] if text else exc.__class__.__name__


def fetch_and_parse(
    ctx: FetchContext,
    url: str,
    parse: Callable[[Response], FetchResult],
    *,
    params: Mapping[str, str] | None = None,
    accept: str = "*/*",
) -> FetchResult:
    """GET ``url`` conditionally and ``parse`` it; every failure becomes a result.

    304 parses nothing. The new ETag / Last-Modified travel back in the result;
    the ingest step stores them only once the items were stored.
    """
    try:
        resp = ctx.fetcher.get(
            url, params=params, etag=ctx.etag, last_modified=ctx.last_modified, accept=accept
        )
    except SourceGone as exc:
        return FetchResult(SourceStatus.DISABLED, error=str(exc))
    except SourceError as exc:
        return FetchResult(SourceStatus.ERROR, error=str(exc))
    if resp.not_modified:
        return FetchResult(
            SourceStatus.NOT_MODIFIED,
            etag=resp.etag or ctx.etag,
            last_modified=resp.last_modified or ctx.last_modified,
        )
    result = parse_safely(url, lambda: parse(resp))
    if result.status in (SourceStatus.OK, SourceStatus.NOT_MODIFIED):
        result.etag = resp.etag
        result.last_modified = resp.last_modified
    return result


def parse_safely(url: str, parse: Callable[[], FetchResult]) -> FetchResult:
    """``parse()``; a document it cannot read is an error result, never raised.

    Malformed input is the source's problem, said in the result's one line; the
    traceback is logged only at debug level (``outreach -v``), for a parser's bug.
    """
    try:
        return parse()
    except SourceError as exc:
        return FetchResult(SourceStatus.ERROR, error=str(exc))
    except Exception as exc:
        log.debug("parsing %s failed", url, exc_info=True)
        return FetchResult(SourceStatus.ERROR, error=f"{url}: cannot parse: {_describe(exc)}")


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:200]
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__


def load_local_files(path: Path) -> dict[str, Path]:
    """The ``URL: file`` mapping of a YAML file (e.g. ``examples/sources.yaml``).

    File paths are relative to the YAML file's folder and must stay inside it.
    """
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SourceError(f"{path}: cannot read the URL-to-file mapping: {exc}") from exc
    if not isinstance(data, dict):
        raise SourceError(f"{path}: expected a mapping of URL: file")
    base = path.parent.resolve()
    found: dict[str, Path] = {}
    for url, rel in data.items():
        target = (base / str(rel)).resolve()
        if not target.is_relative_to(base):
            raise SourceError(f"{path}: {url}: {rel} is outside {base}")
        found[str(url)] = target
    return found
