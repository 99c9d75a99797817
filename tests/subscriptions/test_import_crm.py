"""A Finnish CRM export (tests/data/crm/hakosalo.csv): every good row imports.

The fixture is written by ``tests/data/crm/generate.py``, which also says per
line what it meant (the kind of row, the class behind ``pk-yritys`` or
``svenska``, the optional field it spoiled); these tests hold the import to
that intent.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from outreach.campaigns import Config
from outreach.cli.subscribers import subscribers
from outreach.errors import SubscriptionError
from outreach.models import ConsentRecord, Subscriber, Subscription, Suppression
from outreach.settings import Settings, get_settings
from outreach.subscriptions import ImportAborted, RecordingMailer, import_csv, parse_share
from outreach.suppression import suppression_key
from outreach.validation import email_hash
from tests.conftest import DATA

FIXTURE = DATA / "crm" / "hakosalo.csv"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("crm_generate", DATA / "crm" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def intent() -> list[dict[str, Any]]:
    data, meta = _generator().generate()
    assert FIXTURE.read_bytes() == data, "run python tests/data/crm/generate.py"
    return list(meta)


def suppress(engine: Engine, settings: Settings, emails: list[str]) -> None:
    key = suppression_key(settings)
    with Session(engine) as s:
        s.add_all(Suppression(email_hash=email_hash(e, key), reason="bounce") for e in emails)
        s.commit()


def count(engine: Engine, model: type) -> int:
    with Session(engine) as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def lines_of(intent: list[dict[str, Any]], *kinds: str) -> set[int]:
    return {int(e["line"]) for e in intent if e["kind"] in kinds}


def test_a_finnish_crm_export_imports_every_good_row(
    engine: Engine,
    settings: Settings,
    config: Config,
    mailer: RecordingMailer,
    intent: list[dict[str, Any]],
) -> None:
    suppress(engine, settings, [e["email"] for e in intent if e["kind"] == "suppressed"])
    report = import_csv(engine, settings, config, FIXTURE, "vantaa", mailer=mailer)
    kept = [e for e in intent if e["kind"] == "good" or str(e["kind"]).startswith("warn:")]
    assert len(kept) > 500
    assert report.encoding == "cp1252" and report.delimiter == ";"
    assert report.imported == len(kept) and len(mailer.sent) == len(kept)
    assert report.rows == len(intent)
    skipped = {n.line: n.code for n in report.skipped}
    assert set(skipped) == lines_of(intent, "bad_email", "no_consent", "suppressed")
    for line in lines_of(intent, "bad_email"):
        assert skipped[line] == "email"
    for line in lines_of(intent, "no_consent"):
        assert skipped[line] == "consent"
    for line in lines_of(intent, "suppressed"):
        assert skipped[line] == "suppressed"
    # a bad optional field is dropped with a warning on its line; the contact stays
    warned = {(n.line, n.code) for n in report.warnings}
    spoiled = {(int(e["line"]), str(e["kind"])[5:]) for e in kept if e["kind"] != "good"}
    spoiled |= {(int(e["line"]), "language_offered") for e in kept if e.get("language_offered")}
    assert warned == spoiled
    with Session(engine) as s:
        people = {p.email: p for p in s.scalars(select(Subscriber))}
        assert len(people) == len(kept)
        for e in kept:
            person = people[e["email"]]
            assert person.size_class == e["size_class"], e
            assert person.language == e["language"], e
            assert person.contact_name == e["contact_name"], e
            assert person.business_id == e["business_id"], e
            assert person.company_name == e["company_name"], e
            assert person.subscriptions[0].topics == e["topics"], e
    # the summary and every warning read in the staff's language
    text = "\n".join(report.lines("fi"))
    assert f"{len(kept)} tuotu" in text and "ohitettu" in text
    assert "\n".join(report.lines("sv")).count("rad ") >= len(skipped) + len(warned)
    assert not report.over_limit(0.05)
    # the same file again changes nothing
    again = import_csv(engine, settings, config, FIXTURE, "vantaa", mailer=mailer)
    assert (again.imported, again.updated, again.unchanged) == (0, 0, len(kept))
    assert len(mailer.sent) == len(kept) and count(engine, Subscription) == len(kept)


def test_dry_run_reports_the_same_and_writes_nothing(
    engine: Engine,
    settings: Settings,
    config: Config,
    mailer: RecordingMailer,
    intent: list[dict[str, Any]],
) -> None:
    dry = import_csv(engine, settings, config, FIXTURE, "vantaa", mailer=mailer, dry_run=True)
    assert count(engine, Subscriber) == 0 and count(engine, ConsentRecord) == 0
    assert mailer.sent == [] and dry.dry_run
    real = import_csv(engine, settings, config, FIXTURE, "vantaa", mailer=mailer)
    assert (dry.imported, dry.updated, dry.unchanged) == (real.imported, 0, 0)
    assert [(n.line, n.code) for n in dry.skipped] == [(n.line, n.code) for n in real.skipped]
    assert [(n.line, n.code) for n in dry.warnings] == [(n.line, n.code) for n in real.warnings]
    assert dry.mailed == 0 and real.mailed == real.imported
    assert "dry run" in "\n".join(dry.lines("en"))


@pytest.mark.parametrize(
    ("text", "share"), [("5%", 0.05), ("0.05", 0.05), ("12.5 %", 0.125), ("0,1", 0.1), ("0", 0.0)]
)
def test_parse_share(text: str, share: float) -> None:
    assert parse_share(text) == pytest.approx(share)


@pytest.mark.parametrize("text", ["5", "150%", "-1%", "abc", ""])
def test_parse_share_refuses(text: str) -> None:
    with pytest.raises(SubscriptionError, match="5%"):
        parse_share(text)


def test_a_field_over_the_csv_limit_names_the_line_and_how_to_resume(
    tmp_path: Path,
    engine: Engine,
    settings: Settings,
    config: Config,
    intent: list[dict[str, Any]],
) -> None:
    lines = FIXTURE.read_bytes().split(b"\r\n")
    bad = 300
    cells = lines[bad - 1].split(b";")
    cells[5] = b'"' + b"x" * 200_000 + b'"'
    lines[bad - 1] = b";".join(cells)
    path = tmp_path / "hakosalo.csv"
    path.write_bytes(b"\r\n".join(lines))
    with pytest.raises(ImportAborted) as caught:
        import_csv(engine, settings, config, path, "vantaa")
    message = str(caught.value)
    partial = caught.value.report
    skipped = ("bad_email", "no_consent")  # nothing is suppressed in this test
    before = [e for e in intent if int(e["line"]) < bad and e["kind"] not in skipped]
    assert f"line {bad}" in message and "run the same command again" in message
    assert partial.imported == len(before) == count(engine, Subscription)
    assert f"{len(before)} rows" in message
    assert "Rivi" in caught.value.text("fi") or "rivi" in caught.value.text("fi")
    # fixed and run again: the rows already saved stay as they were, the rest come in
    shutil.copy(FIXTURE, path)
    again = import_csv(engine, settings, config, path, "vantaa")
    assert again.unchanged == len(before)
    assert again.imported + again.unchanged == count(engine, Subscription)
    records = count(engine, ConsentRecord)
    assert records == count(engine, Subscription)  # one "given" record each, none doubled


@pytest.fixture
def env(settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("OUTREACH_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("OUTREACH_CAMPAIGNS_DIR", str(settings.campaigns_dir))
    monkeypatch.setenv("OUTREACH_SECRET_KEY", "k" * 40)
    monkeypatch.setenv("OUTREACH_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("OUTREACH_MAIL_URL", "memory:")
    monkeypatch.setenv("OUTREACH_CLI_LANGUAGE", "en")
    return CliRunner()


def test_cli_exits_1_when_more_than_the_allowed_share_was_skipped(
    env: CliRunner, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "crm.csv"
    rows = [f"user{i}@firma.fi;Kyllä" for i in range(90)] + [f"user{i}@;Kyllä" for i in range(10)]
    path.write_text("Sähköposti;Suostumus\n" + "\n".join(rows) + "\n", encoding="cp1252")
    dry = env.invoke(subscribers, ["import", str(path), "--city", "kerava", "--dry-run"])
    assert dry.exit_code == 1 and "Traceback" not in dry.output
    assert (
        "rows skipped for a bad e-mail address or no consent: 10 of 100 (10.0%)" in dry.output
        and "nothing was written" in dry.output
    )
    assert count(engine, Subscriber) == 0
    result = env.invoke(subscribers, ["import", str(path), "--city", "kerava", "--no-mail"])
    assert result.exit_code == 1, result.output
    assert "more than --max-skipped 5%" in result.output
    assert "rows imported and saved: 90. Fix the skipped lines" in result.output
    assert count(engine, Subscriber) == 90
    ok = env.invoke(
        subscribers, ["import", str(path), "--city", "kerava", "--max-skipped", "0.1", "--no-mail"]
    )
    assert ok.exit_code == 0, ok.output
    assert "90 unchanged, 10 skipped" in ok.output
    bad = env.invoke(subscribers, ["import", str(path), "--city", "kerava", "--max-skipped", "x"])
    assert bad.exit_code == 2 and "5%" in bad.output
    monkeypatch.setenv("OUTREACH_CLI_LANGUAGE", "fi")
    get_settings.cache_clear()
    finnish = env.invoke(subscribers, ["import", str(path), "--city", "kerava", "--no-mail"])
    assert finnish.exit_code == 1
    assert "ohitettuja rivejä: 10/100 (10,0 %)" in finnish.output
    assert "tuotuja ja tallennettuja rivejä: 90." in finnish.output


@pytest.mark.parametrize(
    ("lang", "one", "two"),
    [
        ("fi", "sitä edeltävä 1 rivi tallennettiin.", "sitä edeltävät 2 riviä tallennettiin."),
        ("sv", "; 1 rad före den sparades.", "; de 2 raderna före den sparades."),
        ("en", "the 1 row before it was saved.", "the 2 rows before it were saved."),
    ],
)
def test_cli_counts_the_rows_saved_before_a_line_it_cannot_read(
    env: CliRunner,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    lang: str,
    one: str,
    two: str,
) -> None:
    monkeypatch.setenv("OUTREACH_CLI_LANGUAGE", lang)
    get_settings.cache_clear()
    long = '"' + "x" * 200_000 + '"'
    for saved in (1, 2):
        path = tmp_path / f"crm{saved}.csv"
        rows = [f"rivi{saved}{i}@firma.fi;Kyllä;A Oy" for i in range(saved)]
        lines = ["Sähköposti;Suostumus;Yritys", *rows, f"z@firma.fi;Kyllä;{long}"]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        result = env.invoke(subscribers, ["import", str(path), "--city", "kerava", "--no-mail"])
        assert result.exit_code == 1, result.output
        assert (one if saved == 1 else two) in result.output, result.output


def test_a_byte_that_is_neither_utf8_nor_cp1252_is_named_before_anything_is_written(
    tmp_path: Path, engine: Engine, settings: Settings, config: Config
) -> None:
    path = tmp_path / "crm.csv"
    path.write_bytes(b"email;yritys\r\na@firma.fi;A\r\nb@firma.fi;B \x81 Oy\r\n")
    with pytest.raises(SubscriptionError, match=r"line 3: byte 0x81"):
        import_csv(engine, settings, config, path, "vantaa")
    assert count(engine, Subscriber) == 0


@pytest.mark.parametrize(
    ("lang", "several", "one"),
    [
        (
            "fi",
            "3 tuotu, 0 päivitetty, 0 ennallaan, 2 ohitettu, 2 rivillä huomautus",
            "1 tuotu, 1 päivitetty, 1 ennallaan, 1 ohitettu, 1 rivillä huomautus",
        ),
        (
            "sv",
            "3 importerade, 0 uppdaterade, 0 oförändrade, 2 överhoppade, 2 med anmärkning",
            "1 importerad, 1 uppdaterad, 1 oförändrad, 1 överhoppad, 1 med anmärkning",
        ),
        (
            "en",
            "3 imported, 0 updated, 0 unchanged, 2 skipped, 2 with a note",
            "1 imported, 1 updated, 1 unchanged, 1 skipped, 1 with a note",
        ),
    ],
)
def test_the_cli_summary_words_each_count_in_the_form_of_its_number(
    env: CliRunner,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    lang: str,
    several: str,
    one: str,
) -> None:
    monkeypatch.setenv("OUTREACH_CLI_LANGUAGE", lang)
    get_settings.cache_clear()
    """Several of each, then one of each: Swedish participles agree with the count."""
    monkeypatch.setenv("OUTREACH_CLI_LANGUAGE", lang)
    get_settings.cache_clear()
    head = "Sähköposti;Suostumus;Yritys;Y-tunnus"
    first = [
        "a@firma.fi;Kyllä;A Oy;",
        "b@firma.fi;Kyllä;B Oy;123",  # imported, its business ID left out
        "c@firma.fi;Kyllä;C Oy;456",
        "ei-osoite;Kyllä;D Oy;",
        "e@firma.fi;Ei;E Oy;",
    ]
    second = [
        "a@firma.fi;Kyllä;A Oy;",  # as it was
        "b@firma.fi;Kyllä;B Oyj;",  # another company name
        "g@firma.fi;Kyllä;G Oy;789",  # new, its business ID left out
        "ei-osoite;Kyllä;D Oy;",
    ]
    path = tmp_path / "crm.csv"
    said = []
    for rows in (first, second):
        path.write_text("\n".join([head, *rows]) + "\n", encoding="utf-8")
        args = ["import", str(path), "--city", "kerava", "--no-mail", "--max-skipped", "1"]
        result = env.invoke(subscribers, args)
        assert result.exit_code == 0, result.output
        said.append(result.output.splitlines()[0])
    assert said == [f"crm.csv: {several}, {MAILED[lang]}", f"crm.csv: {one}, {MAILED[lang]}"]


MAILED = {
    "fi": "vahvistusviestejä lähetetty: 0 (utf-8, ';')",
    "sv": "skickade bekräftelsemejl: 0 (utf-8, ';')",
    "en": "confirmation mails sent: 0 (utf-8, ';')",
}
