"""What a person reads in a finding is in their language: why a link fails, the
language version a sentence names, numbers with decimals; and an http link is a
finding of its own."""

from __future__ import annotations

import copy

from sqlalchemy.orm import Session

from outreach.campaigns import Config
from outreach.checks import run_checks
from outreach.checks.accessibility import check_accessibility
from outreach.checks.content import check_content
from outreach.checks.page import Page
from outreach.checks.report import Report
from outreach.settings import Settings
from tests.checks.conftest import NOW, NOWHERE, SITE, Servers, entry, make_issue
from tests.checks.test_report import closed_port


def test_a_link_that_cannot_be_reached_says_why_in_finnish_and_swedish(
    session: Session, check_settings: Settings, config: Config, servers: Servers
) -> None:
    nowhere = f"https://{NOWHERE}/uutinen"
    refused = f"http://{SITE}:{closed_port()}/uutinen"
    fi = [entry("Kadonnut palvelin", nowhere), entry("Suljettu portti", refused)]
    issue = make_issue(session, config, {"fi": fi, "sv": [entry("Nyhet", language="sv")]})
    report = run_checks(session, check_settings, config, issue, now=NOW, families=["links"])
    found = {f.detail_text("fi"): f for f in report.findings if f.check == "links.unreachable"}
    assert sorted(found) == sorted([nowhere, refused]), report.lines("en")
    assert found[nowhere].text("fi") == "Linkkiin ei saada yhteyttä: Palvelimen nimeä ei löytynyt."
    assert found[nowhere].text("sv") == "En länk går inte att nå: Servernamnet hittades inte."
    assert found[nowhere].text("en") == "A link cannot be reached: The host name was not found."
    assert found[refused].text("fi") == (
        "Linkkiin ei saada yhteyttä: Palvelin ei ottanut yhteyttä vastaan."
    )
    assert found[refused].text("sv") == "En länk går inte att nå: Servern vägrade ansluta."
    # the report read later (stored as JSON) says the same
    again = Report.from_json(report.to_json())
    assert [f.text("sv") for f in again.findings] == [f.text("sv") for f in report.findings]


def test_an_http_link_is_a_warning_but_not_the_services_own_links(
    session: Session, check_settings: Settings, config: Config, servers: Servers
) -> None:
    # a demo's base URL on http: its archive and unsubscribe links are not the editor's to fix
    demo = check_settings.model_copy(update={"base_url": "http://127.0.0.1:8000"})
    plain = servers.site + "uutinen"
    secure = f"https://{SITE}:{servers.port}/turvallinen"
    fi = [entry("Uutinen", plain), entry("Toinen uutinen", secure)]
    issue = make_issue(session, config, {"fi": fi, "sv": [entry("Nyhet", language="sv")]})
    report = run_checks(session, demo, config, issue, now=NOW, families=["links"])
    insecure = [f for f in report.findings if f.check == "links.insecure"]
    assert {(f.lang, f.detail_text("fi")) for f in insecure} == {
        ("fi", plain),
        ("fi", servers.site),  # the city's website in the footer
        ("sv", servers.site),
    }
    assert {f.level for f in insecure} == {"warning"}
    [first] = [f for f in insecure if f.detail_text("en") == plain]
    assert first.text("fi") == "Linkki ei ole suojattu (http://); käytä sen https://-osoitetta"
    assert first.text("sv") == "En länk är inte säker (http://); använd dess https://-adress"
    assert first.text("en") == "A link is not secure (http://); use its https:// address"
    # no request is needed to see it: also with the link check turned off
    off = demo.model_copy(update={"check_link_seconds": 0})
    again = run_checks(session, off, config, issue, now=NOW, families=["links"])
    assert [f.check for f in again.findings] == ["links.insecure"] * 3


def _snapshot(session: Session, config: Config, fi: int, sv: int) -> dict:
    issue = make_issue(
        session,
        config,
        {
            "fi": [entry(f"Uutinen {n}", f"https://{SITE}/{n}") for n in range(fi)],
            "sv": [entry(f"Nyhet {n}", f"https://{SITE}/sv{n}", language="sv") for n in range(sv)],
        },
    )
    return copy.deepcopy(issue.snapshot)


