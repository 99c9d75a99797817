"""Campaigns defined in the console and the sources page: the stage and the pages.

One schema, two origins: a campaign file imported into the console and exported
again is the same file; the editor's form gives back the document it showed;
a console campaign is in the config every stage loads; the daemon sees a change
by its version; a change never alters an issue already built.
"""

from __future__ import annotations

import http.server
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from outreach.campaigns import (
    DocumentError,
    console,
    form,
    form_sections,
    load,
    merge_console,
    sync,
)
from outreach.models import AuditEvent, Campaign, Issue, SourceState, SourceStatus
from outreach.settings import Settings
from outreach.sources import MAX_FAILURES, enable, fetch_sources
from outreach.staff import sessions
from outreach.web.staff.guard import COOKIE
from tests.conftest import ROOT
from tests.staff.support import Clock, csrf_of, make_account
from tests.web.conftest import TestClient

CAMPAIGNS = ROOT / "campaigns"
TEMPLATES = ROOT / "templates"
FEED = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Kerava</title><link>http://127.0.0.1/</link>
<item><title>Ilmastoteko: aurinkopaneelit</title><link>http://127.0.0.1/a</link>
<guid>a</guid><pubDate>Mon, 30 Nov 2026 08:00:00 +0000</pubDate></item>
<item><title>Kirjaston aukioloajat</title><link>http://127.0.0.1/b</link>
<guid>b</guid><pubDate>Mon, 30 Nov 2026 09:00:00 +0000</pubDate></item>
</channel></rss>"""


@pytest.fixture(scope="module")
def feed_url() -> Iterator[str]:
    """An RSS feed served on 127.0.0.1, and a path that answers 404."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/feed.xml":
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(FEED)))
            self.end_headers()
            self.wfile.write(FEED)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/feed.xml"
    server.shutdown()
    server.server_close()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # the feed on 127.0.0.1 is allowed the way the test suite's own fetches are
    return settings.model_copy(update={"fetch_allowed_hosts": ["127.0.0.1"], "fetch_retries": 0})


def signed_in(engine: Engine, client: TestClient, email: str, role: str, city: str) -> None:
    from outreach.models import StaffUser

    make_account(engine, email, role, city)
    with Session(engine) as s:
        user = s.query(StaffUser).filter_by(email=email).one()
        token = sessions.start(s, user, sessions.FULL, ip="127.0.0.1", now=Clock().now)
        s.commit()
    client.cookies.set(COOKIE, token)


def newsletter_doc(slug: str, url: str, city: str = "kerava") -> dict[str, object]:
    return {
        "slug": slug,
        "kind": "newsletter",
        "city": city,
        "title": {"fi": "Kokeilukirje"},
        "languages": ["fi"],
        "schedule": {"day": "1st tue", "hour": 9},
        "subject": {"fi": "Kokeilu {{ issue.period_label }}"},
        "audience": {"topics": ["climate"]},
        "sections": [
            {"id": "news", "kind": "news", "title": {"fi": "Uutiset"},
             "include": ["ilmasto*"], "sources": [{"type": "rss", "url": url}]},
        ],
    }  # fmt: skip


# -- the stage ----------------------------------------------------------------


def test_yaml_to_console_to_yaml_keeps_every_campaign(engine: Engine, tmp_path: Path) -> None:
    config = load(CAMPAIGNS, TEMPLATES)
    for name in ("kerava-monthly", "vantaa-monthly", "kerava-environmental-award"):
        source = CAMPAIGNS / f"{name}.yaml"
        with Session(engine) as s:
            saved = console.import_file(s, config, source, actor="test", templates_dir=TEMPLATES)
            s.commit()
            assert saved.row.origin == "console"
            text, bodies = console.export(s, name)
        assert yaml.safe_load(text) == yaml.safe_load(source.read_text())
        for rel, body in bodies.items():
            assert body == (CAMPAIGNS / rel).read_text()
        # and the exported file loads as the same campaign
        out = tmp_path / name
        out.mkdir()
        (out / f"{name}.yaml").write_text(text)
        for rel, body in bodies.items():
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            (out / rel).write_text(body)
        again, errors, _ = console.check_document(
            config, yaml.safe_load(text), path=out / f"{name}.yaml"
        )
        assert errors == []
        assert again == config.campaigns[name]


