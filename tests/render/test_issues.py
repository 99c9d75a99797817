"""Assembly and the issue state machine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.campaigns import Config
from outreach.errors import IssueError
from outreach.issues import (
    approve_issue,
    build_issue,
    default_period,
    get_issue,
    list_issues,
    set_status,
)
from outreach.issues.selection import item_text, matches_any
from outreach.models import ContentItem, Issue, IssueItem, IssueStatus
from outreach.render import render_issue
from outreach.settings import Settings
from tests.render.conftest import add_item

NOW = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)  # Tuesday 1.12.2026 9.00 in Helsinki


def days(n: float) -> timedelta:
    return timedelta(days=n)


def section(issue: Issue, lang: str, section_id: str) -> list[dict[str, object]]:
    sections = issue.snapshot["languages"][lang]["sections"]
    entries: list[dict[str, object]] = next(s for s in sections if s["id"] == section_id)["entries"]
    return entries


def titles(issue: Issue, lang: str, section_id: str) -> list[object]:
    return [e["title"] for e in section(issue, lang, section_id)]


def news(session: Session, config: Config, title: str, age_days: float, **kw: object) -> None:
    kw.setdefault("first_seen_at", NOW - days(age_days))  # fetched when published
    add_item(
        session,
        config,
        "kerava-monthly",
        "news",
        title=title,
        language="fi",
        published_at=NOW - days(age_days),
        **kw,
    )


def held_by(session: Session, item: ContentItem) -> set[int]:
    """The issues holding ``item`` as an entry."""
    rows = session.scalars(select(IssueItem).where(IssueItem.item_id == item.id, IssueItem.lead))
    return {r.issue_id for r in rows}


@pytest.mark.parametrize(
    ("patterns", "text", "expected"),
    [
        (["ilmasto*"], "Keravan ilmastotyö etenee", True),
        (["ilmasto*"], "Uusi ILMASTOohjelma", True),
        (["ilmasto"], "Keravan ilmastotyö", False),  # without * a whole word only
        (["ilmasto"], "ilmasto, energia", True),
        (["energia*"], "Aurinkoenergia", False),  # the start of a word, not inside
        (["market dialog*"], "Invitation to a market   dialogue", True),
        (["päästö*"], "Päästöt laskivat", True),
    ],
)
def test_keyword_patterns(patterns: list[str], text: str, expected: bool) -> None:
    assert matches_any(text.casefold(), patterns) is expected


def test_item_text_covers_translations() -> None:
    item = ContentItem(
        title="Energiaa", summary="", translations={"sv": {"title": "Klimat", "summary": "x"}}
    )
    assert matches_any(item_text(item), ["klimat*"])


def test_news_window_keywords_order_and_max(
    session: Session, settings: Settings, config: Config
) -> None:
    news(session, config, "Ilmastotyö etenee", 2)
    news(session, config, "Energiaremontti alkaa", 1)
    news(session, config, "Kirjaston aukioloajat", 1)  # no keyword
    news(session, config, "Vanha ilmastouutinen", 45)  # older than window_days (30)
    news(session, config, "Tuleva ilmastouutinen", -1)  # published after now
    for i in range(8):
        news(session, config, f"Päästöt {i}", 3 + i)
    result = build_issue(session, settings, config, "kerava-monthly", now=NOW)
    assert result.issue is not None and result.created
    got = titles(result.issue, "fi", "news")
    assert got == [
        "Energiaremontti alkaa",
        "Ilmastotyö etenee",
        "Päästöt 0",
        "Päästöt 1",
        "Päästöt 2",
        "Päästöt 3",
    ]  # newest first, max_items 6
    assert result.issue.period == "2026-12"
    assert result.issue.status == IssueStatus.DRAFT


def test_exclude_and_categories(session: Session, settings: Settings, config: Config) -> None:
    camp = config.campaign("kerava-monthly")
    news_section = camp.sections[0]  # type: ignore[union-attr]
    changed = news_section.model_copy(update={"exclude": ["vaali*"], "categories": ["Ympäristö"]})
    sections = [changed, *camp.sections[1:]]  # type: ignore[union-attr]
    config.campaigns["kerava-monthly"] = camp.model_copy(update={"sections": sections})
    news(session, config, "Ilmasto ja vaalit", 1, categories=["ympäristö"])
    news(session, config, "Ilmastoteko", 1, categories=["YMPÄRISTÖ"])
    news(session, config, "Ilmastokahvit", 1, categories=["kulttuuri"])
    result = build_issue(session, settings, config, "kerava-monthly", now=NOW)
    assert result.issue is not None
    assert titles(result.issue, "fi", "news") == ["Ilmastoteko"]


def test_events_not_started_within_horizon_by_start(
    session: Session, settings: Settings, config: Config
) -> None:
    def event(title: str, start_in_days: float) -> None:
        add_item(
            session,
            config,
            "kerava-monthly",
            "events",
            title=title,
            language="fi",
            starts_at=NOW + days(start_in_days),
        )

    event("Myöhemmin", 30)
    event("Pian", 3)
    event("Jo alkanut", -0.1)
    event("Liian kaukana", 61)
    result = build_issue(session, settings, config, "kerava-monthly", now=NOW)
    assert result.issue is not None
    assert titles(result.issue, "fi", "events") == ["Pian", "Myöhemmin"]


def test_recurring_event_is_one_entry_with_its_later_dates(
    session: Session, settings: Settings, config: Config
) -> None:
    weekly = [
        add_item(
            session,
            config,
            "kerava-monthly",
            "events",
            title="Ilmastokahvit",
            url="https://www.kerava.fi/ilmastokahvit",
            language="fi",
            starts_at=NOW + days(2 + 7 * week),
        )
        for week in range(3)
    ]
    add_item(
        session,
        config,
        "kerava-monthly",
        "events",
        title="Energiailta",
        language="fi",
        starts_at=NOW + days(5),
    )
    result = build_issue(session, settings, config, "kerava-monthly", now=NOW)
    assert result.issue is not None
    entries = section(result.issue, "fi", "events")
    assert [e["title"] for e in entries] == ["Ilmastokahvit", "Energiailta"]
    assert entries[0]["also_starts"] == [
        w.starts_at.isoformat() for w in weekly[1:] if w.starts_at is not None
    ]
    # the first date is the entry; the later ones are held as "also on" dates only,
    # which does not use them up for a later issue
    held = {r.item_id: r.lead for r in session.scalars(select(IssueItem))}
    assert [held.get(w.id) for w in weekly] == [True, False, False]
    html = render_issue(settings, config, result.issue, "fi")
    assert "Myös to 10.12., to 17.12." in html.html and "Myös to 10.12., to 17.12." in html.text


def test_links_keep_undated_and_upcoming_entries(
    session: Session, settings: Settings, config: Config
) -> None:
    def link(title: str, **kw: object) -> None:
        add_item(session, config, "kerava-monthly", "procurement", title=title, language="fi", **kw)

    link("Tarjouspyyntö", kind="link")
    link("Markkinavuoropuhelu", kind="event", starts_at=NOW + days(90))  # past any horizon
    link("Mennyt tilaisuus", kind="event", starts_at=NOW - days(1))
    result = build_issue(session, settings, config, "kerava-monthly", now=NOW)
    assert result.issue is not None
    assert sorted(titles(result.issue, "fi", "procurement")) == [  # type: ignore[type-var]
        "Markkinavuoropuhelu",
        "Tarjouspyyntö",
    ]


def test_news_since_last_sent_issue(session: Session, settings: Settings, config: Config) -> None:
    news(session, config, "Ilmasto marraskuu", 20)
    first = build_issue(session, settings, config, "kerava-monthly", now=NOW - days(10))
    assert first.issue is not None and first.issue.period == "2026-11"
    approve_issue(session, first.issue.id, by="maija", now=NOW - days(10))
    set_status(session, first.issue, IssueStatus.SENDING)
    set_status(session, first.issue, IssueStatus.SENT)
    news(session, config, "Ilmasto ennen edellistä", 12)  # before the last issue's cut-off
    news(session, config, "Ilmasto uusi", 5)
    second = build_issue(session, settings, config, "kerava-monthly", now=NOW)
    assert second.issue is not None
    assert titles(second.issue, "fi", "news") == ["Ilmasto uusi"]
    assert second.issue.snapshot["number"] == 2


def test_claims_release_on_rebuild_and_no_reuse(
    session: Session, settings: Settings, config: Config
) -> None:
    news(session, config, "Ilmasto A", 2)
    first = build_issue(session, settings, config, "kerava-monthly", now=NOW)
    assert first.issue is not None and first.items == 1
    item = session.scalar(select(ContentItem).where(ContentItem.title == "Ilmasto A"))
    assert item is not None and held_by(session, item) == {first.issue.id}
    # a different period's issue cannot take a claimed item
    other = build_issue(session, settings, config, "kerava-monthly", period="2027-01", now=NOW)
    assert other.skipped is not None and other.issue is None
    # rebuilding the draft picks up new items and keeps its claims
    news(session, config, "Ilmasto B", 1)
    again = build_issue(session, settings, config, "kerava-monthly", now=NOW + days(1))
    assert again.issue is not None and not again.created and again.issue.id == first.issue.id
    assert titles(again.issue, "fi", "news") == ["Ilmasto B", "Ilmasto A"]
    # an item that no longer passes the rules is released by a rebuild
    item.title = "Kirjasto"
    session.flush()
    third = build_issue(session, settings, config, "kerava-monthly", now=NOW + days(1))
    assert third.issue is not None and titles(third.issue, "fi", "news") == ["Ilmasto B"]
    assert held_by(session, item) == set()


def test_approved_issue_is_immutable(session: Session, settings: Settings, config: Config) -> None:
    news(session, config, "Ilmasto A", 2)
    built = build_issue(session, settings, config, "kerava-monthly", now=NOW)
    assert built.issue is not None
    issue = approve_issue(session, built.issue.id, by="Maija Meikäläinen", now=NOW)
    assert issue.approved_by == "Maija Meikäläinen" and issue.approved_at == NOW
    snapshot = dict(issue.snapshot)
    news(session, config, "Ilmasto B", 1)
    again = build_issue(session, settings, config, "kerava-monthly", now=NOW + days(1))
    assert again.issue is issue and not again.created and again.skipped is None
    assert again.items == 1
    assert issue.snapshot == snapshot and issue.built_at == NOW
    fresh = session.scalar(select(ContentItem).where(ContentItem.title == "Ilmasto B"))
    assert fresh is not None and held_by(session, fresh) == set()
    with pytest.raises(IssueError, match="cannot become approved"):
        approve_issue(session, issue.id, by="x")


def test_when_empty_skip_and_send(session: Session, settings: Settings, config: Config) -> None:
    result = build_issue(session, settings, config, "kerava-monthly", now=NOW)
    assert result.issue is None and result.items == 0
    assert result.skipped is not None and "when_empty: skip" in result.skipped
    assert session.scalar(select(Issue)) is None
    camp = config.campaign("kerava-monthly")
    config.campaigns["kerava-monthly"] = camp.model_copy(update={"when_empty": "send"})
    sent = build_issue(session, settings, config, "kerava-monthly", now=NOW)
    assert sent.issue is not None and sent.items == 0 and sent.skipped is None


def test_auto_approval(session: Session, settings: Settings, config: Config) -> None:
    camp = config.campaign("kerava-monthly")
    config.campaigns["kerava-monthly"] = camp.model_copy(update={"approval": "auto"})
    news(session, config, "Ilmasto A", 2)
    result = build_issue(session, settings, config, "kerava-monthly", now=NOW)
    assert result.issue is not None
    assert result.issue.status == IssueStatus.APPROVED
    assert result.issue.approved_by == "auto" and result.issue.approved_at == NOW


def test_languages_fallback_and_translations(
    session: Session, settings: Settings, config: Config
) -> None:
    def vantaa(section_id: str, source: int, **kw: object) -> None:
        add_item(session, config, "vantaa-monthly", section_id, source=source, **kw)

    vantaa("news", 0, title="Ilmastotyö fi", language="fi", published_at=NOW - days(3))
    vantaa("news", 1, title="Klimatarbete sv", language="sv", published_at=NOW - days(4))
    vantaa(
        "events",
        1,
        title="Energiailta",
        language="fi",
        translations={"sv": {"title": "Energikväll", "summary": "På svenska"}},
        starts_at=NOW + days(5),
    )
    vantaa("events", 0, title="Ilmastowebinaari", language="fi", starts_at=NOW + days(2))
    result = build_issue(session, settings, config, "vantaa-monthly", now=NOW)
    assert result.issue is not None and result.items == 4
    fi, sv = result.issue, result.issue
    assert titles(fi, "fi", "news") == ["Ilmastotyö fi"]  # Swedish items never in Finnish
    news_sv = section(sv, "sv", "news")
    # Vantaa's news come in a Finnish and a Swedish feed: that section says
    # `fallback: false`, so the Swedish issue shows no Finnish doubles there
    assert [(e["title"], e["fallback"]) for e in news_sv] == [("Klimatarbete sv", False)]
    events_sv = section(sv, "sv", "events")
    # Swedish items are chosen first, but the section shows events by date even when
    # Finnish fallback items are mixed in
    assert [(e["title"], e["fallback"], e["summary"]) for e in events_sv] == [
        ("Ilmastowebinaari", True, ""),
        ("Energikväll", False, "På svenska"),
    ]
    assert titles(fi, "fi", "events") == ["Ilmastowebinaari", "Energiailta"]
    assert result.issue.snapshot["languages"]["sv"]["subject"] == (
        "Klimatnytt för företag i Vanda december 2026"
    )


def test_no_fallback_when_campaign_says_none(
    session: Session, settings: Settings, config: Config
) -> None:
    camp = config.campaign("vantaa-monthly")
    config.campaigns["vantaa-monthly"] = camp.model_copy(update={"fallback_language": None})
    add_item(
        session, config, "vantaa-monthly", "news", title="Ilmasto", language="fi",
        published_at=NOW - days(1),
    )  # fmt: skip
    result = build_issue(session, settings, config, "vantaa-monthly", now=NOW)
    assert result.issue is not None
    assert titles(result.issue, "sv", "news") == []


def test_announcement_period_and_sanitised_body(
    session: Session, settings: Settings, config: Config
) -> None:
    slug = "kerava-environmental-award"
    config.bodies[(slug, "fi")] = (
        "# Otsikko\n\n**tärkeä** [linkki](https://www.kerava.fi/x) [paha](javascript:alert(1))"
        ' <a href="javascript:x()" onclick="x()">raaka</a>\n\n<script>alert(1)</script>\n\n'
        "![kuva](https://www.kerava.fi/k.png)\n"
    )
    result = build_issue(session, settings, config, slug, now=NOW)
    assert result.issue is not None and result.issue.period == "2026"
    body = result.issue.snapshot["languages"]["fi"]["body_html"]
    assert "<h1>Otsikko</h1>" in body and "<strong>tärkeä</strong>" in body
    assert '<a href="https://www.kerava.fi/x">linkki</a>' in body
    assert "<a>raaka</a>" in body  # raw HTML is allowed, but only what the allowlist keeps
    for bad in ("<script", "alert(1)</", 'href="javascript', "onclick", "<img"):
        assert bad not in body
    camp = config.campaign(slug)
    when = datetime(2027, 10, 1, 9, 0)
    assert default_period(camp.model_copy(update={"send_at": when}), "Europe/Helsinki", NOW) == (
        "2027-10-01"
    )


@pytest.mark.parametrize("period", ["2026-13", "december", "2026-1", "2026/12"])
def test_bad_period_is_a_user_error(
    session: Session, settings: Settings, config: Config, period: str
) -> None:
    with pytest.raises(IssueError, match="expected YYYY-MM"):
        build_issue(session, settings, config, "kerava-monthly", period=period, now=NOW)


def test_period_uses_city_timezone(config: Config) -> None:
    camp = config.campaign("kerava-monthly")
    late = datetime(2026, 11, 30, 22, 30, tzinfo=UTC)  # already 1 December in Helsinki
    assert default_period(camp, "Europe/Helsinki", late) == "2026-12"


def test_state_machine(session: Session, settings: Settings, config: Config) -> None:
    news(session, config, "Ilmasto A", 2)
    built = build_issue(session, settings, config, "kerava-monthly", now=NOW)
    issue = built.issue
    assert issue is not None
    with pytest.raises(IssueError, match="draft; it cannot become sending"):
        set_status(session, issue, IssueStatus.SENDING)
    approve_issue(session, issue.id, by="maija")
    set_status(session, issue, IssueStatus.SENDING)
    assert issue.send_started_at is not None
    set_status(session, issue, IssueStatus.PAUSED, "paused by staff")
    assert issue.status_message == "paused by staff"
    set_status(session, issue, IssueStatus.SENDING)
    set_status(session, issue, IssueStatus.SENT)
    assert issue.sent_at is not None
    with pytest.raises(IssueError, match="final"):
        set_status(session, issue, IssueStatus.CANCELLED)


@pytest.mark.parametrize("start", [IssueStatus.APPROVED, IssueStatus.PAUSED])
def test_cancel(session: Session, settings: Settings, config: Config, start: IssueStatus) -> None:
    news(session, config, "Ilmasto A", 2)
    issue = build_issue(session, settings, config, "kerava-monthly", now=NOW).issue
    assert issue is not None
    approve_issue(session, issue.id, by="maija")
    if start == IssueStatus.PAUSED:
        set_status(session, issue, IssueStatus.SENDING)
        set_status(session, issue, IssueStatus.PAUSED)
    set_status(session, issue, IssueStatus.CANCELLED)
    assert issue.status == IssueStatus.CANCELLED


def test_get_and_list(session: Session, settings: Settings, config: Config) -> None:
    news(session, config, "Ilmasto A", 2)
    issue = build_issue(session, settings, config, "kerava-monthly", now=NOW).issue
    assert issue is not None
    assert get_issue(session, str(issue.id)) is issue
    assert get_issue(session, "kerava-monthly/2026-12") is issue
    for ref in ("999", "kerava-monthly/1999-01", "nonsense"):
        with pytest.raises(IssueError, match="outreach issue list"):
            get_issue(session, ref)
    assert list_issues(session) == [issue]
    assert list_issues(session, "kerava-monthly") == [issue]
    assert list_issues(session, "vantaa-monthly") == []


def test_build_rebuild_approve_render(
    db_session: Session, settings: Settings, config: Config
) -> None:
    """The whole assembly flow on SQLite and PostgreSQL: claims, rebuild, approval, rendering."""
    session = db_session
    add_item(
        session, config, "vantaa-monthly", "news", title="Ilmastotyö", language="fi",
        published_at=NOW - timedelta(days=2), url="https://www.vantaa.fi/1",
    )  # fmt: skip
    first = build_issue(session, settings, config, "vantaa-monthly", now=NOW)
    assert first.issue is not None and first.items == 1
    session.commit()
    add_item(
        session, config, "vantaa-monthly", "events", title="Energiawebinaari", language="fi",
        starts_at=datetime(2026, 12, 8, 7, tzinfo=UTC), url="https://www.vantaa.fi/2",
    )  # fmt: skip
    again = build_issue(session, settings, config, "vantaa-monthly", now=NOW)
    assert again.issue is not None and again.issue.id == first.issue.id and again.items == 2
    approve_issue(session, again.issue.id, by="maija", now=NOW)
    session.commit()
    issue = get_issue(session, "vantaa-monthly/2026-12")
    assert issue.status == IssueStatus.APPROVED and issue.approved_at == NOW
    claimed = session.scalars(select(IssueItem.issue_id).where(IssueItem.lead)).all()
    assert claimed == [issue.id, issue.id]
    message = render_issue(settings, config, issue, "sv")
    assert "tis 8.12.2026 kl. 9.00" in message.text
