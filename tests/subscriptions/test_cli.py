"""The subscribers and apikey click groups, end to end on a SQLite file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from outreach.cli.subscribers import apikey, subscribers
from outreach.settings import Settings, get_settings


@pytest.fixture
def env(settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("OUTREACH_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("OUTREACH_CAMPAIGNS_DIR", str(settings.campaigns_dir))
    monkeypatch.setenv("OUTREACH_SECRET_KEY", "k" * 40)
    monkeypatch.setenv("OUTREACH_VAR_DIR", str(settings.var_dir))
    return CliRunner()


def test_import_show_export_forget(env: CliRunner, tmp_path: Path) -> None:
    csv_file = tmp_path / "hakosalo.csv"
    csv_file.write_text("sähköposti;yritys\nmatti@yritys.fi;=cmd|' /C calc'!A0\nbad;x\n")
    result = env.invoke(subscribers, ["import", str(csv_file), "--city", "kerava", "--confirmed"])
    assert result.exit_code == 1 and "--consent-note" in result.output
    assert "Traceback" not in result.output
    result = env.invoke(
        subscribers,
        [
            "import",
            str(csv_file),
            "--city",
            "kerava",
            "--confirmed",
            "--consent-note",
            "existing customers",
            "--max-skipped",
            "50%",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "1 imported" in result.output and "line 3: skipped:" in result.output
    shown = env.invoke(subscribers, ["show", "MATTI@yritys.fi"])
    data = json.loads(shown.output)
    assert data["subscriptions"][0]["consent"][-1]["detail"] == "hakosalo.csv: existing customers"
    exported = env.invoke(subscribers, ["export", "--city", "kerava", "--purpose", "crm"])
    assert "'=cmd|" in exported.output
    listed = env.invoke(subscribers, ["list", "--city", "kerava"])
    assert listed.output.startswith("matti@yritys.fi\tkerava\tconfirmed")
    assert env.invoke(subscribers, ["forget", "matti@yritys.fi", "--yes"]).exit_code == 0
    gone = env.invoke(subscribers, ["show", "matti@yritys.fi"])
    assert json.loads(gone.output) == {
        "email": "matti@yritys.fi",
        "suppression": json.loads(gone.output)["suppression"],
    }
    again = env.invoke(
        subscribers,
        [
            "import",
            str(csv_file),
            "--city",
            "kerava",
            "--confirmed",
            "--consent-note",
            "existing customers",
        ],
    )
    assert "0 imported" in again.output and "suppression list (erased)" in again.output
    unknown = env.invoke(subscribers, ["show", "nobody@yritys.fi"])
    assert unknown.exit_code == 1 and "nothing is held" in unknown.output


def test_apikey_create_and_revoke(env: CliRunner) -> None:
    created = env.invoke(apikey, ["create", "crm"])
    assert created.exit_code == 0
    key = created.stdout.strip().splitlines()[0]
    assert key.startswith("ok_") and len(key) > 40
    listed = env.invoke(apikey, ["list"])
    assert key not in listed.output and '"crm"' in listed.output
    assert env.invoke(apikey, ["revoke", "crm"]).exit_code == 0
    assert env.invoke(apikey, ["revoke", "crm"]).exit_code == 1


@pytest.mark.parametrize(
    "args",
    [
        ["list", "--city", "nowhere"],
        ["unsubscribe", "matti@yritys.fi", "--city", "nowhere"],
        ["export", "--city", "nowhere", "--purpose", "crm"],
        ["import", "crm.csv", "--city", "nowhere"],
    ],
)
def test_an_unknown_city_is_one_line_naming_the_known_ones(
    env: CliRunner, args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OUTREACH_CLI_LANGUAGE", "en")
    result = env.invoke(subscribers, args)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.strip() == (
        'Error: no city "nowhere" (known: jarvenpaa, kerava, vantaa)'
    ), result.output


def test_add_refuses_a_language_the_city_does_not_send_in(
    env: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    added = env.invoke(subscribers, ["add", "add1@x.fi", "--city", "vantaa", "--language", "en"])
    assert added.exit_code == 1
    assert added.output == (
        "Error: the city vantaa sends its newsletter in fi, sv only; choose one of them with "
        "--language\n"
    )
    monkeypatch.setenv("OUTREACH_CLI_LANGUAGE", "fi")
    get_settings.cache_clear()
    finnish = env.invoke(subscribers, ["add", "add1@x.fi", "--city", "kerava", "--language", "sv"])
    assert finnish.exit_code == 1
    assert "Virhe: kaupunki kerava lähettää uutiskirjeensä vain näillä kielillä: fi;" in (
        finnish.output
    )
    nothing = env.invoke(subscribers, ["show", "add1@x.fi"])
    assert nothing.exit_code == 1 and "add1@x.fi" in nothing.output
    get_settings.cache_clear()


@pytest.mark.parametrize(
    ("lang", "said"),
    [
        ("fi", ["1 rivi kirjoitettu tiedostoon", "2 riviä kirjoitettu tiedostoon",
                "1 tilaus päätetty", "2 tilausta päätetty", "1 avain peruttu",
                "2 avainta peruttu"]),
        ("sv", ["1 rad skriven till", "2 rader skrivna till", "1 prenumeration avslutad",
                "2 prenumerationer avslutade", "1 nyckel återkallad", "2 nycklar återkallade"]),
        ("en", ["1 row written to", "2 rows written to", "1 subscription ended",
                "2 subscriptions ended", "1 key revoked", "2 keys revoked"]),
    ],
)  # fmt: skip
def test_counts_take_the_form_of_their_number(
    env: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lang: str, said: list[str]
) -> None:
    monkeypatch.setenv("OUTREACH_CLI_LANGUAGE", lang)
    get_settings.cache_clear()
    note = ["--confirmed", "--consent-note", "existing customers"]
    for city, emails in (("kerava", ["a@yritys.fi"]), ("vantaa", ["a@yritys.fi", "b@yritys.fi"])):
        path = tmp_path / f"{city}.csv"
        path.write_text("sähköposti\n" + "\n".join(emails) + "\n")
        assert env.invoke(subscribers, ["import", str(path), "--city", city, *note]).exit_code == 0
    shown = []
    for city in ("kerava", "vantaa"):
        out = tmp_path / f"{city}-out.csv"
        args = ["export", "--city", city, "--purpose", "crm", "--out", str(out)]
        shown.append(env.invoke(subscribers, args).stderr.strip())
    shown.append(env.invoke(subscribers, ["unsubscribe", "b@yritys.fi"]).output.strip())
    shown.append(env.invoke(subscribers, ["unsubscribe", "a@yritys.fi"]).output.strip())
    for name in ("one", "two", "two"):
        assert env.invoke(apikey, ["create", name]).exit_code == 0
    shown.append(env.invoke(apikey, ["revoke", "one"]).output.strip())
    shown.append(env.invoke(apikey, ["revoke", "two"]).output.strip())
    assert shown == [
        f"{said[0]} {tmp_path / 'kerava-out.csv'}",
        f"{said[1]} {tmp_path / 'vantaa-out.csv'}",
        *said[2:],
    ]