def test_the_editor_form_gives_back_the_document_it_showed() -> None:
    config = load(CAMPAIGNS, TEMPLATES)
    for name in ("kerava-monthly", "vantaa-monthly", "jarvenpaa-monthly",
                 "kerava-environmental-award"):  # fmt: skip
        doc = yaml.safe_load((CAMPAIGNS / f"{name}.yaml").read_text())
        texts = (
            {lang: (CAMPAIGNS / rel).read_text() for lang, rel in doc["body"].items()}
            if doc["kind"] == "announcement"
            else None
        )
        shown = form.to_form(doc, texts)
        back, back_texts, errors = form.from_form(doc, shown.fields(), city=doc["city"])
        assert errors == []
        assert back == doc  # the same document, key for key: opening and saving changes nothing
        camp, problems, _ = console.check_document(config, back, texts=back_texts)
        assert problems == [] and camp == config.campaigns[name]


def test_a_sources_fields_are_its_types_options_in_the_registry() -> None:
    from outreach.sources import OptionTextError, option_specs, option_text, option_value

    specs = {spec.name: spec for spec in option_specs("linkedevents")}
    assert [(s.name, s.kind, s.required) for s in specs.values()] == [
        ("url", "url", False), ("params", "pairs", False), ("max_pages", "int", False)]  # fmt: skip
    assert (specs["max_pages"].minimum, specs["max_pages"].maximum) == (1, 50)
    assert option_value(specs["params"], "a=1\r\n\nb = x y") == {"a": "1", "b": "x y"}
    assert option_text(specs["params"], {"a": "1", "b": "2"}) == "a=1\nb=2"
    assert option_value(specs["max_pages"], " 7 ") == 7
    assert option_value(specs["max_pages"], "seven") == "seven"  # for the model to refuse
    assert option_value(specs["url"], "  ") is None  # empty: the key is left out
    with pytest.raises(OptionTextError):
        option_value(specs["params"], "no equals sign")
    fields = {f.name: f.types for f in form_sections.option_fields()}
    assert set(fields["url"]) == {"rss", "ical", "linkedevents"}
    assert set(fields["path"]) == {"file"} and "stories" not in str(fields)


def test_the_section_buttons_change_only_what_they_name() -> None:
    two = [form_sections.new_section(), form_sections.new_section(["section-1"])]
    assert [s["id"] for s in two] == ["section-1", "section-2"]
    moved, focus = form_sections.apply_op(two, "section_down:0") or ([], None)
    assert [s["id"] for s in moved] == ["section-2", "section-1"] and focus == "sections.1.id"
    assert [s["id"] for s in two] == ["section-1", "section-2"]  # the input is left alone
    added, focus = form_sections.apply_op(two, "add_source:1") or ([], None)
    assert len(added[1]["sources"]) == 2 and focus == "sections.1.sources.1.type"
    assert len(two[1]["sources"]) == 1
    for op in ("section_up:0", "section_down:1", "remove_section:5", "source_up:0.0",
               "remove_source:0.3", "drop_tables", "add_source"):  # fmt: skip
        assert form_sections.apply_op(two, op) is None, op


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"schedule_kind": "monthly", "nth": "1st", "weekday": "tue", "hour": "9"},
         {"day": "1st tue", "hour": 9}),
        ({"schedule_kind": "weekly", "weekday": "fri", "hour": "14", "minute": "30"},
         {"day_of_week": "fri", "hour": 14, "minute": 30}),
        ({"schedule_kind": "yearly", "month": "10", "day": "1", "hour": "9"},
         {"month": 10, "day": 1, "hour": 9}),
    ],
)  # fmt: skip
def test_schedule_forms(fields: dict[str, str], expected: dict[str, object]) -> None:
    doc, _, errors = form.from_form({}, {**fields, "languages": ["fi"]}, city="kerava")
    assert errors == [] and doc["schedule"] == expected
    assert form.schedule_fields(expected)["schedule_kind"] == fields["schedule_kind"]


