"""Public story pages, company directory, feeds, widget, upload and the city's look."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
from PIL import Image
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from outreach.campaigns import collect
from outreach.db import dispose_engines
from outreach.delivery.backends import memory
from outreach.models import City, Story, StoryImage, StoryStatus
from outreach.settings import Settings
from outreach.sources import decide_story, submit_story
from outreach.web import create_app
from outreach.web.public.widget import (
    HEIGHT_SCRIPT,
    HEIGHT_SCRIPT_HASH,
    default_height,
    embed_code,
)
from tests.web.conftest import TestClient, csrf_of, edit_cities


def publish(engine: Engine, city: str, n: int, **extra: object) -> list[int]:
    """``n`` approved stories of ``city``, the newest last."""
    ids = []
    with Session(engine) as s:
        if s.scalar(select(City).where(City.slug == city)) is None:
            s.add(City(slug=city, names={"fi": city.title()}, languages=["fi"]))
            s.flush()
        for i in range(n):
            story = submit_story(
                s, city, company=f"Yritys {i} Oy", title=f"Aurinkoa {i}",
                body=f"Asensimme **{i}** paneelia.", language="fi", consent=True,
                business_id="0112038-9", industry="energy" if i % 2 else "retail",
                theme="renewables", figures=f"{i} MWh", link="https://example.fi/a",
                **extra,  # type: ignore[arg-type]
            )  # fmt: skip
            decide_story(s, story.id, True, "staff")
            story.decided_at = datetime(2026, 3, 1, tzinfo=UTC) + timedelta(days=i)
            ids.append(story.id)
        s.commit()
    return ids


def test_stories_list_filter_page_and_etag(client: TestClient, engine: Engine) -> None:
    ids = publish(engine, "vantaa", 3)
    page = client.get("/vantaa/stories?lang=fi")
    assert page.status_code == 200
    assert page.text.index("Aurinkoa 2") < page.text.index("Aurinkoa 0")  # newest first
    assert "set-cookie" not in page.headers
    energy = client.get("/vantaa/stories?lang=fi&industry=energy").text
    assert "Aurinkoa 1" in energy and "Aurinkoa 0" not in energy
    one = client.get(f"/vantaa/stories/{ids[1]}?lang=sv")
    assert one.status_code == 200
    assert "0112038-9" in one.text and "1 MWh" in one.text and "Inte översatt" in one.text
    assert 'lang="fi"' in one.text  # the original's language is marked
    etag = one.headers["etag"]
    again = client.get(f"/vantaa/stories/{ids[1]}?lang=sv", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert client.get(f"/kerava/stories/{ids[1]}").status_code == 404  # another city's
    with Session(engine) as s:
        s.get(Story, ids[1]).status = StoryStatus.REJECTED  # type: ignore[union-attr]
        s.commit()
    assert client.get(f"/vantaa/stories/{ids[1]}").status_code == 404
    assert "Aurinkoa 1" not in client.get("/vantaa/stories?lang=fi").text  # cache moved on


def test_feeds_parse_back_with_every_field(client: TestClient, engine: Engine) -> None:
    ids = publish(engine, "vantaa", 2)
    atom = client.get("/vantaa/stories.atom?lang=fi")
    assert atom.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(atom.content)
    assert not feed.bozo, feed.bozo_exception
    assert feed.feed.title == "Yritysten ilmastoteot: Vantaa"
    assert feed.feed.link == "https://outreach.example.fi/vantaa/stories?lang=fi"
    first = feed.entries[0]
    assert first.id == f"https://outreach.example.fi/vantaa/stories/{ids[1]}"
    assert first.link == first.id + "?lang=fi"  # the page in the feed's language
    assert first.title == "Yritys 1 Oy: Aurinkoa 1"
    assert first.author == "Yritys 1 Oy"
    assert first.published_parsed[:3] == (2026, 3, 2)
    assert {t.term for t in first.tags} == {"Energia", "Uusiutuva energia"}
    assert "<strong>1</strong>" in first.content[0].value
    assert first.summary == "Asensimme 1 paneelia."
    assert (
        client.get(
            "/vantaa/stories.atom?lang=fi", headers={"If-None-Match": atom.headers["etag"]}
        ).status_code
        == 304
    )
    js = client.get("/vantaa/stories.json?lang=fi")
    doc = js.json()  # feedparser 6.0 reads no JSON Feed: check the document itself
    assert doc["version"] == "https://jsonfeed.org/version/1.1" and doc["language"] == "fi"
    assert doc["title"] == feed.feed.title and doc["home_page_url"] == feed.feed.link
    item = doc["items"][0]
    assert item["id"] == first.id and item["url"] == first.link and item["title"] == first.title
    assert item["date_published"] == "2026-03-02T00:00:00Z"
    assert item["authors"] == [{"name": "Yritys 1 Oy"}] and item["language"] == "fi"
    assert set(item["tags"]) == {"Energia", "Uusiutuva energia"}
    assert item["summary"] == first.summary and "<strong>1</strong>" in item["content_html"]


def test_companies_directory_and_listing_request(client: TestClient, engine: Engine) -> None:
    publish(engine, "vantaa", 1, commitment="Hiilineutraali 2030")
    page = client.get("/vantaa/companies?lang=fi").text
    assert "Yritys 0 Oy" in page and "Hiilineutraali 2030" in page and "0112038-9" in page
    form = client.get("/stories/submit?city=vantaa&lang=fi")
    data = {
        "city": "vantaa", "kind": "listing", "company_name": "Listattava Oy",
        "business_id": "0112038-9", "commitment": "Päästöt -50 %", "language": "fi",
        "consent_to_publish": "yes", "contact_email": "info@listattava.fi",
        "csrf_token": csrf_of(form.text),
    }  # fmt: skip
    memory.clear()
    ok = client.post("/stories/submit?lang=fi", data=data)
    assert ok.status_code == 200, ok.text
    with Session(engine) as s:
        row = s.scalars(select(Story).where(Story.company_name == "Listattava Oy")).one()
        assert row.listing_only and row.status == StoryStatus.SUBMITTED
        decide_story(s, row.id, True, "staff")
        s.commit()
    assert "Listattava Oy" in client.get("/vantaa/companies?lang=fi").text
    assert "Listattava Oy" not in client.get("/vantaa/stories?lang=fi").text
    bad = client.post("/stories/submit?lang=fi", data={**data, "business_id": "0112038-8"})
    assert bad.status_code == 400 and "Y-tunnus" in bad.text


def _jpeg_with_gps() -> bytes:
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (60.0, 17.0, 30.0), 3: "E", 4: (25.0, 2.0, 0.0)}
    exif[0x010F] = "SecretCam"
    out = io.BytesIO()
    Image.new("RGB", (640, 480), (20, 120, 60)).save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def test_upload_is_reencoded_without_exif_and_confirmed_by_mail(
    client: TestClient, engine: Engine, settings: object
) -> None:
    form = client.get("/stories/submit?city=vantaa&lang=sv")
    data = {
        "city": "vantaa", "company_name": "Bild Ab", "title": "Solpaneler",
        "body": "Vi installerade paneler.", "language": "sv", "consent_to_publish": "yes",
        "image_alt": "Paneler på ett tak", "contact_email": "info@bild.fi",
        "business_id": "0112038-9", "csrf_token": csrf_of(form.text),
    }  # fmt: skip
    original = _jpeg_with_gps()
    assert b"SecretCam" in original
    memory.clear()
    files = {"image": ("photo.jpg", original, "image/jpeg")}
    ok = client.post("/stories/submit?lang=sv", data=data, files=files)
    assert ok.status_code == 200, ok.text
    mails = [m for m in memory.outbox if "info@bild.fi" in m.recipients]
    assert len(mails) == 1 and "klimatberättelse" in str(mails[0].message["Subject"])
    with Session(engine) as s:
        story = s.scalars(select(Story).where(Story.company_name == "Bild Ab")).one()
        decide_story(s, story.id, True, "staff")
        s.commit()
        sid = story.id
        assert s.get(StoryImage, sid) is not None
    image = client.get(f"/vantaa/stories/{sid}/image")
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    assert b"SecretCam" not in image.content
    assert not Image.open(io.BytesIO(image.content)).getexif()
    page = client.get(f"/vantaa/stories/{sid}?lang=sv").text
    assert 'alt="Paneler på ett tak"' in page
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    for payload in (svg, original + b"<script>alert(1)</script>"):
        refused = client.post(
            "/stories/submit?lang=fi", data=data, files={"image": ("x.jpg", payload, "image/jpeg")}
        )
        assert refused.status_code == 400
        assert "JPEG" in refused.text or "tallenna" in refused.text


def test_widget_frame_ancestors_snippet_and_no_cookies(client: TestClient, engine: Engine) -> None:
    publish(engine, "vantaa", 5)
    frame = client.get("/vantaa/embed/stories?limit=3&lang=sv")
    assert frame.status_code == 200 and "set-cookie" not in frame.headers
    assert "frame-ancestors https://www.vantaa.fi" in frame.headers["content-security-policy"]
    assert "x-frame-options" not in frame.headers
    assert frame.text.count('class="card"') == 3 and 'lang="sv"' in frame.text
    # one script, allowed by its digest, told whom it may tell its height
    csp = frame.headers["content-security-policy"]
    assert f"script-src 'sha256-{HEIGHT_SCRIPT_HASH}';" in csp and "unsafe-inline" not in csp
    assert frame.text.count("<script") == 1
    assert f'<script data-origins="https://www.vantaa.fi">{HEIGHT_SCRIPT}</script>' in frame.text
    assert '"*"' not in HEIGHT_SCRIPT and "'*'" not in HEIGHT_SCRIPT
    for needle in ("cookie", "Storage", "fetch(", "XMLHttpRequest", "eval(", "innerHTML"):
        assert needle not in HEIGHT_SCRIPT
    snippet = client.get("/vantaa/embed/stories.html?limit=2&lang=fi")
    assert snippet.status_code == 200 and "<script" not in snippet.text
    assert "<html" not in snippet.text and snippet.text.count('class="card"') == 2
    assert "https://outreach.example.fi/vantaa/stories/" in snippet.text  # absolute links


def test_kerava_pages_show_keravas_colour_privacy_and_statement(client: TestClient) -> None:
    for path in ("/kerava/stories", "/kerava/companies", "/kerava/archive", "/kerava/subscribe"):
        page = client.get(path + "?lang=fi")
        assert page.status_code == 200, path
        assert "/kerava/theme.css" in page.text and "https://www.kerava.fi/tietosuoja" in page.text
        assert "/kerava/accessibility" in page.text
    assert "#1b5e3b" in client.get("/kerava/theme.css").text
    assert "#00587a" not in client.get("/kerava/theme.css").text
    statement = client.get("/kerava/accessibility?lang=sv")
    assert statement.status_code == 200 and "saavutettavuus@kerava.fi" in statement.text
    assert "306/2019" in statement.text


def test_privacy_url_is_required_for_a_sign_up_form(tmp_path: Path) -> None:
    from tests.subscriptions.support import campaigns_without_sources

    folder = campaigns_without_sources(tmp_path)
    path = folder / "cities.yaml"
    path.write_text(
        path.read_text().replace("    privacy_url: https://www.kerava.fi/tietosuoja\n", "")
    )
    # Kerava is left out (with its campaigns) until it is fixed; the others load.
    config, errors = collect(folder)
    assert config is not None and config.left_out == {"kerava"} and "vantaa" in config.cities
    [line] = [e for e in errors if "privacy_url is required" in e]
    assert "cities.yaml" in line and "\n" not in line


def test_a_citys_logo_is_on_its_pages_with_its_name_as_alt_text(
    settings: Settings, engine: Engine
) -> None:
    logo = "https://www.kerava.fi/logo.svg"
    edit_cities(settings, '    branding: {color: "#1b5e3b"}\n',
                f'    branding: {{color: "#1b5e3b", logo_url: "{logo}", logo_width: 180, '
                "logo_height: 40}\n")  # fmt: skip
    ids = publish(engine, "kerava", 1)
    paths = ["/kerava/subscribe", "/kerava/stories", f"/kerava/stories/{ids[0]}",
             "/kerava/companies", "/kerava/archive", "/kerava/accessibility",
             "/stories/submit?city=kerava"]  # fmt: skip
    with TestClient(create_app(settings), base_url="https://testserver") as client:
        for lang, name in (("fi", "Kerava"), ("sv", "Kervo")):
            for path in paths:
                sep = "&" if "?" in path else "?"
                page = client.get(f"{path}{sep}lang={lang}").text
                tag = f'<img src="{logo}" alt="{name}" width="180" height="40">'
                assert tag in page, (path, lang)
                assert 'class="city-name"' not in page
        # a city without a logo: its name, in the page's language
        for lang, name in (("fi", "Vantaa"), ("sv", "Vanda")):
            page = client.get(f"/vantaa/stories?lang={lang}").text
            assert f'<span class="city-name">{name}</span>' in page and "<img" not in page
    dispose_engines()


def test_the_documented_widget_embed_code_is_the_one_the_code_gives() -> None:
    from tests.conftest import ROOT

    doc = (ROOT / "docs" / "public.md").read_text(encoding="utf-8")
    code = embed_code(
        "https://uutiskirje.example.fi", "vantaa", limit=3, lang="sv",
        title="Företagens klimatinsatser",
    )  # fmt: skip
    assert f"```html\n{code}```" in doc
    assert 'event.origin !== "https://uutiskirje.example.fi"' in code and '"*"' not in code
    assert (default_height(1), default_height(3)) == (350, 810)
    assert "350 for one story, 810 for\nthree" in doc
    assert default_height(99) == default_height(10) and default_height(0) == default_height(1)


def test_the_original_language_is_named_in_the_readers_language(
    client: TestClient, engine: Engine
) -> None:
    finnish, swedish = publish(engine, "vantaa", 2)
    with Session(engine) as s:
        s.get(Story, swedish).language = "sv"  # type: ignore[union-attr]
        s.commit()
    for lang, sentence in (
        ("en", "Not translated: the original in Finnish."),
        ("sv", "Inte översatt: originalet på finska."),
        ("fi", "Ei käännetty: alkuperäinen, kieli ruotsi."),
    ):
        listed = client.get(f"/vantaa/stories?lang={lang}").text
        story = swedish if lang == "fi" else finnish
        page = client.get(f"/vantaa/stories/{story}?lang={lang}").text
        assert sentence in listed and sentence in page, lang
    for lang in ("en", "sv", "fi"):  # never the language's own name inside another's sentence
        listed = client.get(f"/vantaa/stories?lang={lang}").text
        assert "original in suomi" not in listed and "på suomi" not in listed
        assert "kieli svenska" not in listed
    with Session(engine) as s:
        row = s.get(Story, finnish)
        assert row is not None
        row.translations = {"en": {"title": "Sun", "body": "We installed panels."}}
        s.commit()
    translated = client.get(f"/vantaa/stories/{finnish}?lang=en").text
    assert "Translated by the city; the original is in Finnish." in translated
