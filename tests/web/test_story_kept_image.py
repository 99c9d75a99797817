"""The story form keeps the image the company chose when the form comes back with an
error: a browser cannot fill a file input again, so the server keeps the re-encoded
image for an hour under a token in a hidden field, good only with the form cookie
of the browser that sent it (``outreach.publish.kept``)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import lxml.html
import pytest
from fastapi import FastAPI
from PIL import Image
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from outreach.models import Story, StoryImage, StoryUpload
from outreach.publish import clean_image, keep_image, kept_image
from outreach.retention import purge_old_records
from outreach.settings import Settings
from tests.web.conftest import TestClient, csrf_of

NAME = "aurinkopaneelit-katolla.jpg"


def jpeg(colour: tuple[int, int, int] = (20, 120, 60), size: tuple[int, int] = (640, 480)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "JPEG")
    return out.getvalue()


def form(client: TestClient, lang: str = "fi", **changes: str) -> dict[str, str]:
    page = client.get(f"/stories/submit?city=vantaa&lang={lang}")
    data = {
        "city": "vantaa", "company_name": "Aurinko Oy", "title": "Paneelit katolle",
        "body": "Asensimme 200 paneelia.", "language": "fi", "consent_to_publish": "yes",
        "image_alt": "Aurinkopaneeleja katolla", "business_id": "0112038-8",  # a wrong check digit
        "csrf_token": csrf_of(page.text),
    }  # fmt: skip
    return {**data, **changes}


def post(client: TestClient, data: dict[str, str], image: bytes | None = None,
         lang: str = "fi", name: str = NAME) -> Any:  # fmt: skip
    files = {"image": (name, image, "image/jpeg")} if image is not None else None
    return client.post(f"/stories/submit?lang={lang}", data=data, files=files)


def kept_token(html: str) -> str | None:
    found = lxml.html.fromstring(html).xpath('//input[@name="kept_image"]/@value')
    return str(found[0]) if found else None


def kept_text(html: str) -> str:
    return " ".join(lxml.html.fromstring(html).xpath('//div[@id="kept-image"]//text()')).strip()


def rows(engine: Engine) -> list[StoryUpload]:
    with Session(engine) as s:
        return list(s.scalars(select(StoryUpload)))


def story_image(engine: Engine) -> bytes | None:
    with Session(engine) as s:
        story = s.scalars(select(Story)).one()
        image = s.get(StoryImage, story.id)
        return image.data if image is not None else None


def errors_of(html: str) -> list[str]:
    return [t.strip() for t in lxml.html.fromstring(html).xpath('//div[@role="alert"]//li//text()')]


@pytest.mark.parametrize(
    ("lang", "said", "remove"),
    [
        ("fi", "Lähettämäsi kuva aurinkopaneelit-katolla.jpg ({size} kt) on tallessa tunnin "
               "ajan: sitä ei tarvitse valita uudelleen.", "Poista tämä kuva"),
        ("sv", "Bilden du skickade, aurinkopaneelit-katolla.jpg ({size} kB), sparas i en timme: "
               "du behöver inte välja den igen.", "Ta bort den här bilden"),
        ("en", "The image you sent, aurinkopaneelit-katolla.jpg ({size} kB), is kept for an "
               "hour: you need not choose it again.", "Remove this image"),
    ],
)  # fmt: skip
def test_the_image_of_a_refused_form_is_kept_and_goes_with_the_corrected_form(
    client: TestClient, engine: Engine, lang: str, said: str, remove: str
) -> None:
    data = form(client, lang)
    refused = post(client, data, jpeg(), lang)
    assert refused.status_code == 400
    token = kept_token(refused.text)
    assert token and len(token) >= 32
    assert refused.headers["cache-control"] == "no-store"  # the token is in the page
    [row] = rows(engine)
    assert token not in (row.token_hash, row.holder_hash)  # only hashes are stored
    assert row.file_name == NAME and row.data == clean_image(jpeg()).data  # the re-encoded one
    size = f"{len(row.data) / 1024:.1f}"
    size = size if lang == "en" else size.replace(".", ",")
    text = kept_text(refused.text)
    assert said.format(size=size) in text and remove in text
    [thumb] = lxml.html.fromstring(refused.text).xpath('//div[@id="kept-image"]//img')
    assert thumb.get("src").startswith("data:image/jpeg;base64,") and int(thumb.get("width")) <= 160
    assert row.expires_at - row.created_at == timedelta(hours=1)

    fixed = post(client, {**data, "business_id": "0112038-9", "kept_image": token}, lang=lang)
    assert fixed.status_code == 200, errors_of(fixed.text)
    assert story_image(engine) == row.data
    assert rows(engine) == []  # taken by the story


def test_a_second_error_keeps_the_same_image_and_a_new_one_replaces_it(
    client: TestClient, engine: Engine
) -> None:
    data = form(client)
    token = kept_token(post(client, data, jpeg()).text)
    again = post(client, {**data, "kept_image": token, "title": ""})  # still wrong, no new file
    assert again.status_code == 400 and kept_token(again.text) == token
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    bad = post(client, {**data, "kept_image": str(token)}, svg, name="x.jpg")
    assert bad.status_code == 400 and kept_token(bad.text) == token  # the kept one stays
    assert "Lähetä kuva JPEG- tai PNG-tiedostona." in errors_of(bad.text)
    red = jpeg((200, 30, 30))
    replaced = post(client, {**data, "kept_image": str(token)}, red, name="punainen.jpg")
    new = kept_token(replaced.text)
    assert new and new != token and "punainen.jpg" in kept_text(replaced.text)
    [row] = rows(engine)  # one image per browser
    assert row.data == clean_image(red).data
    stale = post(client, {**data, "business_id": "0112038-9", "kept_image": str(token)})
    assert stale.status_code == 400  # the replaced token attaches nothing
    done = post(client, {**data, "business_id": "0112038-9", "kept_image": str(new)})
    assert done.status_code == 200 and story_image(engine) == row.data


def test_the_sender_removes_the_kept_image(client: TestClient, engine: Engine) -> None:
    data = form(client)
    token = str(kept_token(post(client, data, jpeg()).text))
    removed = post(client, {**data, "kept_image": token, "remove_image": "yes"})
    assert removed.status_code == 400 and kept_token(removed.text) is None
    assert rows(engine) == []
    done = post(client, {**data, "business_id": "0112038-9"})
    assert done.status_code == 200 and story_image(engine) is None


@pytest.mark.parametrize("lang", ["fi", "sv", "en"])
def test_a_token_is_good_only_in_the_browser_that_kept_the_image(
    app: FastAPI, client: TestClient, engine: Engine, lang: str
) -> None:
    token = str(kept_token(post(client, form(client), jpeg()).text))
    with TestClient(app, base_url="https://testserver") as other:
        data = form(other, lang, business_id="0112038-9", kept_image=token)
        answer = post(other, data, lang=lang)
        assert answer.status_code == 400 and kept_token(answer.text) is None
        assert errors_of(answer.text) == [{
            "fi": "Aiemmin lähettämäsi kuva ei ole enää tallessa: valitse se uudelleen.",
            "sv": "Bilden du skickade tidigare finns inte längre sparad: välj den igen.",
            "en": "The image you sent earlier is no longer kept: choose it again.",
        }[lang]]  # fmt: skip
        for forged in ("../../../etc/passwd", token + "x", "A" * 5000, token.upper()):
            assert post(other, {**data, "kept_image": forged}, lang=lang).status_code == 400
    with Session(engine) as s:
        assert s.scalar(select(func.count(Story.id))) == 0
    assert len(rows(engine)) == 1  # the owner's image is untouched
    done = post(client, form(client, business_id="0112038-9", kept_image=token))
    assert done.status_code == 200 and story_image(engine) is not None


def test_an_expired_image_is_not_attached_and_retention_deletes_it(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    data = form(client)
    token = str(kept_token(post(client, data, jpeg()).text))
    with Session(engine) as s:
        past = datetime.now(UTC) - timedelta(seconds=1)
        s.execute(update(StoryUpload).values(expires_at=past))
        s.commit()
    late = post(client, {**data, "business_id": "0112038-9", "kept_image": token})
    assert late.status_code == 400 and kept_token(late.text) is None
    with Session(engine) as s:
        assert purge_old_records(s, settings)["story_uploads"] == 1
    assert rows(engine) == []


def test_get_changes_nothing_and_a_listing_takes_no_image(
    client: TestClient, engine: Engine
) -> None:
    data = form(client)
    token = str(kept_token(post(client, data, jpeg()).text))
    page = client.get(f"/stories/submit?city=vantaa&kept_image={token}&remove_image=yes")
    assert page.status_code == 200 and kept_token(page.text) is None
    assert len(rows(engine)) == 1
    listing = {**data, "kind": "listing", "business_id": "0112038-9", "kept_image": token}
    assert post(client, listing).status_code == 200
    assert story_image(engine) is None and rows(engine) == []


def test_the_store_keeps_one_image_per_holder_and_checks_expiry(
    db_session: Session, settings: Settings
) -> None:
    """On SQLite and on PostgreSQL; retention deletes only what expired."""
    s, secret = db_session, settings.secret()
    now = datetime(2026, 12, 3, 12, tzinfo=UTC)
    image = clean_image(jpeg())
    first = keep_image(s, secret, "cookie-a", image, "C:\\kuvat\\..\\katto\x07.jpg", now)
    assert first.name == "katto.jpg"  # the last part of the path, no control characters
    other = keep_image(s, secret, "cookie-b", image, "/etc/passwd", now)
    assert kept_image(s, secret, "cookie-a", first.token, now) == first
    assert kept_image(s, secret, "cookie-b", first.token, now) is None
    assert kept_image(s, secret, "cookie-a", other.token, now) is None
    later = now + timedelta(minutes=59)
    assert kept_image(s, secret, "cookie-a", first.token, later) is not None
    assert kept_image(s, secret, "cookie-a", first.token, now + timedelta(hours=1)) is None
    again = keep_image(s, secret, "cookie-a", image, "toinen.png", later)
    assert kept_image(s, secret, "cookie-a", first.token, later) is None
    assert kept_image(s, secret, "cookie-a", again.token, later) is not None
    s.commit()
    assert s.scalar(select(func.count(StoryUpload.id))) == 2
    gone = purge_old_records(s, settings, now + timedelta(hours=1), batch_size=1)
    assert gone["story_uploads"] == 1  # cookie-b's; cookie-a's newer one has a while left
    assert kept_image(s, secret, "cookie-a", again.token, later) is not None