def test_a_thin_section_names_the_other_version_in_the_readers_language(
    session: Session, config: Config
) -> None:
    snapshot = _snapshot(session, config, fi=2, sv=4)
    [thin] = [f for f in check_content(snapshot, NOW) if f.check == "content.thin_section"]
    assert thin.lang == "fi"
    assert thin.text("fi") == (
        "Osiossa ”Kaupungin ilmastotyö” on tässä 2 kohdetta ja ruotsinkielisessä versiossa 4"
    )
    assert thin.text("sv") == (
        "Avsnittet ”Kaupungin ilmastotyö” har 2 poster här och 4 i den svenska versionen"
    )
    assert thin.text("en") == (
        'The section "Kaupungin ilmastotyö" has 2 items here and 4 in the Swedish version'
    )


def test_a_thin_section_of_one_item_takes_the_singular_and_names_the_other_version(
    session: Session, config: Config
) -> None:
    snapshot = _snapshot(session, config, fi=1, sv=4)
    [thin] = [f for f in check_content(snapshot, NOW) if f.check == "content.thin_section"]
    assert thin.text("fi") == (
        "Osiossa ”Kaupungin ilmastotyö” on tässä 1 kohde ja ruotsinkielisessä versiossa 4"
    )
    assert thin.text("sv") == (
        "Avsnittet ”Kaupungin ilmastotyö” har 1 post här och 4 i den svenska versionen"
    )
    assert thin.text("en") == (
        'The section "Kaupungin ilmastotyö" has 1 item here and 4 in the Swedish version'
    )


def test_an_empty_version_names_the_one_its_readers_get(session: Session, config: Config) -> None:
    snapshot = _snapshot(session, config, fi=2, sv=0)
    snapshot["send_as"] = {"sv": "fi"}
    [empty] = [f for f in check_content(snapshot, NOW) if f.check == "content.empty"]
    assert empty.text("fi") == (
        "Tässä kieliversiossa ei ole sisältöä; sen lukijat saavat suomenkielisen version"
    )
    assert empty.text("sv") == (
        "Den här språkversionen har inget innehåll; dess läsare får den finska versionen"
    )


def test_the_reports_lines_name_each_version_in_the_readers_language(
    session: Session, config: Config
) -> None:
    snapshot = _snapshot(session, config, fi=2, sv=4)
    report = Report(1, NOW, ["fi", "sv"], check_content(snapshot, NOW))
    fi = report.lines("fi")
    assert fi[0] == "Suomenkielinen versio:" and "Ruotsinkielinen versio:" in fi
    sv = report.lines("sv")
    assert sv[0] == "Den finska versionen:" and "Den svenska versionen:" in sv
    assert not any(line.startswith(("Kieliversio fi", "Språkversion sv")) for line in fi + sv)


def test_numbers_with_decimals_take_a_comma_in_finnish_and_swedish() -> None:
    html = (
        '<html lang="fi"><body><p style="color: #aaaaaa;">Harmaa teksti</p>'
        "<h1>Otsikko</h1></body></html>"
    )
    [contrast] = [f for f in check_accessibility(Page(html), "fi") if f.check == "a11y.contrast"]
    assert "on 2,3:1; WCAG AA vaatii 4,5:1" in contrast.text("fi")
    assert "har kontrasten 2,3:1; WCAG AA kräver 4,5:1" in contrast.text("sv")
    assert "has a contrast of 2.3:1; WCAG AA needs 4.5:1" in contrast.text("en")
    assert contrast.detail_text("fi") == "#aaaaaa taustalla #ffffff"
    assert contrast.detail_text("sv") == "#aaaaaa mot #ffffff"


def test_a_past_events_time_is_written_as_the_reader_writes_it(
    session: Session, config: Config
) -> None:
    snapshot = _snapshot(session, config, fi=0, sv=1)
    event = entry(
        "Ilmastoaamiainen",
        f"https://{SITE}/aamiainen",
        kind="event",
        starts_at="2026-11-24T07:00:00+00:00",
        location="Vantaan kaupungintalo",
    )
    snapshot["languages"]["fi"]["sections"][0]["entries"] = [event]
    [past] = [f for f in check_content(snapshot, NOW) if f.check == "content.past_event"]
    assert past.detail_text("fi") == "Ilmastoaamiainen (ti 24.11.2026 klo 9.00)"
    assert past.detail_text("sv") == "Ilmastoaamiainen (tis 24.11.2026 kl. 9.00)"