def test_a_schedule_that_never_fires_is_refused(engine: Engine) -> None:
    config = load(CAMPAIGNS, TEMPLATES)
    doc = newsletter_doc("never", "https://www.kerava.fi/feed/")
    doc["schedule"] = {"month": 2, "day": 31, "hour": 9}
    with Session(engine) as s, pytest.raises(DocumentError) as caught:
        console.save(s, config, doc, actor="test", city="kerava", create=True)
    assert any("never fires" in line for line in caught.value.lines)
    with Session(engine) as s:
        assert s.scalar(select(Campaign).where(Campaign.slug == "never")) is None


def test_a_console_campaign_joins_the_config_and_pausing_unschedules_it(engine: Engine) -> None:
    config = load(CAMPAIGNS, TEMPLATES)
    with Session(engine) as s:
        before = console.version(s)
        console.save(s, config, newsletter_doc("kerava-kokeilu", "https://www.kerava.fi/feed/"),
                     actor="test", city="kerava", create=True)  # fmt: skip
        s.commit()
        after = console.version(s)
        assert after != before
        merged = merge_console(load(CAMPAIGNS, TEMPLATES), s, TEMPLATES)
        assert "kerava-kokeilu" in merged.campaigns and "kerava-kokeilu" in merged.console
        assert "kerava-kokeilu" not in merged.paused
        console.set_state(s, "kerava-kokeilu", "paused", actor="test", city="kerava")
        s.commit()
        assert console.version(s) != after
        merged = merge_console(load(CAMPAIGNS, TEMPLATES), s, TEMPLATES)
        assert "kerava-kokeilu" in merged.paused
        # another city's page cannot change it
        with pytest.raises(Exception, match="no console campaign"):
            console.set_state(s, "kerava-kokeilu", "active", actor="x", city="vantaa")


def test_a_change_never_alters_an_issue_already_built(engine: Engine, settings: Settings) -> None:
    from outreach.issues import build_issue

    config = load(CAMPAIGNS, TEMPLATES)
    doc = newsletter_doc("kerava-kokeilu", "https://www.kerava.fi/feed/")
    doc["when_empty"] = "send"
    with Session(engine) as s:
        console.save(s, config, doc, actor="test", city="kerava", create=True)
        s.commit()
        merged = merge_console(load(CAMPAIGNS, TEMPLATES), s, TEMPLATES)
        sync(s, merged)
        built = build_issue(
            s, settings, merged, "kerava-kokeilu", now=datetime(2026, 12, 1, tzinfo=UTC)
        )
        assert built.issue is not None
        issue_id, snapshot = built.issue.id, dict(built.issue.snapshot)
        s.commit()
        changed = {**doc, "subject": {"fi": "Aivan uusi otsikko"}, "languages": ["fi"]}
        console.save(s, merged, changed, actor="test", city="kerava", create=False)
        s.commit()
        assert s.get(Issue, issue_id).snapshot == snapshot  # type: ignore[union-attr]


def test_repeated_failures_disable_a_source_and_enable_clears_it(
    engine: Engine, settings: Settings, feed_url: str
) -> None:
    config = load(CAMPAIGNS, TEMPLATES)
    missing = feed_url.replace("feed.xml", "gone.xml")
    with Session(engine) as s:
        console.save(s, config, newsletter_doc("kerava-kokeilu", missing), actor="t",
                     city="kerava", create=True)  # fmt: skip
        s.commit()
        merged = merge_console(load(CAMPAIGNS, TEMPLATES), s, TEMPLATES)
        sync(s, merged)
        s.commit()
        for _ in range(MAX_FAILURES):
            reports = fetch_sources(s, settings, merged, ["kerava-kokeilu"])
        assert reports[0].status == "error"
        state = s.scalars(select(SourceState)).one()
        s.refresh(state)
        assert state.status == SourceStatus.DISABLED and state.failures == MAX_FAILURES
        assert state.last_http_status == 404
        assert enable(s, state.key) is not None
        s.commit()
        s.refresh(state)
        assert state.status == SourceStatus.NEW and state.failures == 0


# -- the pages ----------------------------------------------------------------


def section_fields(url: str) -> dict[str, str]:
    """One news section of one RSS source, as the editor's fields post it."""
    return {
        "sections.0.id": "news", "sections.0.kind": "news", "sections.0.title.fi": "Uutiset",
        "sections.0.include": "ilmasto*", "sections.0.max_items": "6",
        "sections.0.window_days": "30", "sections.0.horizon_days": "60",
        "sections.0.fallback": "1", "sections.0.sources.0.type": "rss",
        "sections.0.sources.0.url": url,
    }  # fmt: skip


