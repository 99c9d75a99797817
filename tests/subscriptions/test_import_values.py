"""What the cells of a CRM export mean: spreadsheet values as Finnish and Swedish
staff and their Excel write them."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from outreach.campaigns import Config
from outreach.models import Subscriber
from outreach.settings import Settings
from outreach.subscriptions import import_csv
from outreach.subscriptions.import_values import consent_given, language, size_class


@pytest.mark.parametrize(
    "value",
    ["TOSI", "tosi", "SANT", "TRUE", "Kyllä", "Kyllä 1.3.2024", "kyllä, 1.3.2024",
     "Ja (2024-03-01)", "1.3.2024", "01/03/2024", "1.3.2024 klo 12.00", "2024-03-01T10:00:00"],
)  # fmt: skip
def test_consent_given(value: str) -> None:
    assert consent_given(value)


@pytest.mark.parametrize(
    "value", ["EPÄTOSI", "FALSKT", "FALSE", "ei", "Nej", "", "0", "1.3.2024 peruttu", "ei 1.3.2024"]
)
def test_no_consent(value: str) -> None:
    assert not consent_given(value)


@pytest.mark.parametrize(
    ("value", "size"),
    [("yli 250", "large"), ("över 250", "large"), ("250+", "large"),
     ("250 tai enemmän", "large"), ("1-9 henkilöä", "micro"), ("1–9 anställda", "micro"),
     ("alle 10", "micro"), ("10–49 hlö", "small"), ("10-49", "small"),
     ("50-249 työntekijää", "medium"), ("fler än 49", "medium"), ("vähintään 250", "large"),
     ("pk-yritys", "small"), ("mikro", "micro")],
)  # fmt: skip
def test_size_class(value: str, size: str) -> None:
    assert size_class(value) == size


@pytest.mark.parametrize(
    ("value", "lang"),
    [("suomi", "fi"), ("ruotsi", "sv"), ("englanti", "en"), ("finska", "fi"),
     ("svenska", "sv"), ("engelska", "en"), ("fi-FI", "fi"), ("sv-FI", "sv"), ("en-GB", "en"),
     ("på svenska", "sv"), ("ruotsinkielinen", "sv")],
)  # fmt: skip
def test_language(value: str, lang: str) -> None:
    assert language(value) == lang


def test_a_file_from_finnish_and_swedish_excel_imports_every_row(
    tmp_path: Path, engine: Engine, settings: Settings, config: Config
) -> None:
    path = tmp_path / "crm.csv"
    path.write_text(
        "Sähköposti;Suostumus;Koko;Kieli\n"
        "a@firma.fi;TOSI;yli 250;suomi\n"
        "b@firma.fi;SANT;1–9 anställda;sv-FI\n"
        "c@firma.fi;Kyllä 1.3.2024;10–49 hlö;englanti\n"
        "d@firma.fi;01/03/2024;50-249 työntekijää;svenska\n"
        "e@firma.fi;EPÄTOSI;över 250;fi-FI\n",
        encoding="utf-8",
    )
    report = import_csv(engine, settings, config, path, "vantaa")
    assert report.imported == 4
    # English is read as English; Vantaa sends in Finnish and Swedish only, so the
    # contact gets the city's first language, with a note on its line
    assert [(n.line, n.code) for n in report.warnings] == [(4, "language_offered")]
    assert [(n.line, n.code) for n in report.skipped] == [(6, "consent")]
    with Session(engine) as s:
        found = {p.email: (p.size_class, p.language) for p in s.scalars(select(Subscriber))}
    assert found == {
        "a@firma.fi": ("large", "fi"), "b@firma.fi": ("micro", "sv"),
        "c@firma.fi": ("small", "fi"), "d@firma.fi": ("medium", "sv"),
    }  # fmt: skip
