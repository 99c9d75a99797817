"""The pre-flight report of a golden issue with one of each problem, and of a clean one."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from outreach.campaigns import Config
from outreach.checks import FAMILIES, run_checks
from outreach.checks.headers import template_code
from outreach.checks.links import TIMEOUT, check_urls
from outreach.checks.report import ERROR, WARNING, Level, Report, finding
from outreach.checks.spam import command
from outreach.models import Issue
from outreach.settings import Settings
from tests.checks.conftest import NOW, OTHER, Servers, entry, make_issue

NEWS_OVERRIDE = """{% include "sections/news_shipped.html" %}
<p style="color: #aaaaaa;">{{ section.title }}</p>
<img src="{{ city.website }}kuva.png" width="100" height="50">
"""


def key(report: Report) -> list[tuple[str, str, str | None]]:
    return sorted((f.level, f.check, f.lang) for f in report.findings)


def test_golden_issue_has_exactly_the_expected_findings(
    session: Session, check_settings: Settings, config: Config, servers: Servers
) -> None:
    # Vantaa's news section shows a caption in light grey and an image without alt
    city_dir = check_settings.templates_path / "email" / "vantaa" / "sections"
    city_dir.mkdir(parents=True)
    shipped = check_settings.templates_path / "email" / "sections" / "news.html"
    (city_dir / "news_shipped.html").write_text(shipped.read_text())
    (city_dir / "news.html").write_text(NEWS_OVERRIDE)
    fi = [
        entry("Ilmastotyön uutinen", servers.site + "uutinen"),
        entry("Poistettu sivu", servers.site + "missing"),
        entry("Hidas palvelin", servers.silent),
        entry("Klikkaa tästä", servers.site + "lisaa"),
    ]
    long_intro = "Ilmastotyö etenee Vantaalla. " * 4000  # about 116 KB
    issue = make_issue(session, config, {"fi": fi, "sv": []}, intro={"fi": long_intro})

    started = time.monotonic()
    families = [f for f in FAMILIES if f != "spam"]  # its score is SpamAssassin's, tested below
    report = run_checks(session, check_settings, config, issue, now=NOW, families=families)
    took = time.monotonic() - started

    # the test servers speak http only: each of their addresses is a links.insecure
    insecure = sorted(
        (f.lang, f.detail_text("en")) for f in report.findings if f.check == "links.insecure"
    )
    fi_insecure = {*(e["url"] for e in fi), servers.site, servers.site + "kuva.png"}
    assert insecure == sorted([*(("fi", u) for u in fi_insecure), ("sv", servers.site)])
    assert key(report) == sorted(
        [
            *[("warning", "links.insecure", lang) for lang, _ in insecure],
            ("error", "links.broken", "fi"),
            ("warning", "links.timeout", "fi"),
            ("error", "size.clipped", "fi"),
            ("error", "a11y.alt", "fi"),
            ("error", "content.empty", "sv"),
            ("error", "a11y.contrast", "fi"),
            ("warning", "a11y.link_text", "fi"),
        ]
    ), report.lines("en")
    details = {f.check: f.detail for f in report.findings}
    assert details["links.broken"]["fi"] == servers.site + "missing"
    assert details["links.timeout"]["sv"] == servers.silent
    assert details["a11y.alt"]["fi"] == servers.site + "kuva.png"
    assert details["a11y.contrast"] == {
        "fi": "#aaaaaa taustalla #ffffff",
        "sv": "#aaaaaa mot #ffffff",
        "en": "#aaaaaa on #ffffff",
    }
    assert details["a11y.link_text"]["fi"] == "Klikkaa tästä"
    broken = next(f for f in report.findings if f.check == "links.broken")
    assert broken.message["fi"] == "Linkki ei toimi: Palvelin vastasi HTTP-tilalla 404."
    assert broken.message["sv"] == "En länk fungerar inte: Servern svarade med HTTP-status 404."
    assert broken.message["en"] == (
        "A link does not work: The server answered with the HTTP status 404."
    )
    # the host that never answers does not hold the report past the link limit
    assert took < check_settings.check_link_seconds + 5
    assert not report.ok


def test_clean_issue_has_no_findings(
    session: Session, check_settings: Settings, config: Config, servers: Servers
) -> None:
    issue = make_issue(
        session,
        config,
        {
            "fi": [entry("Ilmastotyön uutinen", servers.site + "uutinen")],
            "sv": [entry("Klimatarbetets nyhet", servers.site + "nyhet", language="sv")],
        },
    )
    report = run_checks(session, check_settings, config, issue, now=NOW)
    # nothing but the test servers' http addresses (they speak no https)
    others = [f for f in report.findings if f.check != "links.insecure"]
    assert others == [], report.lines("en")
    assert {f.detail_text("en") for f in report.findings} == {
        servers.site,
        servers.site + "uutinen",
        servers.site + "nyhet",
    }
    assert [n.family for n in report.skipped] == (
        [] if command() or check_settings.spamd else ["spam"]
    )


def test_head_refused_redirects_and_the_cache(
    session: Session, check_settings: Settings, servers: Servers
) -> None:
    from outreach.checks.links import check_links

    urls = [servers.site + "nohead", servers.site + "moved", servers.silent]
    first = check_links(session, check_settings, urls, NOW)
    assert first[urls[0]].state == "ok" and first[urls[0]].status == 200  # GET after HEAD 405
    assert first[urls[1]].state == "ok" and first[urls[1]].other_host == OTHER
    assert first[urls[2]].state == TIMEOUT
    # within the hour the results come from the table (the server is gone), timeouts not
    servers_gone = check_settings.model_copy(update={"check_link_seconds": 0.5})
    again = check_links(session, servers_gone, urls[:2], NOW.replace(minute=30))
    assert again == {u: first[u] for u in urls[:2]}


def test_a_slow_host_is_reported_within_the_limit(
    check_settings: Settings, servers: Servers
) -> None:
    fast = check_settings.model_copy(update={"check_link_seconds": 1.0})
    started = time.monotonic()
    results = check_urls(fast, [servers.silent + str(n) for n in range(8)])
    assert time.monotonic() - started < 2.0
    assert {r.state for r in results.values()} == {TIMEOUT}


#: SpamAssassin's standard test string: any installation scores it 1000.
GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"


def spammy_issue(session: Session, config: Config, servers: Servers) -> Issue:
    spammy = entry("Uutinen", servers.site + "u", summary=GTUBE)
    return make_issue(session, config, {"fi": [spammy], "sv": [entry("Nyhet", language="sv")]})


def test_spam_score_per_language_by_spamd(
    session: Session,
    check_settings: Settings,
    config: Config,
    servers: Servers,
    spamd: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-programs"))  # spamd alone can score
    issue = spammy_issue(session, config, servers)
    scored = check_settings.model_copy(update={"spamd": spamd})
    report = run_checks(session, scored, config, issue, now=NOW, families=["spam"])
    assert key(report) == [("error", "spam.score", "fi")], report.lines("en")
    assert "GTUBE 1000" in report.findings[0].detail_text("fi")
    assert report.skipped == []


@pytest.mark.skipif(command() is None, reason="SpamAssassin is not installed (spamassassin, spamc)")
def test_spam_score_when_spamd_does_not_answer_starts_spamassassin(
    session: Session,
    check_settings: Settings,
    config: Config,
    servers: Servers,
    caplog: pytest.LogCaptureFixture,
) -> None:
    issue = spammy_issue(session, config, servers)
    closed = check_settings.model_copy(update={"spamd": f"127.0.0.1:{closed_port()}"})
    report = run_checks(session, closed, config, issue, now=NOW, families=["spam"])
    assert key(report) == [("error", "spam.score", "fi")], report.lines("en")
    assert "GTUBE" in report.findings[0].detail_text("sv")
    assert "did not answer (ConnectionRefusedError); starting spamassassin" in caplog.text


def test_spam_score_skipped_when_spamd_does_not_answer_and_nothing_is_installed(
    session: Session,
    check_settings: Settings,
    config: Config,
    servers: Servers,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-programs"))
    issue = spammy_issue(session, config, servers)
    address = f"127.0.0.1:{closed_port()}"
    closed = check_settings.model_copy(update={"spamd": address})
    report = run_checks(session, closed, config, issue, now=NOW, families=["spam"])
    assert report.findings == []
    assert [(n.family, n.text("en")) for n in report.skipped] == [
        (
            "spam",
            f"spam score: SpamAssassin failed (spamd at {address} did not answer: "
            "ConnectionRefusedError)",
        )
    ]


@pytest.mark.parametrize(
    ("subject", "code"),
    [
        ("Ilmastouutiset {period}", "{period}"),
        ("Ilmastouutiset ${issue.period_label}", "${issue.period_label}"),
        ("Klimatnytt %(month)s", "%(month)s"),
        ("Klimatnytt [[ kuukausi ]]", "[[ kuukausi ]]"),
        ("Ilmastouutiset {# luonnos #}", "{#"),
    ],
)
def test_a_placeholder_of_another_template_language_is_template_code(
    session: Session, check_settings: Settings, config: Config, servers: Servers,
    subject: str, code: str,
) -> None:  # fmt: skip
    issue = make_issue(session, config, {"fi": [entry("Uutinen", servers.site + "uutinen")]})
    languages = dict(issue.snapshot["languages"])
    languages["fi"] = {**languages["fi"], "subject": subject}
    issue.snapshot = {**issue.snapshot, "languages": languages}
    session.flush()
    report = run_checks(session, check_settings, config, issue, now=NOW, families=["headers"])
    [found] = [f for f in report.findings if f.check == "headers.subject_template"]
    assert (found.lang, found.level, found.detail_text("sv")) == ("fi", "error", subject)
    assert found.message["sv"] == (
        f"Ämnesraden innehåller fortfarande mallkod ({code}): den skulle gå ut som den står"
    )


def test_braces_that_are_no_placeholder_pass() -> None:
    for subject in ("Ilmastouutiset 12/2026 {1/2}", "Vantaa {}", "Hinta 10 € (alv 0 %)"):
        assert template_code(subject) is None, subject


def closed_port() -> int:
    """A port of 127.0.0.1 where nothing listens (bound and closed again)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_subject_with_template_code_left_in_it_is_an_error(
    session: Session, check_settings: Settings, config: Config, servers: Servers
) -> None:
    issue = make_issue(session, config, {"fi": [entry("Uutinen", servers.site + "uutinen")]})
    languages = dict(issue.snapshot["languages"])
    languages["fi"] = {**languages["fi"], "subject": "Ilmastouutiset {{ issue.period_label }}"}
    languages["sv"] = {**languages["sv"], "subject": "Klimatnytt {% if x %}"}
    issue.snapshot = {**issue.snapshot, "languages": languages}
    session.flush()
    report = run_checks(session, check_settings, config, issue, now=NOW, families=["headers"])
    found = {f.lang: f for f in report.findings if f.check == "headers.subject_template"}
    assert sorted(found) == ["fi", "sv"] and not report.ok
    assert {f.level for f in found.values()} == {"error"}
    assert found["fi"].detail_text("fi") == "Ilmastouutiset {{ issue.period_label }}"
    assert found["fi"].message["fi"] == "Aiheessa on yhä mallikoodia ({{): se lähtisi sellaisenaan"
    assert found["sv"].message["en"] == (
        "The subject still holds template code ({%): it would go out as written"
    )