def editor_fields(token: str, url: str) -> dict[str, str]:
    return {
        "csrf_token": token, "slug": "kerava-kokeilu", "kind": "newsletter", "languages": "fi",
        "title_fi": "Kokeilukirje", "subject_fi": "Kokeilu {{ issue.period_label }}",
        "topics": "climate", "schedule_kind": "monthly", "nth": "1st", "weekday": "tue",
        "hour": "9", "minute": "00", "approval": "manual", **section_fields(url),
    }  # fmt: skip


def test_create_check_save_and_try_a_source_in_the_console(
    engine: Engine, client: TestClient, feed_url: str
) -> None:
    signed_in(engine, client, "toimittaja@kerava.fi", "editor", "kerava")
    new = client.get("/staff/kerava/campaigns/new?lang=fi")
    assert new.status_code == 200
    assert 'name="sections.0.sources.0.url"' in new.text  # a section with one source to fill
    assert "YAML" not in new.text
    token = csrf_of(new.text)
    fields = editor_fields(token, feed_url)
    checked = client.post("/staff/kerava/campaigns/new?lang=fi", data={**fields, "action": "check"})
    assert checked.status_code == 200
    assert "Virheitä ei löytynyt." in checked.text
    assert checked.text.count("klo 9.00") == 3  # the next three runs, Finnish format
    never = {**fields, "schedule_kind": "yearly", "month": "2", "day": "31", "action": "save"}
    refused = client.post("/staff/kerava/campaigns/new?lang=en", data=never)
    assert refused.status_code == 422 and "never fires" in refused.text
    # Try this source, before saving: the feed's items the section's filters keep
    tried = client.post("/staff/kerava/campaigns/new?lang=en", data={**fields, "op": "try:0.0"})
    assert tried.status_code == 200
    assert "Status: fetched. It gives 2 items; the section&#39;s filters keep 1." in tried.text
    assert "Ilmastoteko: aurinkopaneelit" in tried.text
    assert "Kirjaston aukioloajat" not in tried.text  # left out by include: ilmasto*
    assert f'value="{feed_url}"' in tried.text  # the form as it was typed
    saved = client.post("/staff/kerava/campaigns/new?lang=en", data={**fields, "action": "save"},
                        follow_redirects=False)  # fmt: skip
    assert saved.status_code == 303
    assert saved.headers["location"].startswith("/staff/kerava/campaigns/kerava-kokeilu")
    with Session(engine) as s:
        stored = console.row(s, "kerava-kokeilu")
        assert stored is not None
        assert stored.document["sections"] == newsletter_doc("x", feed_url)["sections"]
    listing = client.get("/staff/kerava/campaigns?lang=en").text
    assert "kerava-kokeilu" in listing and "managed in files" in listing
    blocked = client.post("/staff/kerava/campaigns/kerava-kokeilu?lang=en", data={
        **fields, "sections.0.sources.0.url": "http://169.254.169.254/latest", "op": "try:0.0",
    })  # fmt: skip
    assert "Status: failed" in blocked.text and "Ilmastoteko" not in blocked.text  # SSRF rules
    markdown = "**Hei** <script>x()</script>"
    preview = client.post(
        "/staff/kerava/campaigns/markdown", data={"csrf_token": token, "text": markdown}
    )
    assert "<strong>Hei</strong>" in preview.text and "<script" not in preview.text
    with Session(engine) as s:
        audited = list(s.scalars(select(AuditEvent.action).where(AuditEvent.city == "kerava")))
    assert "campaign.create" in audited


