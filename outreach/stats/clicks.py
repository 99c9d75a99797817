"""Following a counted link: resolve ``/l/<id>`` to its stored URL and count the click.

The id is checked first (:mod:`outreach.linkids`); a forged or unknown one
resolves to nothing (the face answers 404). The answer is only ever the URL
stored for the link when the issue was built: there is no parameter that
could send a reader anywhere else.

Every request of a valid id is recorded, but only a person's click is counted.
The filter (docs/stats.md, "What is not counted") marks a request as:

``head``        not a GET (HEAD, or anything else): a scanner checking the link;
``prefetch``    a browser's or mail client's prefetch or preview (``Sec-Purpose``,
                ``Purpose``, ``X-Purpose`` or ``X-Moz`` saying ``prefetch`` or
                ``preview``): nobody opened the link;
``agent``       no User-Agent, or one of a known bot, link scanner or HTTP library;
``before_send`` before the issue's send started (previews, test mails);
``repeat``      the same link from the same network within :data:`REPEAT_SECONDS`;
``burst``       another link of the same issue from the same network within
                :data:`BURST_SECONDS` (a scanner opening every link; the earlier
                ones are taken back too);
``early``       a second link of the issue from the same network within
                :data:`EARLY_SECONDS` of a delivery of the issue being handed
                over (a mail gateway pre-fetching the message; both taken back).

The network is the client's /24 (IPv4) or /48 (IPv6), stored only as a keyed
hash and blanked after :data:`NET_KEEP`; nothing names the reader.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy import bindparam, exists, insert, select, update
from sqlalchemy import text as sql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from outreach.errors import InvalidTokenError
from outreach.linkids import LinkRef, LinkSigner
from outreach.models import Delivery, Issue, IssueLink, LinkClick

REPEAT_SECONDS = 2
BURST_SECONDS = 1
EARLY_SECONDS = 60
REPEAT_SECONDS_D = timedelta(seconds=REPEAT_SECONDS)
V4_NET = (1 << 32) - (1 << 8)  # the /24's bits
V6_NET = (1 << 128) - (1 << 80)  # the /48's bits
NET_KEEP = timedelta(days=1)
#: Every this many clicks, network hashes older than NET_KEEP are blanked.
NET_SWEEP_EVERY = 256

#: User agents of mail security scanners, link previews, crawlers and HTTP libraries.
SCANNER_AGENTS = re.compile(
    r"bot\b|bot/|crawl|spider|scan|preview|fetch|monitor|check|"
    r"barracuda|mimecast|proofpoint|symantec|messagelabs|forcepoint|trendmicro|sophos|"
    r"fireeye|ironport|cisco|safelinks|urldefense|appriver|zscaler|mcafee|fortinet|"
    r"microsoft office|ms-office|outlook-ios|skypeuripreview|google-safety|googleimageproxy|"
    r"headless|phantomjs|curl/|wget/|python-|python/|go-http-client|java/|okhttp|"
    r"libwww|httpclient|axios/|node-fetch|aiohttp|httpx|requests/|scrapy|nutch|yahoo! slurp",
    re.IGNORECASE,
)


#: Headers with which browsers and mail clients mark a request nobody asked for yet.
PURPOSE_HEADERS = ("sec-purpose", "purpose", "x-purpose", "x-moz")
_PREFETCH = re.compile(r"prefetch|preview|prerender", re.IGNORECASE)


@dataclass(frozen=True)
class Request:
    """What the filter looks at; the address is reduced to its network at once.

    ``purpose``: the value of the request's purpose header (:data:`PURPOSE_HEADERS`),
    empty when it has none."""

    method: str
    user_agent: str
    client: str | None
    purpose: str = ""


def prefetch(purpose: str) -> bool:
    """Whether a purpose header says the request is a prefetch or a preview."""
    return _PREFETCH.search(purpose) is not None


def network(client: str | None) -> str | None:
    """The /24 (IPv4) or /48 (IPv6) of an address, or None when it is not one."""
    try:
        address = ipaddress.ip_address(client or "")
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if isinstance(address, ipaddress.IPv4Address):
        return f"{ipaddress.IPv4Address(int(address) & V4_NET)}/24"
    return f"{ipaddress.IPv6Address(int(address) & V6_NET)}/48"


@lru_cache(maxsize=8)
def _net_key(secret: bytes) -> bytes:
    return hmac.new(secret, b"outreach click network", hashlib.sha256).digest()


def net_hash(secret: bytes, client: str | None) -> str | None:
    prefix = network(client)
    if prefix is None:
        return None
    return hmac.new(_net_key(secret), prefix.encode(), hashlib.sha256).hexdigest()[:16]


def scanner_agent(agent: str) -> bool:
    return not agent.strip() or SCANNER_AGENTS.search(agent) is not None


@dataclass(frozen=True)
class Link:
    id: int
    issue_id: int
    url: str
    send_started_at: datetime | None


class Links:
    """Links already resolved, kept in memory (at most ``size``, the oldest go first).

    Only links of issues whose send has started: an issue's links are numbered
    again only when it is built again, which ends with its send, and its send's
    start is set once. So a click after the send reads the database only to
    record itself. The web app keeps one per process.
    """

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._found: dict[LinkRef, Link] = {}
        self._lock = threading.Lock()

    def get(self, ref: LinkRef) -> Link | None:
        return self._found.get(ref)

    def keep(self, ref: LinkRef, link: Link) -> None:
        if link.send_started_at is None:
            return
        with self._lock:
            if len(self._found) >= self.size:
                del self._found[next(iter(self._found))]
            self._found[ref] = link

    def forget(self, ref: LinkRef) -> None:
        with self._lock:
            self._found.pop(ref, None)


#: The statements of a click, made once (the compiled forms are cached by SQLAlchemy).
_LINK = (
    select(IssueLink.id, IssueLink.item_id, IssueLink.url, Issue.send_started_at)
    .join(Issue, Issue.id == IssueLink.issue_id)
    .where(
        IssueLink.issue_id == bindparam("issue"),
        IssueLink.lang == bindparam("lang"),
        IssueLink.n == bindparam("n"),
    )
)
_RECENT = select(LinkClick.link_id, LinkClick.created_at).where(
    LinkClick.issue_id == bindparam("issue"),
    LinkClick.net == bindparam("net"),
    LinkClick.created_at >= bindparam("since"),
)
_RECORD = insert(LinkClick)


def _read(signer: LinkSigner, text: str) -> LinkRef | None:
    try:
        return signer.read(text)
    except InvalidTokenError:
        return None


def _lookup(session: Session, ref: LinkRef) -> Link | None:
    row = (
        session.connection()
        .execute(_LINK, {"issue": ref.issue_id, "lang": ref.lang, "n": ref.n})
        .first()
    )
    if row is None or (row.item_id or 0) != ref.item_id:
        return None
    return Link(row.id, ref.issue_id, row.url, row.send_started_at)


def resolve(
    session: Session, signer: LinkSigner, text: str, links: Links | None = None
) -> Link | None:
    """The link a signed id names, or None (forged, unknown, or of a deleted issue)."""
    ref = _read(signer, text)
    if ref is None:
        return None
    link = links.get(ref) if links is not None else None
    if link is None:
        link = _lookup(session, ref)
        if link is not None and links is not None:
            links.keep(ref, link)
    return link


def _take_back(session: Session, link: Link, net: str, since: datetime, why: str) -> None:
    session.execute(
        update(LinkClick)
        .where(
            LinkClick.issue_id == link.issue_id,
            LinkClick.net == net,
            LinkClick.created_at >= since,
            LinkClick.counted.is_(True),
        )
        .values(counted=False, reason=why)
    )


def _reason(
    session: Session, link: Link, request: Request, net: str | None, now: datetime
) -> str | None:
    if request.method != "GET":
        return "head"
    if prefetch(request.purpose):
        return "prefetch"
    if scanner_agent(request.user_agent):
        return "agent"
    if link.send_started_at is None or now < link.send_started_at:
        return "before_send"
    if net is None:
        return None
    early = now - timedelta(seconds=EARLY_SECONDS)
    recent = (  # this network's requests of the issue in the last minute
        session.connection()
        .execute(_RECENT, {"issue": link.issue_id, "net": net, "since": early})
        .all()
    )
    if not recent:
        return None
    if any(r.link_id == link.id and r.created_at >= now - REPEAT_SECONDS_D for r in recent):
        return "repeat"
    burst = now - timedelta(seconds=BURST_SECONDS)
    if any(r.link_id != link.id and r.created_at >= burst for r in recent):
        _take_back(session, link, net, burst, "burst")
        return "burst"
    if any(r.link_id != link.id for r in recent):
        delivered = exists().where(
            Delivery.issue_id == link.issue_id, Delivery.sent_at >= early, Delivery.sent_at <= now
        )
        if session.scalar(select(delivered)):
            _take_back(session, link, net, early, "early")
            return "early"
    return None


def follow(
    session: Session,
    signer: LinkSigner,
    secret: bytes,
    text: str,
    request: Request,
    now: datetime,
    links: Links | None = None,
) -> str | None:
    """The URL a signed link id stands for, with the request recorded; None: 404.

    Commits: the click is stored whether or not it counts. ``links``: the links
    resolved before (:class:`Links`).
    """
    link = resolve(session, signer, text, links)
    if link is None:
        return None
    if session.get_bind().dialect.name == "postgresql":
        # A click is not worth a wait for the disk: a crash of the server may lose
        # the last fraction of a second of them, never mix up what it keeps.
        session.execute(sql("SET LOCAL synchronous_commit = off"))
    net = net_hash(secret, request.client)
    why = _reason(session, link, request, net, now)
    try:
        recorded = session.connection().execute(
            _RECORD,
            {"link_id": link.id, "issue_id": link.issue_id, "counted": why is None,
             "reason": why, "net": net, "created_at": now},
        )  # fmt: skip
    except IntegrityError:  # the link is gone since it was kept (its issue was deleted)
        session.rollback()
        if links is not None:
            ref = _read(signer, text)
            if ref is not None:
                links.forget(ref)
        return None
    click_id = int((recorded.inserted_primary_key or (0,))[0])
    if click_id % NET_SWEEP_EVERY == 0:
        session.execute(
            update(LinkClick)
            .where(LinkClick.net.is_not(None), LinkClick.created_at < now - NET_KEEP)
            .values(net=None)
        )
    session.commit()
    return link.url
