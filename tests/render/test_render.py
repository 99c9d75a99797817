"""Rendering: templates, localisation, inlining once, placeholders, limits."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import lxml.html
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach import render
from outreach.campaigns import Config, sync
from outreach.delivery.message import Recipient, personalise
from outreach.delivery.preview import preview
from outreach.errors import RenderError
from outreach.issues import build_issue, set_intro
from outreach.models import Campaign, Issue, IssueItem, IssueStatus
from outreach.render import (
    CONTACT_NAME,
    PLACEHOLDERS,
    PREFERENCES_URL,
    UNSUBSCRIBE_URL,
    inline,
    render_email,
    render_issue,
    render_web_version,
)
from outreach.render import env as render_env
from outreach.settings import Settings
from tests.conftest import ROOT
from tests.render.checks import assert_email_ok, links
from tests.render.conftest import add_item

NOW = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fresh_environments() -> None:
    render_env.environment.cache_clear()


def vantaa_issue(session: Session, settings: Settings, config: Config) -> Issue:
    def item(section: str, source: int = 0, **kw: Any) -> None:
        add_item(session, config, "vantaa-monthly", section, source=source, **kw)

    item(
        "news",
        title="Vantaan ilmastotyö etenee <script>alert(1)</script>",
        summary="Päästöt laskivat & energiaremontit jatkuvat.",
        url="https://www.vantaa.fi/fi/uutiset/ilmasto?a=1&b=2",
        language="fi",
        published_at=NOW - timedelta(days=3),
        first_seen_at=NOW - timedelta(days=3),
        image_url="https://www.vantaa.fi/kuva.jpg",
    )
    item(
        "news",
        source=1,  # the Swedish feed: Vantaa's news section has no Finnish fallback
        title="Vandas klimatarbete framskrider <script>alert(2)</script>",
        summary="Utsläppen minskade.",
        url="https://www.vantaa.fi/sv/nyheter/klimat",
        language="sv",
        published_at=NOW - timedelta(days=3),
        first_seen_at=NOW - timedelta(days=3),
    )
    item(
        "events",
        title="Energiatehokkuuswebinaari",
        url="https://www.vantaa.fi/tapahtumat/1",
        language="fi",
        translations={"sv": {"title": "Webbinarium om energieffektivitet", "summary": ""}},
        starts_at=datetime(2026, 12, 8, 7, 0, tzinfo=UTC),
        ends_at=datetime(2026, 12, 8, 9, 0, tzinfo=UTC),
        is_online=True,
        online_url="https://teams.example.com/l/meetup-join/1",
        price="",
    )
    item(
        "events",
        source=1,
        title="Kiertotalousilta",
        language="fi",
        url="https://www.vantaa.fi/tapahtumat/2",
        starts_at=datetime(2026, 12, 10, 15, 0, tzinfo=UTC),
        location="Tikkurilan kirjasto, Lummetie 4",
        price="10 €",
        event_status="postponed",
    )
    cancelled = add_item(
        session,
        config,
        "vantaa-monthly",
        "events",
        source=1,
        title="Aurinkosähköpäivä",
        language="fi",
        starts_at=datetime(2026, 12, 12, 8, 0, tzinfo=UTC),
        location="Myyrmäki-talo",
        event_status="cancelled",
        updated_at=NOW - timedelta(days=2),
    )
    # announced in November, cancelled since: listed once more, marked cancelled
    camp = session.scalar(select(Campaign).where(Campaign.slug == "vantaa-monthly"))
    if camp is None:
        camp = sync(session, config)["vantaa-monthly"]
    earlier = Issue(
        campaign_id=camp.id,
        period="2026-11",
        status=IssueStatus.SENT,
        built_at=NOW - timedelta(days=30),
    )
    session.add(earlier)
    session.flush()
    session.add(IssueItem(issue_id=earlier.id, item_id=cancelled.id, section="events"))
    item(
        "stories",
        title="Leipomo siirtyi uusiutuvaan energiaan",
        summary="Leipomo puolitti päästönsä.",
        url="https://www.vantaa.fi/tarinat/leipomo",
        language="fi",
        image_url="https://www.vantaa.fi/leipomo.jpg",
    )
    result = build_issue(session, settings, config, "vantaa-monthly", now=NOW)
    assert result.issue is not None
    return result.issue


def test_localised_event_times_places_and_prices(
    session: Session, settings: Settings, config: Config
) -> None:
    issue = vantaa_issue(session, settings, config)
    fi = render_issue(settings, config, issue, "fi")
    sv = render_issue(settings, config, issue, "sv")
    for part in (fi.html, fi.text):
        assert "ti 8.12.2026 klo 9.00–11.00" in part
        assert "Verkossa" in part and "Maksuton" in part and "Hinta: 10 €" in part
        assert "Siirretty" in part and "Peruttu" in part
        assert "Tikkurilan kirjasto, Lummetie 4" in part
    for part in (sv.html, sv.text):
        assert "tis 8.12.2026 kl. 9.00–11.00" in part
        assert "Webbinarium om energieffektivitet" in part
        assert "Avgiftsfritt" in part and "Pris: 10 €" in part and "Inställt" in part
        assert "på finska" in part  # Finnish fallback items are marked
    assert fi.subject == "Vantaan yritysten ilmastouutiset joulukuu 2026"
    assert sv.subject == "Klimatnytt för företag i Vanda december 2026"
    assert sv.preheader == "Stadens klimatarbete, utbildningar och företagens klimatgärningar"
    assert fi.preheader in fi.html
    assert fi.web_url == f"https://outreach.example.fi/vantaa/archive/{issue.id}?lang=fi"
    assert fi.web_url in fi.html and fi.web_url in fi.text
    assert 'lang="sv"' in sv.html


def test_email_rules_hold(session: Session, settings: Settings, config: Config) -> None:
    issue = vantaa_issue(session, settings, config)
    for lang in ("fi", "sv"):
        message = render_issue(settings, config, issue, lang)
        assert_email_ok(message.html, message.text, placeholders=True)
        for placeholder in PLACEHOLDERS:
            assert placeholder in message.html and placeholder in message.text
        assert "&lt;script&gt;" in message.html  # item text is escaped, never markup
        assert "<link" not in message.html
        assert 'style="' in message.html  # CSS inlined
        assert "prefers-color-scheme: dark" in message.html
        assert 'name="color-scheme"' in message.html


def test_inlining_runs_once_per_language_not_per_recipient(
    session: Session, settings: Settings, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    issue = vantaa_issue(session, settings, config)
    calls: list[int] = []

    class CountingPremailer(inline.Premailer):  # type: ignore[misc]
        def transform(self, *args: Any, **kwargs: Any) -> Any:
            calls.append(1)
            return super().transform(*args, **kwargs)

    monkeypatch.setattr(inline, "Premailer", CountingPremailer)
    rendered = {lang: render_issue(settings, config, issue, lang) for lang in ("fi", "sv")}
    outputs = set()
    for n in range(300):
        message = rendered["sv" if n % 3 == 0 else "fi"]
        html_part, text_part = personalise(
            message,
            Recipient(
                to="a@example.fi",
                message_id="<m@example.fi>",
                unsubscribe_url=f"https://outreach.example.fi/unsubscribe/t{n}",
                preferences_url=f"https://outreach.example.fi/preferences/t{n}",
                contact_name=f"Anna <{n}> & co",
            ),
        )
        assert f"/unsubscribe/t{n}" in html_part and f"/preferences/t{n}" in text_part
        assert f"Anna &lt;{n}&gt; &amp; co" in html_part and f"Anna <{n}> & co" in text_part
        assert not any(p in html_part or p in text_part for p in PLACEHOLDERS)
        outputs.add(html_part)
    assert len(outputs) == 300
    assert len(calls) == 2


def test_size_limit(
    session: Session, settings: Settings, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    camp = config.campaign("kerava-monthly")
    sections = [s.model_copy(update={"max_items": 50}) for s in camp.sections]  # type: ignore[union-attr]
    config.campaigns["kerava-monthly"] = camp.model_copy(update={"sections": sections})
    long_text = "Ilmastoteko " * 200
    for i in range(50):
        add_item(
            session, config, "kerava-monthly", "news", title=f"Ilmasto {i} " + "x" * 200,
            summary=long_text, url=f"https://www.kerava.fi/uutiset/{i}", language="fi",
            published_at=NOW - timedelta(hours=i + 1),
        )  # fmt: skip
    issue = build_issue(session, settings, config, "kerava-monthly", now=NOW).issue
    assert issue is not None
    message = render_issue(settings, config, issue, "fi")  # summaries are shortened
    assert len(message.html.encode()) < render.HTML_LIMIT
    monkeypatch.setattr(render, "HTML_LIMIT", 20_000)
    with pytest.raises(RenderError, match="Gmail"):
        render_issue(settings, config, issue, "fi")


def test_web_version_has_no_personal_parts(
    session: Session, settings: Settings, config: Config
) -> None:
    issue = vantaa_issue(session, settings, config)
    page = render_web_version(settings, config, issue, "fi")
    assert not any(p in page for p in PLACEHOLDERS)
    assert "Peru tilaus" not in page and "Hei" not in page
    assert "Vantaan ilmastotyö etenee" in page
    with pytest.raises(RenderError, match="no 'en' version"):
        render_web_version(settings, config, issue, "en")


def test_preview_replaces_placeholders_with_examples(
    session: Session, settings: Settings, config: Config
) -> None:
    issue = vantaa_issue(session, settings, config)
    html_part = preview(settings, config, issue, "sv", text=False)
    text_part = preview(settings, config, issue, "sv", text=True)
    for part in (html_part, text_part):
        assert not any(p in part for p in PLACEHOLDERS)
        assert "https://outreach.example.fi/unsubscribe/EXAMPLE-TOKEN" in part
        assert "Maja Mellström" in part
    assert_email_ok(html_part, text_part, placeholders=False)
    assert preview(settings, config, issue, None, text=True).startswith(
        "Vantaan yritysten ilmastokirje"
    )


def test_placeholders_are_exported() -> None:
    assert PLACEHOLDERS == (UNSUBSCRIBE_URL, PREFERENCES_URL, CONTACT_NAME)
    assert UNSUBSCRIBE_URL == "@@UNSUBSCRIBE_URL@@"


def test_confirmation_email(settings: Settings, config: Config) -> None:
    for lang, title in (("fi", "Vahvista tilauksesi"), ("sv", "Bekräfta din prenumeration")):
        message = render_email(
            settings,
            config,
            "vantaa",
            lang,
            "confirmation",
            {
                "confirm_url": "https://outreach.example.fi/confirm/abc?x=1&y=2",
                "city_name": "Vantaa" if lang == "fi" else "Vanda",
                "topics": ["Ilmasto & energia", "Hankinnat"],
            },
            subject=title,
        )
        assert message.lang == lang and message.subject == title and message.web_url is None
        assert title in message.html and title in message.text
        assert "https://outreach.example.fi/confirm/abc?x=1&amp;y=2" in message.html
        assert "https://outreach.example.fi/confirm/abc?x=1&y=2" in message.text
        assert "Ilmasto &amp; energia" in message.html and "- Hankinnat" in message.text
        assert not any(p in message.html for p in PLACEHOLDERS)
        assert_email_ok(message.html, message.text, placeholders=False)
    with pytest.raises(RenderError, match="no city 'espoo'"):
        render_email(settings, config, "espoo", "fi", "confirmation", {}, subject="x")


def test_missing_context_is_a_render_error(settings: Settings, config: Config) -> None:
    with pytest.raises(RenderError, match=r"UndefinedError: .confirm_url. is undefined"):
        render_email(
            settings, config, "kerava", "fi", "confirmation", {"city_name": "K", "topics": []}, "x"
        )
    with pytest.raises(RenderError, match="nosuch"):
        render_email(settings, config, "kerava", "fi", "nosuch", {}, "x")


def test_city_override_and_strict_undefined(
    session: Session, settings: Settings, config: Config, tmp_path: Path
) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", templates)
    settings = settings.model_copy(update={"templates_dir": templates})
    add_item(
        session, config, "kerava-monthly", "news", title="Ilmasto", language="fi",
        published_at=NOW - timedelta(days=1), url="https://www.kerava.fi/1",
    )  # fmt: skip
    issue = build_issue(session, settings, config, "kerava-monthly", now=NOW).issue
    assert issue is not None
    override = templates / "email" / "kerava" / "sections" / "news.html"
    override.parent.mkdir(parents=True)
    override.write_text("<p>KERAVAN OMA {{ section.title }}</p>")
    message = render_issue(settings, config, issue, "fi")
    assert "KERAVAN OMA Kaupungin ilmastotyö" in message.html
    override.write_text("<p>{{ no_such_value }}</p>")
    render_env.environment.cache_clear()
    with pytest.raises(RenderError, match="no_such_value"):
        render_issue(settings, config, issue, "fi")


def test_unbuilt_issue_is_a_render_error(settings: Settings, config: Config) -> None:
    issue = Issue(id=5, period="2026-12", snapshot={})
    with pytest.raises(RenderError, match="build it first"):
        render_issue(settings, config, issue, "fi")


def test_rerender_is_stable_after_items_change(
    session: Session, settings: Settings, config: Config
) -> None:
    issue = vantaa_issue(session, settings, config)
    before = render_issue(settings, config, issue, "fi")
    from outreach.models import ContentItem

    for item in session.query(ContentItem):
        item.title = "muutettu"
    session.flush()
    city = config.cities["vantaa"]
    config.cities["vantaa"] = city.model_copy(
        update={"branding": city.branding.model_copy(update={"color": "#ff0000"})}
    )
    camp = config.campaign("vantaa-monthly")
    config.campaigns["vantaa-monthly"] = camp.model_copy(update={"subject": {"fi": "Muu"}})
    assert render_issue(settings, config, issue, "fi") == before
    assert "muutettu" not in before.html
    assert len(links(before.html)) > 5


def test_announcement_web_version_and_preview(
    session: Session, settings: Settings, config: Config
) -> None:
    slug = "kerava-environmental-award"
    issue = build_issue(session, settings, config, slug, now=NOW).issue
    assert issue is not None
    page = render_web_version(settings, config, issue, "fi")
    assert "itsenäisyyspäivän juhlassa 6. joulukuuta" in page
    assert '<a href="https://www.kerava.fi/ymparistopalkinto"' in page
    assert not any(p in page for p in PLACEHOLDERS) and "Peru tilaus" not in page
    text_part = preview(settings, config, issue, "fi", text=True)
    # the e-mail counts the link (/l/<id>); the web version above links direct
    assert "[Jätä ehdotus](https://outreach.example.fi/l/" in text_part
    assert "Hei Maija Meikäläinen" in text_part
    html_part = preview(settings, config, issue, "fi", text=False)
    assert_email_ok(html_part, text_part, placeholders=False)


def test_greeting_with_and_without_a_name(
    session: Session, settings: Settings, config: Config
) -> None:
    issue = vantaa_issue(session, settings, config)
    for lang, word in (("fi", "Hei"), ("sv", "Hej")):
        message = render_issue(settings, config, issue, lang)
        links = {"unsubscribe_url": "https://x.fi/u", "preferences_url": "https://x.fi/p"}
        ids = {"to": "a@example.fi", "message_id": "<m@example.fi>"}
        html_part, text_part = personalise(message, Recipient(**ids, **links))
        assert f">{word},</p>" in html_part and f"\n{word},\n" in text_part
        assert f"{word} ," not in html_part + text_part and f"{word} \n" not in text_part
        html_part, text_part = personalise(
            message, Recipient(**ids, **links, contact_name="Maija  Virtanen")
        )
        assert f">{word} Maija  Virtanen,</p>" in html_part  # as the send fills it
        assert f"\n{word} Maija  Virtanen,\n" in text_part


def test_view_in_browser_link_carries_the_language(
    session: Session, settings: Settings, config: Config
) -> None:
    issue = vantaa_issue(session, settings, config)
    for lang in ("fi", "sv"):
        message = render_issue(settings, config, issue, lang)
        url = f"https://outreach.example.fi/vantaa/archive/{issue.id}?lang={lang}"
        assert message.web_url == url
        assert f'href="{url}"' in message.html and url in message.text


def test_fallback_badge_does_not_wrap(session: Session, settings: Settings, config: Config) -> None:
    issue = vantaa_issue(session, settings, config)
    html_part = render_issue(settings, config, issue, "sv").html
    badges = [b for b in html_part.split('<span class="badge"')[1:] if "på finska" in b]
    assert badges
    for badge in badges:
        style = badge.split(">", 1)[0]
        assert "white-space:nowrap" in style.replace(" ", "")


def test_an_entry_in_another_language_says_its_language(
    session: Session, settings: Settings, config: Config
) -> None:
    """WCAG 3.1.2: a Finnish entry in the Swedish message carries ``lang="fi"`` on its
    title and summary (a screen reader reads it in Finnish); the badge stays Swedish."""
    issue = vantaa_issue(session, settings, config)
    snapshot = issue.snapshot["languages"]["sv"]["sections"]
    entries = [e for s in snapshot for e in s["entries"]]
    finnish = [e for e in entries if e["fallback"]]
    assert finnish and any(not e["fallback"] for e in entries)
    sv = render_issue(settings, config, issue, "sv").html
    tree = lxml.html.fromstring(sv)
    marked = {el.text_content().strip() for el in tree.xpath('//body//*[@lang="fi"]')}
    for entry in finnish:
        assert entry["title"] in marked
        if entry["summary"]:
            assert any(text.startswith(entry["summary"][:40]) for text in marked)
    assert not any("på finska" in text for text in marked)
    assert tree.xpath('//body//*[@lang and @lang!="fi"]') == []  # the Swedish ones: none
    fi = render_issue(settings, config, issue, "fi").html
    assert lxml.html.fromstring(fi).xpath("//body//*[@lang]") == []


def test_story_company_is_not_run_into_its_text(
    session: Session, settings: Settings, config: Config
) -> None:
    from outreach.campaigns import sync
    from outreach.models import City, Story, StoryStatus
    from outreach.sources.ingest import ingest

    sync(session, config)
    city = session.query(City).filter_by(slug="kerava").one()
    session.add(
        Story(
            city_id=city.id,
            company_name="Aurinkoinen Oy",
            title="Katolle aurinkopaneelit",
            body="Yritys tuottaa nyt kolmanneksen sähköstään itse.",
            language="fi",
            consent_to_publish=True,
            status=StoryStatus.APPROVED,
            decided_at=NOW - timedelta(days=2),
        )
    )
    session.flush()
    kerava = {"kerava-monthly": config.campaign("kerava-monthly")}
    ingest(session, settings, config, list(kerava), now=NOW)
    result = build_issue(session, settings, config, "kerava-monthly", now=NOW)
    assert result.issue is not None
    message = render_issue(settings, config, result.issue, "fi")
    assert "Aurinkoinen OyYritys" not in message.html + message.text
    assert "Aurinkoinen Oy Yritys" not in message.html + message.text
    assert "<strong>Aurinkoinen Oy</strong></p>" in message.html
    assert ">Yritys tuottaa nyt kolmanneksen sähköstään itse.</p>" in message.html
    assert "\n  Aurinkoinen Oy\n  Yritys tuottaa nyt kolmanneksen" in message.text


HOSTILE = (
    "Tervetuloa <script>alert(31)</script> <img src=x onerror=alert(33)> <style>p{}</style>"
    "\n\n**Lue** [lisää](https://www.vantaa.fi/ilmasto) <iframe>kehys</iframe>"
)


def test_the_text_part_carries_only_what_the_sanitised_html_keeps(
    session: Session, settings: Settings, config: Config
) -> None:
    issue = vantaa_issue(session, settings, config)
    set_intro(session, issue, "fi", HOSTILE, by="kaisa")  # `outreach issue intro 3 intro.md`
    slug = "kerava-environmental-award"
    config.bodies[(slug, "fi")] = "# Palkinto\n\n" + HOSTILE
    award = build_issue(session, settings, config, slug, now=NOW).issue
    assert award is not None
    for message in (render_issue(settings, config, issue, "fi"),
                    render_issue(settings, config, award, "fi")):  # fmt: skip
        for part in (message.html, message.text):
            for bad in ("alert(3", "<img src=x", "onerror", "<style>p", "p{}", "kehys"):
                assert bad not in part
        assert "<script" not in message.text.split("\n== ")[0]  # (the items' titles have one)
        assert "Tervetuloa\n\n**Lue** [lisää](https://outreach.example.fi/l/" in message.text
        # the counted link of the text is the HTML part's
        counted = message.text.split("[lisää](", 1)[1].split(")", 1)[0]
        assert f'href="{counted}"' in message.html
    assert "# Palkinto" in render_issue(settings, config, award, "fi").text
    # the archive's web version: sanitised too, its links direct
    page = render_web_version(settings, config, issue, "fi")
    assert 'href="https://www.vantaa.fi/ilmasto"' in page and "alert(3" not in page


@pytest.mark.parametrize(
    ("lang", "one", "two"),
    [
        ("fi", "hylkäsi 1 viestin 60 sekunnin", "hylkäsi 2 viestiä 60 sekunnin"),
        ("sv", "avvisade 1 meddelande inom", "avvisade 2 meddelanden inom"),
        ("en", "refused 1 message within", "refused 2 messages within"),
    ],
)
def test_the_pause_mail_counts_the_refusals_in_the_form_of_their_number(
    settings: Settings, config: Config, lang: str, one: str, two: str
) -> None:
    def mail(refusals: int) -> list[str]:
        context = {
            "ref": "vantaa-monthly/2026-12", "provider": "mx.example", "refusals": refusals,
            "seconds": "60", "reply": "550 5.7.1", "resume_command": "outreach issue resume 1",
            "send_command": "outreach issue send 1",
        }  # fmt: skip
        message = render_email(settings, config, "vantaa", lang, "policy_pause", context, "x")
        return [" ".join(message.html.split()), " ".join(message.text.split())]

    assert all(one in part for part in mail(1)) and all(two in part for part in mail(2))