def test_the_audience_count_follows_the_fields(
    engine: Engine, client: TestClient, settings: Settings
) -> None:
    from outreach.subscriptions import SignUp, add_subscriber

    config = load(CAMPAIGNS, TEMPLATES)
    with Session(engine) as s:
        for name, topics, size in (("a", ["climate"], "small"), ("b", ["trainings"], "small"),
                                   ("c", ["climate"], "large")):  # fmt: skip
            signup = SignUp.clean(config, "kerava", email=f"{name}@yritys.fi", topics=topics,
                                  size_class=size)  # fmt: skip
            add_subscriber(s, settings, config, "kerava", signup, None, confirmed=True,
                           consent_note="test")  # fmt: skip
        s.commit()
    signed_in(engine, client, "toimittaja@kerava.fi", "editor", "kerava")
    token = csrf_of(client.get("/staff/kerava/campaigns/new?lang=fi").text)

    def count(lang: str = "fi", **fields: object) -> str:
        data = {"csrf_token": token, "languages": "fi", **fields}
        answer = client.post(f"/staff/kerava/campaigns/audience?lang={lang}", data=data)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("text/plain")
        return answer.text

    assert count() == "Vahvistettuja tilaajia, jotka tämä rajaus tavoittaa nyt: 3"
    assert count(topics="climate").endswith(": 2")
    assert count(topics="climate", size_classes="small").endswith(": 1")
    assert count(topics=["climate", "trainings"], size_classes="small").endswith(": 2")
    assert count(industries="62").endswith(": 0")
    assert count("en", topics="trainings") == "Confirmed subscribers this audience reaches now: 1"
    refused = client.post("/staff/kerava/campaigns/audience", data={"csrf_token": "x"})
    assert refused.status_code == 403
    signed_in(engine, client, "toimittaja@vantaa.fi", "editor", "vantaa")
    other = client.post("/staff/kerava/campaigns/audience", data={"csrf_token": token})
    assert other.status_code == 404  # another city's count is not for a Vantaa editor


def field_values(html: str, suffix: str) -> list[str]:
    """The values of the inputs named ``sections.<n>.<suffix>``, in page order."""
    pattern = rf'name="sections\.\d+\.{re.escape(suffix)}" value="([^"]*)"'
    return re.findall(pattern, html)


def test_sections_and_sources_are_added_moved_and_removed_without_script(
    engine: Engine, client: TestClient
) -> None:
    signed_in(engine, client, "toimittaja@kerava.fi", "editor", "kerava")
    token = csrf_of(client.get("/staff/kerava/campaigns/new?lang=en").text)
    fields = editor_fields(token, "https://www.kerava.fi/feed/")

    def post(data: dict[str, str], op: str) -> str:
        answer = client.post("/staff/kerava/campaigns/new?lang=en", data={**data, "op": op})
        assert answer.status_code == 200
        return answer.text

    added = post(fields, "add_section")
    assert field_values(added, "id") == ["news", "section-1"]
    assert "autofocus" in added.split('name="sections.1.id"')[1].split(">")[0]
    # the page as posted again: its fields, the new section's too
    two = {**fields, "sections.1.id": "tapahtumat", "sections.1.kind": "events",
           "sections.1.title.fi": "Tapahtumat", "sections.1.sources.0.type": "ical",
           "sections.1.sources.0.url": "https://www.kerava.fi/tapahtumat.ics"}  # fmt: skip
    moved = post(two, "section_up:1")
    assert field_values(moved, "id") == ["tapahtumat", "news"]
    assert field_values(moved, "sources.0.url") == [
        "https://www.kerava.fi/tapahtumat.ics", "https://www.kerava.fi/feed/"]  # fmt: skip
    with_source = post(two, "add_source:0")
    assert 'name="sections.0.sources.1.type"' in with_source
    three = {**two, "sections.0.sources.1.type": "linkedevents",
             "sections.0.sources.1.params": "keyword=yse:p5670\nlocation=kerava"}  # fmt: skip
    swapped = post(three, "source_up:0.1")
    assert re.search(r'name="sections\.0\.sources\.0\.type"[^>]*>.*?'
                     r'<option value="linkedevents" selected>', swapped, re.S)  # fmt: skip
    assert "keyword=yse:p5670\nlocation=kerava" in swapped
    removed = post(two, "remove_section:0")
    assert field_values(removed, "id") == ["tapahtumat"]
    dropped = post(three, "remove_source:0.0")
    assert 'name="sections.0.sources.1.type"' not in dropped
    # saving the three-source form stores the Linked Events source with its parameters
    saved = client.post("/staff/kerava/campaigns/new?lang=en",
                        data={**three, "action": "save"}, follow_redirects=False)  # fmt: skip
    assert saved.status_code == 303, saved.text
    with Session(engine) as s:
        stored = console.row(s, "kerava-kokeilu")
        assert stored is not None
        sections = stored.document["sections"]
    assert [s["id"] for s in sections] == ["news", "tapahtumat"]
    params = {"keyword": "yse:p5670", "location": "kerava"}
    assert sections[0]["sources"][1] == {"type": "linkedevents", "params": params}


