"""What an import file is before its rows are read: encodings, delimiters, columns,
and the files refused before anything is written (one line in the staff's language)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from outreach.campaigns import Config
from outreach.cli.subscribers import subscribers
from outreach.models import Subscriber
from outreach.settings import Settings, get_settings
from outreach.subscriptions import ImportAborted, ImportRefused, import_csv, parse_mapping


def people(engine: Engine) -> dict[str, Subscriber]:
    with Session(engine) as s:
        return {p.email: p for p in s.scalars(select(Subscriber))}


def count(engine: Engine) -> int:
    with Session(engine) as s:
        return int(s.scalar(select(func.count()).select_from(Subscriber)) or 0)


def test_excel_unicode_text_utf16_with_tabs_is_read(
    tmp_path: Path, engine: Engine, settings: Settings, config: Config
) -> None:
    path = tmp_path / "unicode.txt"
    text = "Sähköposti\tYritys\tKieli\r\nmaija@firma.fi\tMäkinen, Åberg & Co\truotsi\r\n"
    path.write_bytes(text.encode("utf-16"))  # with its BOM, as Excel writes it
    assert path.read_bytes()[:2] in (b"\xff\xfe", b"\xfe\xff")
    report = import_csv(engine, settings, config, path, "vantaa")
    assert (report.imported, report.encoding, report.delimiter) == (1, "utf-16", "\t")
    maija = people(engine)["maija@firma.fi"]
    assert (maija.company_name, maija.language) == ("Mäkinen, Åberg & Co", "sv")


def test_a_tab_separated_utf8_file_is_read(
    tmp_path: Path, engine: Engine, settings: Settings, config: Config
) -> None:
    path = tmp_path / "crm.tsv"
    path.write_text("Email\tCompany\na@firma.fi\tA; B, C Oy\n", encoding="utf-8")
    report = import_csv(engine, settings, config, path, "vantaa")
    assert (report.imported, report.delimiter) == (1, "\t")
    assert people(engine)["a@firma.fi"].company_name == "A; B, C Oy"


@pytest.mark.parametrize("body", [b"", b"\xef\xbb\xbf", b"\r\n \r\n", "\n".encode("utf-16")])
def test_an_empty_file_says_so(
    tmp_path: Path, engine: Engine, settings: Settings, config: Config, body: bytes
) -> None:
    path = tmp_path / "crm.csv"
    path.write_bytes(body)
    with pytest.raises(ImportRefused, match=r"^crm\.csv is empty"):
        import_csv(engine, settings, config, path, "vantaa")


def test_a_mapped_column_the_file_lacks_is_named_with_the_columns_it_has(
    tmp_path: Path, engine: Engine, settings: Settings, config: Config
) -> None:
    path = tmp_path / "crm.csv"
    path.write_text("Sähköposti;Yritys\na@firma.fi;A Oy\n", encoding="utf-8")
    mapping = parse_mapping(["Puuttuu=company_name"])
    with pytest.raises(ImportRefused) as caught:
        import_csv(engine, settings, config, path, "vantaa", mapping=mapping)
    assert str(caught.value) == (
        '--map Puuttuu=company_name: the file has no column "Puuttuu" '
        '(its columns: "Sähköposti", "Yritys")'
    )
    assert count(engine) == 0


def test_a_mapped_column_comes_before_a_known_header(
    tmp_path: Path, engine: Engine, settings: Settings, config: Config
) -> None:
    path = tmp_path / "crm.csv"
    path.write_text("Email;Työsähköposti\nold@firma.fi;new@firma.fi\n", encoding="utf-8")
    mapping = parse_mapping(["työsähköposti=email"])
    assert import_csv(engine, settings, config, path, "vantaa", mapping=mapping).imported == 1
    assert list(people(engine)) == ["new@firma.fi"]


@pytest.fixture
def env(settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("OUTREACH_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("OUTREACH_CAMPAIGNS_DIR", str(settings.campaigns_dir))
    monkeypatch.setenv("OUTREACH_SECRET_KEY", "k" * 40)
    monkeypatch.setenv("OUTREACH_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("OUTREACH_MAIL_URL", "memory:")
    get_settings.cache_clear()
    return CliRunner()


@pytest.mark.parametrize(
    ("lang", "no_email", "share"),
    [
        ("en", "no e-mail column among the columns", "is not a share of rows"),
        ("fi", "joukossa ei ole sähköpostisaraketta", "ei ole rivien osuus"),
        ("sv", "ingen e-postkolumn bland kolumnerna", "är ingen andel av raderna"),
    ],
)
def test_the_import_refuses_in_the_staff_language_in_one_line(
    env: CliRunner,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    lang: str,
    no_email: str,
    share: str,
) -> None:
    monkeypatch.setenv("OUTREACH_CLI_LANGUAGE", lang)
    get_settings.cache_clear()
    path = tmp_path / "crm.csv"
    path.write_text("Nimi;Yritys\nMatti;A Oy\n", encoding="utf-8")
    result = env.invoke(subscribers, ["import", str(path), "--city", "vantaa"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert no_email in result.output and '"Nimi", "Yritys"' in result.output
    assert len(result.output.strip().splitlines()) == 1
    bad = env.invoke(subscribers, ["import", str(path), "--city", "vantaa", "--max-skipped", "5"])
    assert bad.exit_code == 2 and share in bad.output
    assert len(bad.output.strip().splitlines()) == 1
    nowhere = env.invoke(subscribers, ["import", str(path), "--city", "nowhere"])
    assert nowhere.exit_code == 1 and '"nowhere"' in nowhere.output
    if lang != "en":
        assert "known" not in nowhere.output and "no city" not in nowhere.output


def test_a_utf8_file_with_a_windows_1252_line_names_the_line_and_writes_nothing(
    tmp_path: Path, engine: Engine, settings: Settings, config: Config
) -> None:
    rows = [f"r{i}@firma.fi;Äänekosken Yritys {i} Oy".encode() for i in range(1, 9)]
    rows[4] = "r5@firma.fi;Mäkisen Sähkö Oy".encode("cp1252")  # on line 6
    path = tmp_path / "crm.csv"
    path.write_bytes(b"\r\n".join(["Sähköposti;Yritys".encode(), *rows]) + b"\r\n")
    with pytest.raises(ImportRefused) as caught:
        import_csv(engine, settings, config, path, "vantaa")
    assert str(caught.value).startswith("crm.csv: line 6 is not UTF-8 text like the rest")
    assert "nothing was written" in str(caught.value)
    assert "rivi 6 ei ole UTF-8-tekstiä" in caught.value.text("fi")
    assert count(engine) == 0
    # several such lines: how many, and which
    for line in (2, 3, 4, 5, 7, 8):
        rows[line - 2] = f"r{line}@firma.fi;Äänekosken Yritys {line} Oy".encode("cp1252")
    path.write_bytes(b"\r\n".join(["Sähköposti;Yritys".encode(), *rows]) + b"\r\n")
    with pytest.raises(ImportRefused, match=r"7 lines are not UTF-8 .*\(lines 2, 3, 4, 5, 6, …"):
        import_csv(engine, settings, config, path, "vantaa")


def test_a_utf8_file_with_a_bom_and_a_line_that_is_not_utf8_is_refused(
    tmp_path: Path, engine: Engine, settings: Settings, config: Config
) -> None:
    path = tmp_path / "crm.csv"
    body = b"email;yritys\r\na@firma.fi;A\r\nb@firma.fi;" + "Pörssi Oy".encode("cp1252")
    path.write_bytes(b"\xef\xbb\xbf" + body + b"\r\n")
    with pytest.raises(ImportRefused, match=r"line 3 is not UTF-8"):
        import_csv(engine, settings, config, path, "vantaa")
    assert count(engine) == 0


def test_a_windows_1252_file_whose_bytes_look_like_utf8_here_and_there_is_windows_1252(
    tmp_path: Path, engine: Engine, settings: Settings, config: Config
) -> None:
    # "Ö”" is D6 94 in cp1252: a valid UTF-8 sequence, but for a Hebrew accent
    path = tmp_path / "crm.csv"
    text = "Sähköposti;Yritys\r\na@firma.fi;”SÄHKÖ”\r\nb@firma.fi;Öljy Oy\r\n"
    path.write_bytes(text.encode("cp1252"))
    report = import_csv(engine, settings, config, path, "vantaa")
    assert (report.imported, report.encoding) == (2, "cp1252")
    assert people(engine)["a@firma.fi"].company_name == "”SÄHKÖ”"


def stray_quote_file(path: Path, rows: int = 50, company: str = '"Rakennus Oy') -> Path:
    """The tester's file: row 10's company has an opening quotation mark only."""
    lines = ["Sähköposti;Yritys;Kieli"]
    for i in range(1, rows + 1):
        lines.append(f"r{i}@stray.fi;{company if i == 10 else f'Yritys {i} Oy'};suomi")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_quote_left_open_that_swallows_rows_stops_the_import_before_anything_is_written(
    tmp_path: Path, engine: Engine, settings: Settings, config: Config, dry_run: bool
) -> None:
    path = stray_quote_file(tmp_path / "stray.csv")
    with pytest.raises(ImportRefused) as caught:
        import_csv(engine, settings, config, path, "vantaa", dry_run=dry_run)
    assert str(caught.value) == (
        "stray.csv: line 11: a quotation mark that is not closed makes one field of lines "
        "11–51 (line 12 looks like a row of its own); remove or close the quotation mark on "
        "line 11 and import the file again; nothing was written"
    )
    assert caught.value.text("fi").startswith("stray.csv: rivi 11: sulkematon lainausmerkki")
    assert count(engine) == 0


def test_a_quote_left_open_past_the_csv_field_limit_is_refused_before_anything_is_written(
    tmp_path: Path, engine: Engine, settings: Settings, config: Config
) -> None:
    path = stray_quote_file(tmp_path / "stray.csv", rows=5000)
    with pytest.raises(ImportRefused, match=r"line 11: a field is longer than 131072"):
        import_csv(engine, settings, config, path, "vantaa")
    assert count(engine) == 0


def test_a_quote_left_open_that_the_first_look_misses_stops_the_import_at_its_line(
    tmp_path: Path, engine: Engine, settings: Settings, config: Config
) -> None:
    # a quotation mark inside a cell makes the number on line 11 even: no look before,
    # so the reader finds the swallowed rows and the nine rows before them are saved
    path = stray_quote_file(tmp_path / "stray.csv", company='Ab"c;"Rakennus Oy')
    with pytest.raises(ImportAborted) as caught:
        import_csv(engine, settings, config, path, "vantaa")
    assert str(caught.value).startswith(
        "line 11: a quotation mark that is not closed makes one field of lines 11–51 (line 12 "
        "looks like a row of its own); remove or close it; the 9 rows before it were saved"
    )
    assert count(engine) == 9


def test_a_line_break_typed_in_a_name_cell_is_a_space(
    tmp_path: Path, engine: Engine, settings: Settings, config: Config
) -> None:
    path = tmp_path / "crm.csv"
    text = (
        "Sähköposti;Yritys;Nimi;Kieli\r\n"
        'maija@puutarha.fi;"Mäkisen\r\nPuutarha Oy";"Maija\nMäkinen";suomi\r\n'
        "pekka@paja.fi;Paja Oy;Pekka;ruotsi\r\n"
    )
    path.write_text(text, encoding="utf-8")
    report = import_csv(engine, settings, config, path, "vantaa")
    assert (report.imported, report.warnings, report.skipped) == (2, [], [])
    found = people(engine)
    maija = found["maija@puutarha.fi"]
    assert (maija.company_name, maija.contact_name) == ("Mäkisen Puutarha Oy", "Maija Mäkinen")
    assert found["pekka@paja.fi"].language == "sv"  # the line after it is its own row


def test_a_second_column_of_the_same_field_is_named_and_read_where_the_first_is_empty(
    tmp_path: Path, engine: Engine, settings: Settings, config: Config
) -> None:
    path = tmp_path / "crm.csv"
    text = (
        "Sähköposti;Yritys;Sähköposti;Organisaatio\n"
        "eka@firma.fi;Eka Oy;;\n"
        ";Toka Oy;toka@firma.fi;Toka Ab\n"
        "kolmas@firma.fi;;muu@firma.fi;Kolmas Ab\n"
    )
    path.write_text(text, encoding="utf-8")
    report = import_csv(engine, settings, config, path, "vantaa")
    assert (report.imported, report.skipped) == (3, [])
    assert [str(note) for note in report.warnings] == [
        'line 1: column 3 "Sähköposti" holds the same field as column 1 "Sähköposti" and is '
        "read only where that one is empty",
        'line 1: column 4 "Organisaatio" holds the same field as column 2 "Yritys" and is '
        "read only where that one is empty",
    ]
    found = {email: person.company_name for email, person in people(engine).items()}
    assert found == {
        "eka@firma.fi": "Eka Oy", "toka@firma.fi": "Toka Oy", "kolmas@firma.fi": "Kolmas Ab"
    }  # fmt: skip


def test_an_industry_code_that_is_no_tol_2008_code_is_left_out_with_a_warning(
    tmp_path: Path, engine: Engine, settings: Settings, config: Config
) -> None:
    path = tmp_path / "crm.csv"
    codes = ["Kauppa", "abc", "04123", "47.11", "62010", "G"]
    rows = "".join(f"r{i}@firma.fi;{code}\n" for i, code in enumerate(codes))
    path.write_text("Sähköposti;Toimiala\n" + rows, encoding="utf-8")
    report = import_csv(engine, settings, config, path, "vantaa")
    assert report.imported == 6
    assert [(n.line, n.code) for n in report.warnings] == [
        (2, "industry_code"), (3, "industry_code"), (4, "industry_code")
    ]  # fmt: skip
    assert 'industry code "Kauppa" left out: use a TOL 2008 code' in str(report.warnings[0])
    stored = {email: p.industry_code for email, p in people(engine).items()}
    assert [stored[f"r{i}@firma.fi"] for i in range(6)] == [None, None, None, "4711", "62010", "G"]
