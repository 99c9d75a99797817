"""`campaigns validate` catches what used to surface only at run or build time."""

from __future__ import annotations

import re
import shutil
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from click.testing import CliRunner

from outreach.campaigns import collect, load
from outreach.cli import main
from outreach.scheduler.timing import next_runs
from outreach.settings import get_settings
from tests.conftest import ROOT

HELSINKI = ZoneInfo("Europe/Helsinki")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    dest = tmp_path / "campaigns"
    shutil.copytree(ROOT / "campaigns", dest)
    return dest


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def test_a_schedule_that_never_fires_is_refused(root: Path) -> None:
    path = root / "kerava-monthly.yaml"
    edit(path, 'schedule: {day: "1st tue", hour: 9}', "schedule: {day: 31, month: 2, hour: 9}")
    config, errors = collect(root)
    assert config is not None and "kerava-monthly" not in config.campaigns
    assert any(f"{path}: schedule: never fires" in e for e in errors), errors


def test_a_misspelt_key_gets_did_you_mean_and_its_line(root: Path) -> None:
    path = root / "kerava-monthly.yaml"
    edit(path, "    max_items: 6", "    max_itmes: 6")
    edit(path, "approval: manual", "aproval: manual")
    _, errors = collect(root)
    section = next(e for e in errors if "max_itmes" in e)
    assert section.startswith(f"{path}: sections.0.max_itmes: unknown key")
    assert "did you mean 'max_items'?" in section
    assert section.endswith(f"(line {line_of(path, 'max_itmes')})")
    top = next(e for e in errors if "aproval" in e)
    assert "did you mean 'approval'?" in top and f"(line {line_of(path, 'aproval')})" in top


def test_a_jinja_error_in_a_subject_names_file_and_key(root: Path) -> None:
    path = root / "kerava-monthly.yaml"
    edit(path, "{{ issue.period_label }}", "{{ issue.period_lable }}")
    _, errors = collect(root)
    found = [e for e in errors if e.startswith(f"{path}: subject.fi: ")]
    assert found and "period_lable" in found[0], errors
    assert "issue.period_label" in found[0]  # the values a subject may use


