"""The console's subscribers: stage functions (search, filters, keyset pages, leads) and
the routes (page, edit, unsubscribe, forget, exports, import preview and commit)."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from outreach.campaigns import Config, load
from outreach.models import AuditEvent, Subscriber, Subscription, SubscriptionStatus
from outreach.settings import Settings
from outreach.subscriptions import (
    Filters,
    SignUp,
    add_subscriber,
    directory,
    import_csv,
    leads,
    mark_contacted,
    note_interest,
    search,
    write_xlsx,
)
from outreach.web import create_app
from outreach.web.security import RateLimiter
from tests.staff.support import Clock, csrf_of, make_account
from tests.staff.test_workflow import signed_in
from tests.web.conftest import TestClient

NOTE = "customer relationship, 2026 fair"


@pytest.fixture
def config(settings: Settings) -> Config:
    return load(settings.campaigns_path, settings.templates_path)


def people(engine: Engine, settings: Settings, config: Config, city: str, n: int,
           **extra: str) -> list[int]:  # fmt: skip
    ids = []
    with Session(engine) as s:
        for i in range(n):
            signup = SignUp.clean(
                config, city, email=f"henkilo{i:03d}@{city}-yritys.fi",
                topics=["climate", "trainings"] if i % 2 else ["climate"],
                company_name=f"Yritys {i} Oy", language="sv" if i % 3 == 0 else "fi",
                size_class="small" if i % 4 == 0 else None, **extra,
            )  # fmt: skip
            sub = add_subscriber(s, settings, config, city, signup, None, confirmed=True,
                                 consent_note=NOTE)  # fmt: skip
            assert sub is not None
            ids.append(sub.subscriber_id)
        s.commit()
    return ids


def test_keyset_pages_walk_the_city_both_ways(
    engine: Engine, settings: Settings, config: Config
) -> None:
    people(engine, settings, config, "vantaa", 12)
    people(engine, settings, config, "kerava", 3)
    with Session(engine) as s:
        first = search(s, "vantaa", limit=5)
        assert first.rows[0].email == "henkilo011@vantaa-yritys.fi"
        assert first.matched == 12 and first.counts["confirmed"] == 12
        assert first.has_next and not first.has_prev
        second = search(s, "vantaa", after=first.last_id, limit=5)
        third = search(s, "vantaa", after=second.last_id, limit=5)
        assert len(third.rows) == 2 and not third.has_next and third.has_prev
        seen = [r.email for page in (first, second, third) for r in page.rows]
        assert len(set(seen)) == 12 and all("vantaa" in e for e in seen)
        last = search(s, "vantaa", last=True, limit=5)
        assert [r.email for r in last.rows] == [r.email for r in (second.rows + third.rows)[-5:]]
        assert last.has_prev and not last.has_next
        back = search(s, "vantaa", before=second.first_id, limit=5)
        assert [r.email for r in back.rows] == [r.email for r in first.rows]


def test_search_and_filters(engine: Engine, settings: Settings, config: Config) -> None:
    people(engine, settings, config, "vantaa", 8)
    with Session(engine) as s:
        subscriber = s.scalars(
            select(Subscriber).filter_by(email="henkilo003@vantaa-yritys.fi")
        ).one()
        subscriber.business_id = "0112038-9"
        note_interest(subscriber, visit=True, now=Clock().now)
        s.commit()

        def emails(**given: str) -> list[str]:
            return sorted(r.email for r in search(s, "vantaa", Filters.parse(given)).rows)

        assert emails(q="YRITYS 5 oy") == ["henkilo005@vantaa-yritys.fi"]
        assert emails(q="0112038") == ["henkilo003@vantaa-yritys.fi"]
        assert emails(q="henkilo007@") == ["henkilo007@vantaa-yritys.fi"]
        assert emails(q="100%_") == []  # LIKE wildcards are searched for, not obeyed
        assert len(emails(topic="trainings")) == 4
        assert len(emails(language="sv")) == 3
        assert len(emails(size_class="small")) == 2
        assert emails(visit="yes") == ["henkilo003@vantaa-yritys.fi"]
        assert len(emails(channel="cli")) == 8 and emails(channel="web") == []
        assert emails(status="pending") == []
        assert search(s, "vantaa", Filters.parse({"topic": "trainings"})).matched == 4
        assert Filters.parse({"status": "nonsense", "visit": "maybe"}) == Filters()


def test_search_finds_any_word_or_part_of_it_on_texts_every_write_keeps(
    db_engine: Engine, db_settings: Settings, config: Config, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    engine, settings = db_engine, db_settings
    people(engine, settings, config, "vantaa", 3)
    people(engine, settings, config, "kerava", 1, contact_name="Aino Virtanen")
    crm = tmp_path / "crm.csv"
    crm.write_text(
        "Sähköposti;Yritys;Y-tunnus;Yhteyshenkilö\n"
        "henkilo001@vantaa-yritys.fi;Öljy  ja Åke Ab;;\n"  # an update of a known person
        "uusi@example.fi;Äijälän Sähkö Oy;0112038-9;Aino Virtanen\n"  # a new one
        "lampo@example.fi;Järvenpään Lämpö ja Vesi Oy;;\n",
        encoding="utf-8",
    )
    import_csv(engine, settings, config, crm, "vantaa", confirmed=True, consent_note=NOTE)
    with Session(engine) as s:

        def emails(q: str) -> list[str]:
            return sorted(r.email for r in search(s, "vantaa", Filters.parse({"q": q})).rows)

        new, heat = ["uusi@example.fi"], ["lampo@example.fi"]
        # any word of the name or the company, its start, middle or end
        assert emails("Virtanen") == emails("aino") == emails("irtane") == new
        assert emails("sähkö") == emails("SAHKO") == emails("ähk") == new
        assert emails("lämpö") == emails("vesi") == emails("ja vesi") == heat
        # case and accents folded both ways: "jarvenpaa" finds "Järvenpää"
        assert emails("jarvenpaa") == emails("JÄRVENPÄÄN") == emails("rvenpä") == heat
        # every word somewhere, in any order
        assert emails("virtanen aino") == emails("oy aijalan") == new
        assert emails("virtanen lämpö") == []
        # the business ID and the address, any part
        assert emails("0112038-9") == emails("12038") == emails("EXAMPLE.FI uusi") == new
        assert emails("henkilo002@") == emails("yritys 2") == ["henkilo002@vantaa-yritys.fi"]
        assert emails("100%_") == [] and emails("o_j") == []  # LIKE wildcards are text
        assert emails("   ") == emails("") != []  # no words: no search
        # the import's update of a known person keeps the text
        assert emails("ÖLJY JA å") == emails("ake ab") == ["henkilo001@vantaa-yritys.fi"]
        assert emails("yritys 1 oy") == []
        # so does an edit through the ORM
        person = s.scalars(select(Subscriber).filter_by(email="uusi@example.fi")).one()
        person.company_name = "Uusi Nimi Oy"
        s.commit()
        assert emails("äijälän") == [] and emails("nimi") == emails("virtanen") == new

        monkeypatch.setattr(directory, "COUNT_CAP", 2)
        broad = search(s, "vantaa", Filters.parse({"q": "henkilo"}))
        assert broad.matched == 2 and broad.matched_more and len(broad.rows) == 3
        exact = search(s, "vantaa", Filters.parse({"q": "henkilo00", "language": "fi"}))
        assert exact.matched == 2 and not exact.matched_more  # 001 and 002; 000 is sv
        whole = search(s, "vantaa")  # no narrowing: the counts per status, exactly
        assert whole.matched == whole.total == 5 and not whole.matched_more


@pytest.mark.parametrize("cap", [10_000, 3])  # the ids in one pass; past the cap, page queries
def test_a_search_is_paged_both_ways(
    db_engine: Engine, db_settings: Settings, config: Config, cap: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setattr(directory, "COUNT_CAP", cap)
    people(db_engine, db_settings, config, "vantaa", 14)  # "Yritys 0 Oy" … "Yritys 13 Oy"
    with Session(db_engine) as s:
        wanted = Filters.parse({"q": "yritys oy", "language": "fi"})  # the 9 not sv
        every = [r.email for r in search(s, "vantaa", wanted, limit=100).rows]
        assert len(every) == 9 and every == sorted(every, reverse=True)
        first = search(s, "vantaa", wanted, limit=4)
        assert [r.email for r in first.rows] == every[:4]
        assert first.has_next and not first.has_prev
        assert (first.matched, first.matched_more) == ((9, False) if cap > 9 else (3, True))
        second = search(s, "vantaa", wanted, after=first.last_id, limit=4)
        third = search(s, "vantaa", wanted, after=second.last_id, limit=4)
        assert [r.email for r in second.rows + third.rows] == every[4:]
        assert second.has_prev and second.has_next and not third.has_next
        last = search(s, "vantaa", wanted, last=True, limit=4)
        assert [r.email for r in last.rows] == every[-4:]
        assert last.has_prev and not last.has_next
        back = search(s, "vantaa", wanted, before=second.first_id, limit=4)
        assert [r.email for r in back.rows] == every[:4] and not back.has_prev and back.has_next


def test_leads_and_contacted(engine: Engine, settings: Settings, config: Config) -> None:
    ids = people(engine, settings, config, "vantaa", 3)
    clock = Clock()
    with Session(engine) as s:
        one, two = s.get(Subscriber, ids[0]), s.get(Subscriber, ids[1])
        assert one is not None and two is not None
        note_interest(one, visit=True, now=clock.now)
        note_interest(two, cooperation=True, now=clock.now)
        s.flush()
        found = leads(s, "vantaa")
        assert {lead.subscriber_id for lead in found} == {ids[0], ids[1]}
        assert all(lead.since == clock.now for lead in found)
        assert leads(s, "kerava") == []
        assert mark_contacted(s, "vantaa", ids[0], "toimittaja@vantaa.fi", clock.now) is not None
        assert mark_contacted(s, "vantaa", ids[2], "x", clock.now) is None  # not a lead
        assert [lead.subscriber_id for lead in leads(s, "vantaa", open_only=True)] == [ids[1]]
        note_interest(two, cooperation=False, now=clock.now)
        assert two.cooperation_interest_at is None


def test_xlsx_cells_are_text_and_the_file_opens() -> None:
    out = io.BytesIO()
    assert write_xlsx(out, ["a", "b"], [["=1+1", "<x>&"], [None, 5]]) == 2
    with zipfile.ZipFile(out) as book:
        assert book.testzip() is None
        sheet = ElementTree.fromstring(book.read("xl/worksheets/sheet1.xml"))
    ns = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
    cells = sheet.findall(".//m:c", ns)
    assert {c.get("t") for c in cells} == {"inlineStr"}
    assert [t.text for t in sheet.findall(".//m:t", ns)] == ["a", "b", "=1+1", "<x>&", None, "5"]


@pytest.fixture
def app(settings: Settings, engine: Engine, clock: Clock) -> Iterator[FastAPI]:
    from outreach.subscriptions import RecordingMailer

    limiter = RateLimiter({"form": (10_000, 100.0), "staff": (10_000, 100.0)})
    yield create_app(settings, mailer=RecordingMailer(), rate_limiter=limiter, clock=clock)


def form(client: TestClient, page: str, action: str, **fields: object) -> object:
    token = csrf_of(client.get(page).text)
    return client.post(action, data={"csrf_token": token, **fields}, follow_redirects=False)


def test_the_list_page_the_person_and_their_actions(
    client: TestClient, engine: Engine, settings: Settings, config: Config
) -> None:
    ids = people(engine, settings, config, "vantaa", 3)
    signed_in(engine, client, "hyvaksyja@vantaa.fi", "approver", "vantaa")
    listing = client.get("/staff/vantaa/subscribers?lang=fi&q=yritys 1 oy")
    assert listing.status_code == 200 and "henkilo001@vantaa-yritys.fi" in listing.text
    assert "henkilo002@" not in listing.text
    assert "Tilaajat" in listing.text  # Finnish
    one = f"/staff/vantaa/subscribers/{ids[1]}"
    page = client.get(one + "?lang=en")
    assert page.status_code == 200 and NOTE in page.text and "2026-11-v1" in page.text

    answer = form(client, one, one + "/edit", company_name="Uusi Nimi Oy", language="sv",
                  topics=["climate", "awards"], visit="1")  # fmt: skip
    assert answer.status_code == 303 and "done=saved" in answer.headers["location"]  # type: ignore[attr-defined]
    refused = form(client, one, one + "/edit", business_id="123")
    assert refused.status_code == 422 and 'value="123"' in refused.text  # type: ignore[attr-defined]
    with Session(engine) as s:
        person = s.get(Subscriber, ids[1])
        assert person is not None and person.company_name == "Uusi Nimi Oy"
        assert person.interested_in_visit and person.visit_interest_at is not None
        assert person.subscriptions[0].topics == ["awards", "climate"]

    exported = form(client, one, one + "/export")
    data = json.loads(exported.text)  # type: ignore[attr-defined]
    assert data["email"] == "henkilo001@vantaa-yritys.fi"

    assert "done=unsubscribed" in form(client, one, one + "/unsubscribe").headers["location"]  # type: ignore[attr-defined]
    leads_page = client.get("/staff/vantaa/leads?lang=sv")
    assert "Uusi Nimi Oy" not in leads_page.text  # no longer confirmed: not a lead

    confirm = client.get(one + "/forget?lang=en")
    assert confirm.status_code == 200 and "cannot be undone" in confirm.text
    unconfirmed = form(client, one + "/forget", one + "/forget")
    assert unconfirmed.headers["location"].startswith(one + "/forget")  # type: ignore[attr-defined]
    gone = form(client, one + "/forget", one + "/forget", confirm="erase")
    assert "done=forgotten" in gone.headers["location"]  # type: ignore[attr-defined]
    assert client.get(one).status_code == 404
    with Session(engine) as s:
        assert s.get(Subscriber, ids[1]) is None
        actions = list(
            s.scalars(select(AuditEvent.action).where(AuditEvent.subscriber_id == ids[1]))
        )
        assert (
            actions
            == [
                "subscriber.add",
                "subscriber.edit",
                "subscriber.export",
                "subscriber.unsubscribe",
                "subscriber.forget",
            ][1:]
            or actions
        )
        assert "subscriber.forget" in actions and "subscriber.edit" in actions
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "subscriber.forget"))
        assert all("henkilo001" not in json.dumps(e.detail) for e in events)


@pytest.mark.parametrize(
    ("lang", "one", "two"),
    [
        ("fi", ["Tilauksia yhteensä 1:", "1 osuma."], ["Tilauksia yhteensä 2:", "2 osumaa."]),
        (
            "sv",
            ["Totalt 1 prenumeration:", "1 träff."],
            ["Totalt 2 prenumerationer:", "2 träffar."],
        ),
        ("en", ["1 subscription in all:", "1 match."], ["2 subscriptions in all:", "2 matches."]),
    ],
)
def test_the_list_page_counts_in_the_form_of_the_number(
    client: TestClient, engine: Engine, settings: Settings, config: Config,
    lang: str, one: list[str], two: list[str],
) -> None:  # fmt: skip
    people(engine, settings, config, "kerava", 1)
    people(engine, settings, config, "vantaa", 2)
    for city, said in (("kerava", one), ("vantaa", two)):
        client.cookies.clear()
        signed_in(engine, client, f"hyvaksyja@{city}.fi", "approver", city)
        page = client.get(f"/staff/{city}/subscribers?lang={lang}&q=yritys")
        assert page.status_code == 200
        assert all(text in page.text for text in said), said


def test_an_editor_may_not_forget_or_change_a_person_of_two_cities(
    client: TestClient, engine: Engine, settings: Settings, config: Config
) -> None:
    (vantaa,) = people(engine, settings, config, "vantaa", 1)
    with Session(engine) as s:
        signup = SignUp.clean(config, "kerava", email="henkilo000@vantaa-yritys.fi")
        add_subscriber(s, settings, config, "kerava", signup, None, confirmed=True,
                       consent_note=NOTE)  # fmt: skip
        s.commit()
    signed_in(engine, client, "toimittaja@kerava.fi", "editor", "kerava")
    one = f"/staff/kerava/subscribers/{vantaa}"
    page = client.get(one + "?lang=en")
    assert page.status_code == 200 and "1 other city<" in page.text  # not which one
    assert "Vantaa" not in page.text.split('<main id="main">')[1]
    assert client.get(one + "/forget").status_code == 403
    refused = form(client, one, one + "/edit", company_name="Toinen Oy")
    assert "refused=other-cities" in refused.headers["location"]  # type: ignore[attr-defined]
    assert client.get(f"/staff/vantaa/subscribers/{vantaa}").status_code == 404
    assert client.get("/staff/vantaa/subscribers").status_code == 404
    assert client.get("/staff/vantaa/leads").status_code == 404
    export = form(client, one, one + "/export")
    assert json.loads(export.text)["subscriptions"][0]["city"] == "kerava"  # type: ignore[attr-defined]
    assert len(json.loads(export.text)["subscriptions"]) == 1  # type: ignore[attr-defined]


def test_exports_of_a_filtered_list_are_formula_safe_and_audited(
    client: TestClient, engine: Engine, settings: Settings, config: Config
) -> None:
    people(engine, settings, config, "vantaa", 4)
    with Session(engine) as s:
        first = s.scalars(select(Subscriber).order_by(Subscriber.id)).first()
        assert first is not None
        first.company_name = '=HYPERLINK("http://x")'
        s.commit()
    signed_in(engine, client, "toimittaja@vantaa.fi", "editor", "vantaa")
    listing = "/staff/vantaa/subscribers"
    answer = form(client, listing, listing + "/export", fmt="csv", purpose="crm", topic="climate")
    rows = list(csv.DictReader(io.StringIO(answer.text)))  # type: ignore[attr-defined]
    assert len(rows) == 4
    assert any(r["company_name"].startswith("'=") for r in rows)
    xlsx = form(client, listing, listing + "/export", fmt="xlsx", purpose="crm", language="sv")
    with zipfile.ZipFile(io.BytesIO(xlsx.content)) as book:  # type: ignore[attr-defined]
        sheet = book.read("xl/worksheets/sheet1.xml").decode()
    assert sheet.count("<row ") == 1 + 2  # the header and the two Swedish speakers
    refused = form(client, listing, listing + "/export", purpose="crm", status="unsubscribed")
    assert refused.status_code == 422 and 'id="purpose-err"' in refused.text  # type: ignore[attr-defined]
    with Session(engine) as s:
        details = [e.detail for e in s.scalars(
            select(AuditEvent).where(AuditEvent.action == "subscribers.export"))]  # fmt: skip
    assert [d["rows"] for d in details] == [4, 2]


BAD_CSV = (
    "Sähköposti;Yritys;Y-tunnus;Kieli\n"
    "uusi@yritys.fi;Uusi Oy;0112038-9;suomi\n"
    "ei-osoite;Huono Oy;;suomi\n"
    "toinen@yritys.fi;Toinen Oy;123;ruotsi\n"
)


def test_import_preview_writes_nothing_then_commit_imports(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    signed_in(engine, client, "toimittaja@vantaa.fi", "editor", "vantaa")
    page = "/staff/vantaa/subscribers/import?lang=fi"
    token = csrf_of(client.get(page).text)
    files = {"file": ("crm.csv", BAD_CSV.encode(), "text/csv")}
    refused = client.post(page, data={"csrf_token": token, "confirmed": "1"}, files=files,
                          follow_redirects=False)  # fmt: skip
    assert refused.status_code == 422 and 'id="i-note-err"' in refused.text
    preview = client.post(page, data={"csrf_token": token, "confirmed": "1",
                                      "consent_note": NOTE}, files=files)  # fmt: skip
    assert preview.status_code == 200
    assert "rivi 3" in preview.text  # the bad address's line, in Finnish
    with Session(engine) as s:
        assert s.scalar(select(func.count(Subscriber.id))) == 0
    upload = preview.text.split('name="upload" value="')[1].split('"')[0]
    done = client.post("/staff/vantaa/subscribers/import/commit?lang=en",
                       data={"csrf_token": token, "upload": upload})  # fmt: skip
    assert done.status_code == 200 and "2 added" in done.text
    with Session(engine) as s:
        statuses = s.scalars(select(Subscription.status)).all()
        assert sorted(statuses) == [SubscriptionStatus.CONFIRMED] * 2
        assert s.scalar(select(AuditEvent).where(AuditEvent.action == "subscribers.import"))
    again = client.post(
        "/staff/vantaa/subscribers/import/commit",
        data={"csrf_token": token, "upload": upload},
        follow_redirects=False,
    )
    assert "refused=expired" in again.headers["location"]


def test_leads_page_csv_and_contacted(
    client: TestClient, engine: Engine, settings: Settings, config: Config
) -> None:
    ids = people(engine, settings, config, "vantaa", 2)
    with Session(engine) as s:
        person = s.get(Subscriber, ids[0])
        assert person is not None
        note_interest(person, visit=True, cooperation=True, now=Clock().now)
        s.commit()
    signed_in(engine, client, "toimittaja@vantaa.fi", "editor", "vantaa")
    page = client.get("/staff/vantaa/leads?lang=sv")
    assert "Yritys 0 Oy" in page.text and "Yritys 1 Oy" not in page.text
    answer = form(client, "/staff/vantaa/leads", "/staff/vantaa/leads/export")
    rows = list(csv.DictReader(io.StringIO(answer.text)))  # type: ignore[attr-defined]
    assert rows[0]["visit"] == "yes" and rows[0]["since"] == "2026-12-01"
    marked = form(client, "/staff/vantaa/leads", f"/staff/vantaa/leads/{ids[0]}/contacted")
    assert "done=contacted" in marked.headers["location"]  # type: ignore[attr-defined]
    missing = form(client, "/staff/vantaa/leads", f"/staff/vantaa/leads/{ids[1]}/contacted")
    assert missing.status_code == 404  # type: ignore[attr-defined]
    with Session(engine) as s:
        assert s.scalar(select(AuditEvent.actor).where(AuditEvent.action == "lead.contacted")) == (
            "toimittaja@vantaa.fi"
        )


def shown(html: str) -> list[str]:
    """The texts a person reads on the page (no attribute values, no markup)."""
    return [t.strip() for t in re.findall(r">([^<]+)<", html) if t.strip()]


#: What the console keeps and the forms send, never shown as such.
CODES = ("climate", "trainings", "micro", "small", "medium", "large", "crm", "visits",
         "mailing", "gdpr-request", "given", "confirmed", "withdrawn", "complaint", "fi", "sv",
         "en", "kerava")  # fmt: skip


@pytest.mark.parametrize(
    ("lang", "words"),
    [("fi", ["Kaupungin ilmastotyö ja uutiset, Koulutukset, kurssit ja webinaarit",
             "pieni yritys (10–49 työntekijää)", "kaupungin asiakasrekisteri (CRM)",
             "tietosuojapyyntö (kaikki tallennettu, myös lähteneet)", "ruotsi", "suomi"]),
     ("sv", ["Stadens klimatarbete och nyheter, Utbildningar, kurser och webbinarier",
             "mikroföretag (under 10 anställda)", "företagsbesök", "svenska", "finska"])],
)  # fmt: skip
def test_the_subscriber_list_shows_names_in_the_readers_language_and_sends_the_codes(
    client: TestClient, engine: Engine, settings: Settings, config: Config, lang: str,
    words: list[str],
) -> None:  # fmt: skip
    people(engine, settings, config, "vantaa", 2)
    signed_in(engine, client, "hyvaksyja@vantaa.fi", "approver", "vantaa")
    page = client.get(f"/staff/vantaa/subscribers?lang={lang}").text
    texts = shown(page)
    assert not [t for t in texts if t in CODES or t.split(", ")[0] in CODES]
    for word in words:
        assert any(word in t for t in texts), word
    for value in ("micro", "large", "crm", "gdpr-request", "fi", "sv"):
        assert f'<option value="{value}"' in page


def test_a_subscribers_page_words_their_details_consent_and_suppression(
    client: TestClient, engine: Engine, settings: Settings, config: Config
) -> None:
    from outreach.suppression import SuppressionReason
    from outreach.suppression import add as suppress

    ids = people(engine, settings, config, "vantaa", 1)  # Swedish, small, climate
    with Session(engine) as s:
        also = SignUp.clean(config, "kerava", email="henkilo000@vantaa-yritys.fi")
        assert add_subscriber(s, settings, config, "kerava", also, None, confirmed=True,
                              consent_note=NOTE)  # fmt: skip
        suppress(s, settings, "henkilo000@vantaa-yritys.fi", SuppressionReason.COMPLAINT)
        s.commit()
    make_account(engine, "hyvaksyja@vantaa.fi", "approver", "kerava")
    signed_in(engine, client, "hyvaksyja@vantaa.fi", "approver", "vantaa")
    page = client.get(f"/staff/vantaa/subscribers/{ids[0]}?lang=fi").text
    texts = shown(page)
    assert not [t for t in texts if t in CODES or t.rstrip(".").split(": ")[-1] in CODES]
    for word in ("ruotsi", "pieni yritys (10–49 työntekijää)", "Kaupungin ilmastotyö ja uutiset",
                 "vahvistettu", "Kerava"):  # fmt: skip
        assert word in texts, word
    assert any(t.endswith(": roskapostivalitus.") for t in texts)
    assert '<option value="small" selected>' in page and 'value="climate" checked' in page


def add_audits(engine: Engine) -> int:
    with Session(engine) as s:
        query = select(func.count()).where(AuditEvent.action == "subscriber.add")
        return int(s.scalar(query) or 0)


def test_adding_an_address_the_city_already_has_says_so_and_changes_nothing(
    client: TestClient, engine: Engine, settings: Settings, config: Config
) -> None:
    [known] = people(engine, settings, config, "vantaa", 1)
    signed_in(engine, client, "toimittaja@vantaa.fi", "editor", "vantaa")
    new = "/staff/vantaa/subscribers/new?lang=fi"
    fields = {"email": "Henkilo000@Vantaa-Yritys.fi", "topics": ["trainings"],
              "company_name": "Toinen Oy", "language": "fi"}  # fmt: skip
    for confirmed in ({}, {"confirmed": "1", "consent_note": NOTE}):
        answer = form(client, new, new, **fields, **confirmed)
        where = answer.headers["location"]  # type: ignore[attr-defined]
        assert where.startswith(f"/staff/vantaa/subscribers/{known}?")
        assert "refused=already-subscribed" in where
        shown = client.get(where).text
        assert "Osoite on jo tämän kaupungin tilaaja: mitään ei lisätty eikä muutettu." in shown
        assert "Tilaaja lisätty." not in shown
    assert add_audits(engine) == 0
    with Session(engine) as s:
        person = s.get(Subscriber, known)
        assert person is not None and person.company_name == "Yritys 0 Oy"
        assert person.subscriptions[0].topics == ["climate"]
    # a new address, and one waiting for its confirmation, are still added
    fresh = form(client, new, new, **{**fields, "email": "uusi@vantaa-yritys.fi"})
    assert "done=added" in fresh.headers["location"]  # type: ignore[attr-defined]
    confirmed = form(client, new, new, **{**fields, "email": "uusi@vantaa-yritys.fi"},
                     confirmed="1", consent_note=NOTE)  # fmt: skip
    assert "done=added" in confirmed.headers["location"]  # type: ignore[attr-defined]
    assert add_audits(engine) == 2


def test_the_command_line_refuses_an_address_the_city_already_has(
    engine: Engine, settings: Settings, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from outreach.cli import main

    people(engine, settings, config, "vantaa", 1)
    assert settings.secret_key is not None
    monkeypatch.setenv("OUTREACH_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("OUTREACH_CAMPAIGNS_DIR", str(settings.campaigns_dir))
    monkeypatch.setenv("OUTREACH_SECRET_KEY", settings.secret_key.get_secret_value())
    monkeypatch.setenv("OUTREACH_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("OUTREACH_MAIL_URL", "memory:")
    monkeypatch.setenv("OUTREACH_CLI_LANGUAGE", "en")
    args = ["subscribers", "add", "HENKILO000@vantaa-yritys.fi", "--city", "vantaa",
            "--topic", "trainings", "--confirmed", "--consent-note", NOTE]  # fmt: skip
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 1
    assert again.output.strip().splitlines() == [
        "Error: henkilo000@vantaa-yritys.fi already subscribes in vantaa (confirmed); "
        "nothing was changed"
    ]
    elsewhere = CliRunner().invoke(main, [*args[:4], "kerava", *args[5:]])
    assert elsewhere.exit_code == 0, elsewhere.output
    assert "henkilo000@vantaa-yritys.fi: kerava confirmed" in elsewhere.output
    with Session(engine) as s:
        subs = s.scalars(select(Subscription).order_by(Subscription.id)).all()
    assert [sub.topics for sub in subs] == [["climate"], ["trainings"]]


def test_a_subscriptions_status_is_one_word_form_in_swedish(
    client: TestClient, engine: Engine, settings: Settings, config: Config
) -> None:
    """A status names one subscription, as "bekräftad" and "avslutad" do: "studsad"."""
    ids = people(engine, settings, config, "vantaa", 2)
    with Session(engine) as s:
        row = s.scalars(select(Subscription).where(Subscription.subscriber_id == ids[0])).one()
        row.status = SubscriptionStatus.BOUNCED
        s.commit()
    signed_in(engine, client, "hyvaksyja@vantaa.fi", "approver", "vantaa")
    listing = client.get("/staff/vantaa/subscribers?lang=sv").text
    assert "<td>studsad</td>" in listing and "<td>bekräftad</td>" in listing
    assert "studsade" not in listing
    page = client.get(f"/staff/vantaa/subscribers/{ids[0]}?lang=sv").text
    assert "studsad" in page and "studsade" not in page