@pytest.mark.parametrize(
    ("lang", "number", "required", "url"),
    [
        ("fi", "Odotettiin kokonaislukua.", "Teksti puuttuu kielellä suomi.",
         "Odotettiin osoitetta, joka alkaa https:// tai http://."),
        ("sv", "Förväntade ett heltal.", "Texten på finska saknas.",
         "Förväntade en adress som börjar med https:// eller http://."),
        ("en", "Expected a whole number.", "Missing the text in Finnish.",
         "Expected an address that starts with https:// or http://."),
    ],
)  # fmt: skip
def test_errors_show_next_to_their_field_in_the_readers_language(
    engine: Engine, client: TestClient, lang: str, number: str, required: str, url: str
) -> None:
    signed_in(engine, client, "toimittaja@kerava.fi", "editor", "kerava")
    token = csrf_of(client.get(f"/staff/kerava/campaigns/new?lang={lang}").text)
    fields = editor_fields(token, "www.kerava.fi/feed")
    # a schema error (as a file's) and the cross-checks, each at its field
    for changes, expected in (
        ({"sections.0.max_items": "kuusi"}, [("max-items", number)]),
        ({"sections.0.title.fi": ""}, [("title-fi", required), ("sources-0-url", url)]),
    ):
        page = client.post(f"/staff/kerava/campaigns/new?lang={lang}",
                           data={**fields, **changes, "action": "save"})  # fmt: skip
        assert page.status_code == 422
        html = page.text
        for field, message in expected:
            element = f"f-sections-0-{field}"
            assert f'<span class="error field-error" id="{element}-err">{message}</span>' in html
            tag = html.split(f'id="{element}"')[1].split(">")[0]
            assert 'aria-invalid="true"' in tag and f'aria-describedby="{element}-err' in tag
            assert f'<a href="#{element}">' in html  # the list at the top links to the field
    with Session(engine) as s:
        assert console.row(s, "kerava-kokeilu") is None  # nothing written


def test_the_editor_names_its_choices_in_the_readers_language(
    engine: Engine, client: TestClient
) -> None:
    """Size classes, cron fields, languages and a tried source's status are words of
    the page's language; the form still sends the stored values."""
    signed_in(engine, client, "toimittaja@kerava.fi", "editor", "kerava")
    new = client.get("/staff/kerava/campaigns/new?lang=sv")
    texts = [t.strip() for t in re.findall(r">([^<]+)<", new.text) if t.strip()]
    for code in ("micro", "small", "medium", "large", "year", "day_of_week", "suomi"):
        assert code not in texts
    assert "mikroföretag (under 10 anställda)" in texts and "Veckodag" in texts
    assert "Rubrik (finska)" in texts and "finska" in texts  # the section's title, its language
    assert 'name="size_classes" value="micro"' in new.text
    assert 'name="cron_day_of_week"' in new.text
    fields = editor_fields(csrf_of(new.text), "http://169.254.169.254/latest")
    blocked = client.post("/staff/kerava/campaigns/new?lang=fi", data={**fields, "op": "try:0.0"})
    assert "Tila: epäonnistui." in blocked.text and "Tila: error" not in blocked.text
    listing = client.get("/staff/kerava/campaigns?lang=sv").text
    assert "<td>finska</td>" in listing and "<td>fi</td>" not in listing


def test_the_editor_names_the_source_types_in_the_readers_language(
    engine: Engine, client: TestClient
) -> None:
    """A source's type reads "RSS- eller Atom-flöde", not "rss"; the form sends "rss"."""
    signed_in(engine, client, "toimittaja@kerava.fi", "editor", "kerava")
    new = client.get("/staff/kerava/campaigns/new?lang=sv").text
    select = re.search(r'<select[^>]*name="sections\.0\.sources\.0\.type".*?</select>', new, re.S)
    assert select is not None
    options = dict(re.findall(r'<option value="([^"]+)"[^>]*>([^<]+)<', select[0]))
    assert options == {
        "file": "en fil i kampanjmappen",
        "ical": "iCalendar-kalender (.ics)",
        "linkedevents": "Linked Events",
        "rss": "RSS- eller Atom-flöde",
        "stories": "företagens berättelser som skickats via formuläret",
    }


