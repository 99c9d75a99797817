"""Counted links: the e-mail's links, the redirect through a real server, the filter."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from outreach.campaigns import Config
from outreach.linkids import LinkRef, LinkSigner
from outreach.models import Issue, IssueLink, LinkClick
from outreach.render import render_issue, render_web_version
from outreach.settings import Settings
from outreach.stats import ClickRequest, follow, network, scanner_agent
from outreach.web import create_app
from tests.staff.support import Clock
from tests.stats.fixture import NOW, V1_START
from tests.web.live import generous_limits
from tests.web.test_server import free_port, running

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0"


def counted(engine: Engine, issue_id: int) -> int:
    with Session(engine) as s:
        query = select(func.count()).where(LinkClick.issue_id == issue_id, LinkClick.counted)
        return int(s.scalar(query) or 0)


def link_id(settings: Settings, issue: int, lang: str, item: int, n: int) -> str:
    return LinkSigner(settings.secret()).make(LinkRef(issue, lang, item, n))


@dataclass
class Live:
    url: str
    clock: Clock
    client: httpx.Client


@pytest.fixture
def live(settings: Settings, engine: Engine, history: dict[str, int]) -> Iterator[Live]:
    clock = Clock(now=NOW)
    port = free_port()
    app = create_app(settings, rate_limiter=generous_limits(), clock=clock)
    with running(app, port), httpx.Client(
        base_url=f"http://127.0.0.1:{port}", follow_redirects=False,
        headers={"User-Agent": BROWSER},
    ) as client:  # fmt: skip
        yield Live(f"http://127.0.0.1:{port}", clock, client)


def test_a_real_server_counts_each_click_once_and_filters_scanners(
    live: Live, settings: Settings, engine: Engine, history: dict[str, int]
) -> None:
    v1 = history["v1"]
    before = counted(engine, v1)
    fi1 = link_id(settings, v1, "fi", 101, 1)
    answer = live.client.get(f"/l/{fi1}")
    assert answer.status_code == 302
    assert answer.headers["location"] == "https://vantaa.fi/aurinko"
    assert counted(engine, v1) == before + 1
    live.clock.move(seconds=30)
    assert live.client.get(f"/l/{fi1}").status_code == 302  # a second click, later: counted
    assert counted(engine, v1) == before + 2

    live.clock.move(minutes=5)
    head = live.client.head(f"/l/{fi1}")
    assert head.status_code == 302 and head.headers["location"] == "https://vantaa.fi/aurinko"
    scanner = live.client.get(f"/l/{fi1}", headers={"User-Agent": "Barracuda Sentinel (EE)"})
    assert scanner.status_code == 302
    assert counted(engine, v1) == before + 2

    # a gateway pre-fetching every link of the message within a second: none counts
    live.clock.move(minutes=5)
    for lang, item, n in (("fi", 101, 1), ("fi", 102, 2), ("sv", 101, 1)):
        assert live.client.get(f"/l/{link_id(settings, v1, lang, item, n)}").status_code == 302
    assert counted(engine, v1) == before + 2


def test_prefetches_and_previews_are_answered_but_never_counted(
    live: Live, settings: Settings, engine: Engine, history: dict[str, int]
) -> None:
    """A browser's prefetch (Chromium: ``Sec-Purpose``, Safari: ``Purpose``, Firefox:
    ``X-Moz``) and a client's link preview (``X-Purpose``) have a person's User-Agent,
    but nobody opened the link."""
    v1 = history["v1"]
    before = counted(engine, v1)
    fi1 = link_id(settings, v1, "fi", 101, 1)
    live.clock.move(minutes=10)
    marks = (
        {"Sec-Purpose": "prefetch"},
        {"Sec-Purpose": "prefetch;prerender"},
        {"Purpose": "prefetch"},
        {"X-Moz": "prefetch"},
        {"X-Purpose": "preview"},
    )
    for n, headers in enumerate(marks):
        live.clock.move(seconds=10)
        answer = live.client.get(
            f"/l/{fi1}", headers={**headers, "X-Forwarded-For": f"198.51.{n}.1"}
        )
        assert answer.status_code == 302
        assert answer.headers["location"] == "https://vantaa.fi/aurinko"
    assert counted(engine, v1) == before
    with Session(engine) as s:
        got = s.scalars(
            select(LinkClick.reason).where(LinkClick.issue_id == v1).order_by(LinkClick.id.desc())
        ).all()[: len(marks)]
    assert got == ["prefetch"] * len(marks)
    live.clock.move(seconds=10)
    assert live.client.get(f"/l/{fi1}").status_code == 302  # then the reader clicks: counted
    assert counted(engine, v1) == before + 1


def test_forged_and_unknown_ids_are_404_and_nothing_leads_elsewhere(
    live: Live, settings: Settings, engine: Engine, history: dict[str, int]
) -> None:
    v1 = history["v1"]
    good = link_id(settings, v1, "fi", 101, 1)
    forged = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    other_item = link_id(settings, v1, "fi", 102, 1)  # signed, but link 1 is item 101
    unknown = link_id(settings, v1, "fi", 101, 9)
    other_key = LinkSigner(b"another-secret-key-0123456789abcdef").make(LinkRef(v1, "fi", 101, 1))
    for bad in (forged, other_item, unknown, other_key, "x", "%2F%2Fevil.example", good + "x"):
        answer = live.client.get(f"/l/{bad}")
        assert answer.status_code == 404, bad
        assert "location" not in answer.headers
    answer = live.client.get(f"/l/{good}", params={"url": "https://evil.example/", "next": "//e"})
    assert answer.headers["location"] == "https://vantaa.fi/aurinko"
    assert live.client.get("//evil.example/l/x").status_code == 404
    with Session(engine) as s:
        urls = set(s.scalars(select(IssueLink.url).where(IssueLink.issue_id == v1)))
    assert urls == {"https://vantaa.fi/aurinko", "https://vantaa.fi/koulutus",
                    "https://vantaa.fi/sv/sol"}  # fmt: skip


def _follow(session: Session, settings: Settings, text: str, when: object, **kw: str) -> str | None:
    request = ClickRequest(kw.get("method", "GET"), kw.get("agent", BROWSER), kw.get("ip"))
    return follow(session, LinkSigner(settings.secret()), settings.secret(), text, request, when)  # type: ignore[arg-type]


def reasons(session: Session, issue: int) -> list[str | None]:
    return list(session.scalars(select(LinkClick.reason).where(LinkClick.issue_id == issue)
                                .order_by(LinkClick.id)))  # fmt: skip


def test_the_filter(session: Session, settings: Settings, history: dict[str, int]) -> None:
    v1 = history["v1"]
    session.execute(delete(LinkClick))
    fi1, fi2 = link_id(settings, v1, "fi", 101, 1), link_id(settings, v1, "fi", 102, 2)
    # just after delivery, a gateway opens both links a few seconds apart: neither counts
    soon = V1_START + timedelta(seconds=10)
    assert _follow(session, settings, fi1, soon, ip="192.0.2.10") == "https://vantaa.fi/aurinko"
    _follow(session, settings, fi2, soon + timedelta(seconds=5), ip="192.0.2.11")
    assert reasons(session, v1) == ["early", "early"]
    # a reader on another network at the same time counts; a double click counts once
    _follow(session, settings, fi1, soon, ip="198.51.100.7")
    _follow(session, settings, fi1, soon + timedelta(seconds=1), ip="198.51.100.8")
    assert reasons(session, v1)[2:] == [None, "repeat"]
    # before the send (a preview, a test mail) and HEAD requests never count
    _follow(session, settings, fi1, V1_START - timedelta(hours=1), ip="203.0.113.1")
    _follow(session, settings, fi1, NOW, ip="203.0.113.1", method="HEAD")
    _follow(session, settings, fi1, NOW, ip="203.0.113.2", agent="")
    assert reasons(session, v1)[4:] == ["before_send", "head", "agent"]
    nets = set(session.scalars(select(LinkClick.net)))
    assert all(n is None or re.fullmatch("[0-9a-f]{16}", n) for n in nets)


def test_links_are_kept_once_sent_and_networks_blanked_after_a_day(
    session: Session, settings: Settings, config: Config, history: dict[str, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    from outreach.stats import Links
    from outreach.stats import clicks as clicks_module
    from tests.stats.fixture import make_issue

    v1 = history["v1"]
    signer, secret = LinkSigner(settings.secret()), settings.secret()
    links = Links(size=2)
    fi1 = link_id(settings, v1, "fi", 101, 1)
    request = ClickRequest("GET", BROWSER, "198.51.100.20")
    assert follow(session, signer, secret, fi1, request, NOW, links) == "https://vantaa.fi/aurinko"
    assert links.get(signer.read(fi1)) is not None
    # a draft's links are numbered again when it is built again: never kept
    sent = session.get(Issue, v1)
    assert sent is not None
    draft = make_issue(
        session,
        sent.campaign_id,
        "vantaa",
        "2027-01",
        None,
        {"fi": [("news", [{"id": 101, "title": "T", "url": "https://d.fi/"}])]},
    )
    session.commit()
    first = link_id(settings, draft.id, "fi", 101, 1)
    assert follow(session, signer, secret, first, request, NOW, links) == "https://d.fi/"
    assert links.get(signer.read(first)) is None
    assert reasons(session, draft.id) == ["before_send"]
    # the oldest goes first; a forged id is never looked up
    for lang, item, n in (("fi", 102, 2), ("sv", 101, 1)):
        follow(session, signer, secret, link_id(settings, v1, lang, item, n), request, NOW, links)
    assert links.get(signer.read(fi1)) is None
    assert follow(session, signer, secret, fi1[:-2] + "AA", request, NOW, links) is None
    follow(session, signer, secret, fi1, request, NOW, links)
    # a kept link whose row is gone (its issue deleted): 404, and forgotten
    ref = signer.read(fi1)
    session.execute(delete(IssueLink).where(IssueLink.issue_id == v1, IssueLink.n == 1,
                                            IssueLink.lang == "fi"))  # fmt: skip
    session.commit()
    assert links.get(ref) is not None
    assert follow(session, signer, secret, fi1, request, NOW, links) is None
    assert links.get(ref) is None
    # every NET_SWEEP_EVERY clicks, the networks of clicks older than a day are blanked
    monkeypatch.setattr(clicks_module, "NET_SWEEP_EVERY", 1)
    later = NOW + timedelta(days=1, minutes=1)
    fi2 = link_id(settings, v1, "fi", 102, 2)
    follow(session, signer, secret, fi2, ClickRequest("GET", BROWSER, "192.0.2.9"), later)
    nets = session.execute(select(LinkClick.created_at, LinkClick.net)).all()
    assert [net is None for when, net in nets if when == NOW] == [True] * 3  # draft, fi 2, sv 1
    assert [net is None for when, net in nets if when == later] == [False]


def test_networks_and_agents() -> None:
    assert network("192.0.2.77") == "192.0.2.0/24"
    assert network("::ffff:192.0.2.77") == "192.0.2.0/24"
    assert network("2001:db8:1:2::1") == "2001:db8:1::/48"
    assert network("testclient") is None
    for agent in ("", "python-requests/2.31", "Mozilla/5.0 (compatible; Googlebot/2.1)",
                  "Mimecast URL Protect", "curl/8.0"):  # fmt: skip
        assert scanner_agent(agent), agent
    assert not scanner_agent(BROWSER)
    assert not scanner_agent("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/604.1")


def test_the_email_counts_and_the_web_version_does_not(
    session: Session, settings: Settings, config: Config, history: dict[str, int]
) -> None:
    issue = session.get(Issue, history["v1"])
    assert issue is not None
    issue.snapshot = _renderable(issue.snapshot, config)
    sv = render_issue(settings, config, issue, "sv")
    found = re.findall(r"https://outreach\.example\.fi/l/([^\"\s<)]+)", sv.html)
    assert found and "vantaa.fi/sv/sol" not in sv.html
    ref = LinkSigner(settings.secret()).read(found[0])
    assert (ref.issue_id, ref.lang, ref.item_id, ref.n) == (issue.id, "sv", 101, 1)
    assert found[0] in sv.text
    web = render_web_version(settings, config, issue, "sv")
    assert "https://vantaa.fi/sv/sol" in web and "/l/" not in web
    config.cities["vantaa"] = config.cities["vantaa"].model_copy(update={"tracking": False})
    off = render_issue(settings, config, issue, "sv")
    assert "https://vantaa.fi/sv/sol" in off.html and "/l/" not in off.html + off.text


def _renderable(snapshot: dict[str, object], config: Config) -> dict[str, object]:
    """The fixture's bare snapshot with what the templates need around the entries."""
    from outreach.issues.snapshot import city_snapshot

    full = dict(snapshot)
    full.update(template="newsletter", number=1, built_at=NOW.isoformat())
    langs = {}
    for lang, data in dict(snapshot["languages"]).items():  # type: ignore[call-overload]
        sections = [
            {**s, "kind": "news", "title": s["id"], "intro": "",
             "entries": [{**_ENTRY, **e} for e in s["entries"]]}
            for s in data["sections"]
        ]  # fmt: skip
        langs[lang] = {
            **data, "sections": sections, "city": city_snapshot(config.cities["vantaa"], lang),
            "subject": "S", "preheader": "", "period_label": "marraskuu 2026", "intro": "",
        }  # fmt: skip
    full["languages"] = langs
    return full


_ENTRY = {
    "language": "fi", "fallback": False, "image_url": None, "published_at": None,
    "starts_at": None, "ends_at": None, "all_day": False, "ends_date_only": False,
    "location": None, "online_url": None, "is_online": False, "price": None,
    "event_status": None, "also_starts": [], "company": "",
}  # fmt: skip