def validate(root: Path, monkeypatch: pytest.MonkeyPatch, lang: str) -> tuple[int, str, str]:
    monkeypatch.setenv("OUTREACH_CAMPAIGNS_DIR", str(root))
    monkeypatch.setenv("OUTREACH_TEMPLATES_DIR", str(ROOT / "templates"))
    monkeypatch.setenv("OUTREACH_CLI_LANGUAGE", lang)
    get_settings.cache_clear()
    result = CliRunner().invoke(main, ["campaigns", "validate"], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_next_runs_are_in_the_city_time_zone(root: Path) -> None:
    config = load(root)
    camp = config.campaign("vantaa-monthly")  # {day: "1st tue", hour: 9}
    now = datetime(2026, 12, 1, 10, 0, tzinfo=HELSINKI)  # just after a first Tuesday
    runs = [r.astimezone(HELSINKI) for r in next_runs(camp, "Europe/Helsinki", now)]
    assert runs == [
        datetime(2027, 1, 5, 9, 0, tzinfo=HELSINKI),
        datetime(2027, 2, 2, 9, 0, tzinfo=HELSINKI),
        datetime(2027, 3, 2, 9, 0, tzinfo=HELSINKI),
    ]
    award = config.campaign("kerava-environmental-award")  # {month: 10, day: 1, hour: 9}
    assert [r.astimezone(HELSINKI).year for r in next_runs(award, "Europe/Helsinki", now)] == [
        2027,
        2028,
        2029,
    ]


def test_validate_prints_the_next_three_runs_in_local_time(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = validate(root, monkeypatch, "fi")
    assert code == 0, out
    line = next(x for x in out.splitlines() if x.startswith("vantaa-monthly: "))
    runs = re.findall(r"ti (\d{1,2})\.\d{1,2}\.\d{4} klo 9\.00", line)  # first Tuesdays
    assert len(runs) == 3 and all(int(day) <= 7 for day in runs), line
    award = next(x for x in out.splitlines() if x.startswith("kerava-environmental-award: "))
    assert len(re.findall(r" 1\.10\.\d{4} klo 9\.00", award)) == 3, award


def test_validate_warns_about_a_schedule_without_an_hour(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = root / "kerava-monthly.yaml"
    edit(path, 'schedule: {day: "1st tue", hour: 9}', 'schedule: {day: "1st tue"}')
    code, out, err = validate(root, monkeypatch, "en")
    assert code == 0
    assert f"warning: {path}: schedule: no hour, so it runs every hour" in err
    line = next(x for x in out.splitlines() if x.startswith("kerava-monthly: "))
    assert len(re.findall(r"Tue \d+\.\d+\.\d{4} at \d+:00", line)) == 3, line

    now = datetime(2027, 1, 5, 5, 30, tzinfo=HELSINKI)  # a first Tuesday
    camp = load(root).campaign("kerava-monthly")
    hours = [r.astimezone(HELSINKI).hour for r in next_runs(camp, "Europe/Helsinki", now)]
    assert hours == [6, 7, 8]


def test_validate_still_exits_1_and_shows_the_others(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (root / "kerava-monthly.yaml").write_text("slug: [\n")
    code, out, err = validate(root, monkeypatch, "sv")
    assert code == 1
    assert "kerava-monthly.yaml: line" in err
    assert any(x.startswith("vantaa-monthly: ") for x in out.splitlines())


def keep_only(root: Path, cities: set[str], campaigns: set[str]) -> None:
    """The cities ``cities`` of cities.yaml and the campaign files ``campaigns``, no others."""
    path = root / "cities.yaml"
    data = yaml.safe_load(path.read_text())
    data["cities"] = [city for city in data["cities"] if city["slug"] in cities]
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    for file in root.glob("*.yaml"):
        if file.name != "cities.yaml" and file.stem not in campaigns:
            file.unlink()


@pytest.mark.parametrize(
    ("lang", "said"),
    [
        ("fi", "1 kaupunki ja 1 kampanja ovat kunnossa."),
        ("sv", "1 stad och 1 kampanj är giltiga."),
        ("en", "1 city and 1 campaign are valid."),
    ],
)
def test_validate_counts_one_city_and_one_campaign_in_the_singular(
    root: Path, monkeypatch: pytest.MonkeyPatch, lang: str, said: str
) -> None:
    keep_only(root, {"jarvenpaa"}, {"jarvenpaa-monthly"})
    code, out, err = validate(root, monkeypatch, lang)
    assert code == 0, err
    assert out.splitlines()[-1] == said


@pytest.mark.parametrize(
    ("lang", "said"),
    [
        ("fi", "2 kaupunkia ja 3 kampanjaa ovat kunnossa."),
        ("sv", "2 städer och 3 kampanjer är giltiga."),
        ("en", "2 cities and 3 campaigns are valid."),
    ],
)
def test_validate_counts_more_cities_and_campaigns_in_the_plural(
    root: Path, monkeypatch: pytest.MonkeyPatch, lang: str, said: str
) -> None:
    keep_only(
        root, {"kerava", "jarvenpaa"}, {"kerava-monthly", "kerava-environmental-award",
                                         "jarvenpaa-monthly"}
    )  # fmt: skip
    code, out, err = validate(root, monkeypatch, lang)
    assert code == 0, err
    assert out.splitlines()[-1] == said


@pytest.mark.parametrize(
    ("lang", "one", "two"),
    [
        ("fi", "1 virheellinen tiedosto jätetään pois, kunnes se on korjattu.",
         "2 virheellistä tiedostoa jätetään pois, kunnes ne on korjattu."),
        ("sv", "1 fil med fel lämnas bort tills den har rättats.",
         "2 filer med fel lämnas bort tills de har rättats."),
        ("en", "1 file with errors is left out until it is fixed.",
         "2 files with errors are left out until they are fixed."),
    ],
)  # fmt: skip
def test_validate_counts_the_files_with_errors(
    root: Path, monkeypatch: pytest.MonkeyPatch, lang: str, one: str, two: str
) -> None:
    (root / "kerava-monthly.yaml").write_text("slug: [\n")
    code, out, _ = validate(root, monkeypatch, lang)
    assert code == 1 and out.splitlines()[-1] == one
    (root / "vantaa-monthly.yaml").write_text("slug: [\n")
    code, out, _ = validate(root, monkeypatch, lang)
    assert code == 1 and out.splitlines()[-1] == two


def test_validate_accepts_a_municipality_and_warns_where_its_texts_say_city(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``kind: municipality`` is valid; a text of cities.yaml shown about it that says
    "kaupunki" (a shared topic's name, its sender's name) is a warning, not an error."""
    path = root / "cities.yaml"
    edit(path, "    name: {fi: Kerava, sv: Kervo, en: Kerava}\n",
         "    name: {fi: Kerava, sv: Kervo, en: Kerava}\n    kind: municipality\n")  # fmt: skip
    code, out, err = validate(root, monkeypatch, "fi")
    assert code == 0 and "ovat kunnossa" in out, err
    assert load(root).cities["kerava"].kind == "municipality"
    assert load(root).cities["vantaa"].kind == "city"  # the default
    warned = [line for line in err.splitlines() if line.startswith("varoitus: ")]
    assert warned == [
        f"varoitus: {path}: topics.climate.fi: ”Kaupungin ilmastotyö ja uutiset” puhuu "
        "kaupungista, mutta kerava on kunta (kind: municipality); kirjoita se niin, että se "
        "sopii jokaiselle paikalle",
        f"varoitus: {path}: sender.name.fi: ”Keravan kaupunki” puhuu kaupungista, mutta "
        "kerava on kunta (kind: municipality); kirjoita se niin, että se sopii jokaiselle "
        "paikalle",
        f"varoitus: {path}: footer.address.fi: ”Keravan kaupunki, Kauppakaari 11, 04200 "
        "Kerava” puhuu kaupungista, mutta kerava on kunta (kind: municipality); kirjoita se "
        "niin, että se sopii jokaiselle paikalle",
    ]
    edit(path, "    kind: municipality\n", "")
    assert validate(root, monkeypatch, "fi")[2].count("varoitus: ") == 0
