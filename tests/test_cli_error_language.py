"""Errors the stages raise reach the staff in their language (LC_ALL, LC_MESSAGES, LANG).

A mistake in what was typed (an issue, a campaign, a city, an address, a business ID,
a staff account) or in the mail URL is one line in Finnish, Swedish or English; the
English text is the one ``str(error)`` gives the logs and the web layer.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from outreach.cli import main
from outreach.settings import get_settings
from tests.conftest import ROOT
from tests.test_cli import invoke
from tests.test_cli import run as run  # the fixture

LOCALES = {"fi": "fi_FI.UTF-8", "sv": "sv_FI.UTF-8", "en": "C.UTF-8"}

TYPED = {
    ("issue", "send", "999"): {
        "fi": "Virhe: numeroa '999' ei ole: anna sen tunniste tai <kampanja>/<jakso> "
        "(esim. vantaa-monthly/2026-12); `outreach issue list` näyttää ne",
        "sv": "Fel: inget nummer '999': ange dess id eller <kampanj>/<period> "
        "(t.ex. vantaa-monthly/2026-12); `outreach issue list` visar dem",
        "en": "Error: no issue '999': give its id or <campaign>/<period> "
        "(e.g. vantaa-monthly/2026-12); `outreach issue list` shows them",
    },
    ("issue", "approve", "998", "--by", "maija"): {
        "fi": "Virhe: numeroa '998' ei ole: anna sen tunniste",
        "sv": "Fel: inget nummer '998': ange dess id",
        "en": "Error: no issue '998': give its id",
    },
    ("issue", "build", "nosuch"): {
        "fi": 'Virhe: kampanjaa "nosuch" ei ole (tunnetut: jarvenpaa-monthly, ',
        "sv": 'Fel: ingen kampanj "nosuch" (kända: jarvenpaa-monthly, ',
        "en": 'Error: no campaign "nosuch" (known: jarvenpaa-monthly, ',
    },
    ("subscribers", "add", "foo", "--city", "kerava"): {
        "fi": "Virhe: sähköpostiosoitteen pitää olla muotoa nimi@esimerkki.fi",
        "sv": "Fel: e-postadressen ska ha formen namn@exempel.fi",
        "en": "Error: the email address needs the form name@example.fi",
    },
    ("subscribers", "add", "a@kerava..fi", "--city", "kerava"): {
        "fi": "Virhe: sähköpostiosoitteen verkkotunnuksessa on tyhjä osa (..)",
        "sv": "Fel: e-postadressens domän har en tom del (..)",
        "en": "Error: the email address's domain has an empty part (..)",
    },
    ("subscribers", "add", "b@kerava.fi", "--city", "kerava", "--business-id", "123"): {
        "fi": "Virhe: Y-tunnuksessa '123' pitää olla 7 numeroa, väliviiva ja tarkistenumero, "
        "esimerkiksi 1234567-8",
        "sv": "Fel: FO-numret '123' ska ha 7 siffror, ett bindestreck och en kontrollsiffra, "
        "t.ex. 1234567-8",
        "en": "Error: the business ID '123' must have 7 digits, a hyphen and a check digit, "
        "like 1234567-8",
    },
    ("staff", "revoke", "nobody@kerava.fi", "--city", "kerava"): {
        "fi": "Virhe: henkilöstötunnusta 'nobody@kerava.fi' ei ole (katso `outreach staff list`)",
        "sv": "Fel: inget personalkonto 'nobody@kerava.fi' (se `outreach staff list`)",
        "en": "Error: no staff account 'nobody@kerava.fi' (see `outreach staff list`)",
    },
    ("stats", "city", "nowhere"): {
        "fi": "Virhe: kaupunkia 'nowhere' ei ole (tunnetut: jarvenpaa, kerava, vantaa)",
        "sv": "Fel: ingen stad 'nowhere' (kända: jarvenpaa, kerava, vantaa)",
        "en": "Error: no city 'nowhere' (known: jarvenpaa, kerava, vantaa)",
    },
    ("issue", "build", "kerava-monthly", "--period", "2026-xx"): {
        "fi": "Virhe: jakso '2026-xx': pitää olla muotoa VVVV-KK (tai VVVV, VVVV-KK-PP)",
        "sv": "Fel: perioden '2026-xx': ska ha formen ÅÅÅÅ-MM (eller ÅÅÅÅ, ÅÅÅÅ-MM-DD)",
        "en": "Error: period '2026-xx': expected YYYY-MM (or YYYY, YYYY-MM-DD)",
    },
    ("apikey", "revoke", "nosuch"): {
        "fi": "Virhe: käytössä olevaa API-avainta, jonka nimi tai alkuosa on 'nosuch', ei ole",
        "sv": "Fel: ingen aktiv API-nyckel med namnet eller prefixet 'nosuch'",
        "en": "Error: no active API key with the name or prefix 'nosuch'",
    },
    ("bounces", "poll"): {
        "fi": "Virhe: aseta OUTREACH_BOUNCE_IMAP_HOST ja OUTREACH_BOUNCE_IMAP_USER",
        "sv": "Fel: ange OUTREACH_BOUNCE_IMAP_HOST och OUTREACH_BOUNCE_IMAP_USER",
        "en": "Error: set OUTREACH_BOUNCE_IMAP_HOST and OUTREACH_BOUNCE_IMAP_USER",
    },
}

MAIL_URLS = {
    "smtp://127.0.0.1:1": {
        "fi": "Virhe: yhteyttä palvelimeen 127.0.0.1:1 ei saada: ",
        "sv": "Fel: kan inte ansluta till 127.0.0.1:1: ",
        "en": "Error: cannot connect to 127.0.0.1:1: ",
    },
    "smtp://127.0.0.1:1?timeout=abc": {
        "fi": "Virhe: postin URL-osoitteen asetus timeout='abc': arvon pitää olla luku",
        "sv": "Fel: e-post-URL:ens inställning timeout='abc': värdet ska vara ett tal",
        "en": "Error: mail URL option timeout='abc': expected a number",
    },
    "smtp://127.0.0.1:1?foo=1": {
        "fi": 'Virhe: postin lähetystapa "smtp" ei tue asetusta "foo" '
        "(tuetut: starttls, timeout, verify)",
        "sv": 'Fel: sättet att skicka e-post "smtp" stöder inte inställningen "foo" '
        "(stöds: starttls, timeout, verify)",
        "en": 'Error: mail backend "smtp" does not support the option "foo" '
        "(supported: starttls, timeout, verify)",
    },
    "smtps://127.0.0.1:1?starttls=true": {
        "fi": "Virhe: smtps:// käyttää jo TLS:ää; poista asetus starttls",
        "sv": "Fel: smtps:// använder redan TLS; ta bort inställningen starttls",
        "en": "Error: smtps:// is TLS already; drop the starttls option",
    },
    "bogus://x": {
        "fi": 'Virhe: Postin lähetystapaa "bogus" ei löytynyt (tunnetut: console, file, ',
        "sv": 'Fel: Det finns inget sätt att skicka e-post som heter "bogus" (kända: console, ',
        "en": 'Error: No mail backend by the name "bogus" was found (known: console, file, ',
    },
    "nourl": {
        "fi": "Virhe: postin URL-osoite 'nourl' ei ala lähetystavalla (tunnetut: console, ",
        "sv": "Fel: e-post-URL:en 'nourl' börjar inte med ett sätt att skicka (kända: console, ",
        "en": "Error: mail URL 'nourl' has no scheme (known: console, ",
    },
}


def speak(monkeypatch: pytest.MonkeyPatch, lang: str) -> None:
    for name in ("LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", LOCALES[lang])


@pytest.mark.parametrize("lang", ["fi", "sv", "en"])
def test_a_mistake_in_what_was_typed_is_told_in_the_staff_language(
    run: CliRunner, monkeypatch: pytest.MonkeyPatch, lang: str
) -> None:
    assert invoke(run, "db", "upgrade").exit_code == 0
    speak(monkeypatch, lang)
    for args, expected in TYPED.items():
        result = run.invoke(main, list(args))
        assert result.exit_code == 1, (args, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(expected[lang]), (args, result.output)


def test_a_mistake_in_the_mail_url_is_told_in_the_staff_language(
    run: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert invoke(run, "demo").exit_code == 0
    monkeypatch.setenv("OUTREACH_BASE_URL", "https://uutiskirje.example.fi")
    args = ["issue", "send", "kerava-monthly/2026-12", "--test-to", "staff@kerava.fi"]
    for lang in LOCALES:
        speak(monkeypatch, lang)
        for url, expected in MAIL_URLS.items():
            monkeypatch.setenv("OUTREACH_MAIL_URL", url)
            get_settings.cache_clear()
            result = run.invoke(main, args)
            assert result.exit_code == 1, (url, result.output)
            line = result.output.strip().splitlines()[-1]
            assert line.startswith(expected[lang]), (lang, url, result.output)


def test_lc_messages_comes_before_lang_for_an_error(
    run: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert invoke(run, "db", "upgrade").exit_code == 0
    speak(monkeypatch, "fi")
    monkeypatch.setenv("LC_MESSAGES", "sv_FI.UTF-8")
    result = run.invoke(main, ["issue", "build", "nosuch"])
    assert result.output.startswith('Fel: ingen kampanj "nosuch"'), result.output


def test_the_command_itself_tells_it_in_finnish(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OUTREACH_", "LC_"))}
    env |= {
        "OUTREACH_SECRET_KEY": "x" * 40,
        "OUTREACH_CONFIG": os.devnull,
        "OUTREACH_CAMPAIGNS_DIR": str(ROOT / "campaigns"),
        "OUTREACH_TEMPLATES_DIR": str(ROOT / "templates"),
        "PYTHONPATH": str(ROOT),
        "LANG": "fi_FI.UTF-8",
    }

    def outreach(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "outreach", *args],
            capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120,
        )  # fmt: skip

    assert outreach("db", "upgrade").returncode == 0
    result = outreach("issue", "send", "999")
    assert result.returncode == 1
    assert result.stderr.startswith("Virhe: numeroa '999' ei ole: anna sen tunniste"), result.stderr


@pytest.mark.parametrize(
    ("lang", "said"),
    [
        ("fi", 'vantaa.mail_url: Postin lähetystapaa "smtpx" ei löytynyt (tunnetut: '),
        ("sv", 'vantaa.mail_url: Det finns inget sätt att skicka e-post som heter "smtpx" '),
        ("en", 'vantaa.mail_url: No mail backend by the name "smtpx" was found (known: '),
    ],
)
def test_validate_names_a_city_mail_url_no_backend_takes_in_the_staff_language(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lang: str, said: str
) -> None:
    root = tmp_path / "campaigns"
    shutil.copytree(ROOT / "campaigns", root)
    cities = root / "cities.yaml"
    cities.write_text(
        cities.read_text().replace(
            "    timezone: Europe/Helsinki\n",
            "    timezone: Europe/Helsinki\n    mail_url: 'smtpx://mail.vantaa.fi'\n",
            1,
        )
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OUTREACH_CAMPAIGNS_DIR", str(root))
    speak(monkeypatch, lang)
    get_settings.cache_clear()
    result = CliRunner().invoke(main, ["campaigns", "validate"])
    get_settings.cache_clear()
    assert result.exit_code == 1, result.output
    assert said in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("lang", "bad_key", "other_domain"),
    [
        (
            "fi",
            "ei ole PEM-muotoinen yksityisavain (alussa pitää olla -----BEGIN PRIVATE KEY-----)",
            "Virhe: OUTREACH_DKIM_DOMAIN ei sovi kaupungille vantaa: DKIM-verkkotunnus "
            "kerava.fi ei vastaa lähettäjää ilmasto@vantaa.fi: käytä verkkotunnusta vantaa.fi",
        ),
        (
            "sv",
            "ingen privat nyckel i PEM-format (den ska börja med -----BEGIN PRIVATE KEY-----)",
            "Fel: OUTREACH_DKIM_DOMAIN passar inte staden vantaa: DKIM-domänen kerava.fi "
            "stämmer inte med avsändaren ilmasto@vantaa.fi: använd vantaa.fi",
        ),
        (
            "en",
            "not a PEM private key (expected -----BEGIN PRIVATE KEY-----)",
            "Error: OUTREACH_DKIM_DOMAIN does not fit city vantaa: DKIM domain kerava.fi "
            "does not match the sender ilmasto@vantaa.fi: use vantaa.fi",
        ),
    ],
)
def test_a_dkim_key_or_domain_that_does_not_fit_is_told_in_the_staff_language(
    run: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lang: str,
    bad_key: str, other_domain: str,
) -> None:  # fmt: skip
    key = tmp_path / "bad.pem"
    key.write_text("not a key\n")
    monkeypatch.setenv("OUTREACH_DKIM_SELECTOR", "s1")
    monkeypatch.setenv("OUTREACH_DKIM_DOMAIN", "kerava.fi")
    monkeypatch.setenv("OUTREACH_DKIM_KEY_FILE", str(key))
    get_settings.cache_clear()
    speak(monkeypatch, lang)
    one = run.invoke(main, ["dkim", "record", "kerava"])
    assert one.exit_code == 1 and one.output.strip().endswith(f"{key}: {bad_key}"), one.output
    every = run.invoke(main, ["dkim", "record"])
    assert every.exit_code == 1 and every.output.startswith(other_domain), every.output