def test_the_sources_page_fetch_now_and_another_city(
    engine: Engine, client: TestClient, feed_url: str
) -> None:
    config = load(CAMPAIGNS, TEMPLATES)
    with Session(engine) as s:
        console.save(s, config, newsletter_doc("kerava-kokeilu", feed_url), actor="t",
                     city="kerava", create=True)  # fmt: skip
        s.commit()
    signed_in(engine, client, "toimittaja@kerava.fi", "editor", "kerava")
    page = client.get("/staff/kerava/sources?lang=en")
    assert page.status_code == 200 and feed_url in page.text
    token = csrf_of(page.text)
    key = page.text.split("/staff/kerava/sources/")[1].split("/")[0]
    keys = [chunk.split("/")[0] for chunk in page.text.split("/staff/kerava/sources/")[1:]]
    ours = next(k for k in keys if k)
    with Session(engine) as s:
        merged = merge_console(load(CAMPAIGNS, TEMPLATES), s, TEMPLATES)
    from outreach.sources import key_of

    feed_key = next(key_of(u) for u in merged.source_uses(["kerava-kokeilu"]))
    assert feed_key in keys and ours and key
    done = client.post(f"/staff/kerava/sources/{feed_key}/fetch?lang=en",
                       data={"csrf_token": token}, follow_redirects=False)  # fmt: skip
    assert done.status_code == 303
    after = client.get("/staff/kerava/sources?lang=en").text
    assert "200" in after
    # Vantaa's pages and Kerava's source through Vantaa's path are not found
    assert client.get("/staff/vantaa/sources").status_code == 404
    assert client.get("/staff/vantaa/campaigns").status_code == 404
    assert client.get("/staff/vantaa/campaigns/kerava-kokeilu").status_code == 404
    signed_in(engine, client, "toimittaja@vantaa.fi", "editor", "vantaa")
    other = client.post(f"/staff/vantaa/sources/{feed_key}/fetch",
                        data={"csrf_token": token}, follow_redirects=False)  # fmt: skip
    assert other.status_code == 404
    assert client.get("/staff/vantaa/campaigns/kerava-kokeilu").status_code == 404
    with Session(engine) as s:
        actions = list(s.scalars(select(AuditEvent.action)))
    assert actions.count("source.fetch") == 1


@pytest.mark.parametrize(
    ("lang", "said"),
    [("fi", "Ruotsi ei ole kaupungin kieli."), ("sv", "Svenska är inte stadens språk."),
     ("en", "Swedish is not a language of the city.")],
)  # fmt: skip
def test_a_language_named_in_an_error_is_named_in_the_readers_language(
    lang: str, said: str
) -> None:
    from outreach.l10n import gettext_for
    from outreach.web.staff.campaign_errors import say

    assert say("'sv' is not a language of kerava", lambda m: gettext_for(lang, "web", m)) == said


def test_build_now_with_nothing_new_says_so_in_the_readers_language(
    engine: Engine, client: TestClient, feed_url: str
) -> None:
    signed_in(engine, client, "toimittaja@kerava.fi", "editor", "kerava")
    token = csrf_of(client.get("/staff/kerava/campaigns/new?lang=sv").text)
    fields = {**editor_fields(token, feed_url), "sections.0.include": "vindkraft*"}  # no item
    saved = client.post("/staff/kerava/campaigns/new?lang=sv", data={**fields, "action": "save"},
                        follow_redirects=False)  # fmt: skip
    assert saved.status_code == 303
    built = client.post("/staff/kerava/campaigns/kerava-kokeilu/build?lang=sv",
                        data={"csrf_token": token}, follow_redirects=False)  # fmt: skip
    assert built.status_code == 303 and "refused=empty" in built.headers["location"]
    page = client.get(built.headers["location"]).text
    assert ("Inget nummer sammanställdes: inget nytt har kommit från dess källor sedan "
            "förra numret.") in page  # fmt: skip
    assert "no new items" not in page and "when_empty" not in page
    with Session(engine) as s:
        assert s.scalars(select(Issue)).all() == []