@pytest.mark.parametrize(
    ("lang", "one", "two"),
    [
        ("fi", "1 virhe, 0 varoitusta", "2 virhettä, 1 varoitus"),
        ("sv", "1 fel, 0 varningar", "2 fel, 1 varning"),
        ("en", "1 error, 0 warnings", "2 errors, 1 warning"),
    ],
)
def test_the_report_counts_its_findings_in_the_form_of_their_number(
    lang: str, one: str, two: str
) -> None:
    def report(*levels: Level) -> Report:
        found = [finding(level, "content.fallback", None, "{n} item is in another language "
                         "(marked as such in the message)", plural="{n} items are in another "
                         "language (marked as such in the message)", number=i + 1, n=i + 1)
                 for i, level in enumerate(levels)]  # fmt: skip
        return Report(1, NOW, ["fi"], found)

    assert report(ERROR).lines(lang)[-1] == one
    assert report(ERROR, ERROR, WARNING).lines(lang)[-1] == two


@pytest.mark.parametrize(
    ("lang", "one", "two"),
    [
        ("fi", "1 kohde on toisella kielellä", "2 kohdetta on toisella kielellä"),
        ("sv", "1 post är på ett annat språk", "2 poster är på ett annat språk"),
        ("en", "1 item is in another language", "2 items are in another language"),
    ],
)
def test_a_finding_with_a_count_takes_the_form_of_its_number(lang: str, one: str, two: str) -> None:
    def fallback(n: int) -> str:
        found = finding(
            WARNING,
            "content.fallback",
            "fi",
            "{n} item is in another language (marked as such in the message)",
            plural="{n} items are in another language (marked as such in the message)",
            number=n,
            n=n,
        )
        return found.text(lang)

    assert fallback(1).startswith(one) and fallback(2).startswith(two)
