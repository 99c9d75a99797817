"""One broken campaign file leaves out that file only; a broken city entry leaves out that
city and its campaigns; a cities.yaml broken elsewhere stops the load."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from outreach.campaigns import collect, load
from outreach.cli import main
from outreach.db import create_db_engine, dispose_engines
from outreach.errors import CampaignError
from outreach.models import Base
from outreach.settings import get_settings
from tests.conftest import ROOT
from tests.scheduler.helpers import make_campaigns


def copy_campaigns(tmp_path: Path) -> Path:
    dest = tmp_path / "campaigns"
    shutil.copytree(ROOT / "campaigns", dest)
    return dest


def break_files(root: Path) -> None:
    """A YAML syntax error in one file, a schema error in another."""
    (root / "kerava-monthly.yaml").write_text("slug: [unclosed\n")
    path = root / "vantaa-monthly.yaml"
    path.write_text(path.read_text().replace("max_items: 6", "max_items: lots", 1))


def test_a_broken_file_is_left_out_and_the_others_load(tmp_path: Path) -> None:
    root = copy_campaigns(tmp_path)
    break_files(root)
    config, errors = collect(root, ROOT / "templates")
    assert config is not None
    assert set(config.campaigns) == {"jarvenpaa-monthly", "kerava-environmental-award"}
    assert set(config.broken) == {"kerava-monthly.yaml", "vantaa-monthly.yaml"}
    assert config.cities_ok and set(config.cities) == {"vantaa", "kerava", "jarvenpaa"}
    assert any("kerava-monthly.yaml: line" in e for e in errors)
    assert any("vantaa-monthly.yaml: sections." in e and "'lots'" in e for e in errors)


def test_load_logs_each_file_it_leaves_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = copy_campaigns(tmp_path)
    break_files(root)
    with caplog.at_level(logging.ERROR, logger="outreach.campaigns"):
        config = load(root)
    assert "vantaa-monthly" not in config.campaigns and "jarvenpaa-monthly" in config.campaigns
    logged = [r.getMessage() for r in caplog.records]
    assert any("kerava-monthly.yaml left out" in m for m in logged)
    assert any("vantaa-monthly.yaml left out" in m for m in logged)


def test_a_broken_cities_file_stops_the_load(tmp_path: Path) -> None:
    root = copy_campaigns(tmp_path)
    (root / "cities.yaml").write_text("cities: [\n")
    config, errors = collect(root)
    assert config is None and "cities.yaml: line" in errors[0]
    with pytest.raises(CampaignError, match=r"cities\.yaml"):
        load(root)


def test_a_city_whose_entry_has_an_error_is_left_out_with_its_campaigns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Kerava's DKIM key file cannot be read: Vantaa and Järvenpää still run."""
    root = copy_campaigns(tmp_path)
    cities = root / "cities.yaml"
    missing = tmp_path / "kerava.pem"
    cities.write_text(
        cities.read_text().replace(
            "      address: ilmasto@kerava.fi\n",
            "      address: ilmasto@kerava.fi\n"
            f"      dkim: {{selector: s1, domain: kerava.fi, key_file: {missing}}}\n",
        )
    )
    config, errors = collect(root, ROOT / "templates")
    assert config is not None and config.cities_ok
    assert set(config.cities) == {"vantaa", "jarvenpaa"} and config.left_out == {"kerava"}
    assert not config.city_ok("kerava") and config.city_ok("vantaa")
    assert set(config.campaigns) == {"vantaa-monthly", "jarvenpaa-monthly"}
    assert set(config.broken) == {
        "cities.yaml (kerava)", "kerava-monthly.yaml", "kerava-environmental-award.yaml"
    }  # fmt: skip
    assert any("cities.1.sender.dkim" in e and "kerava.pem" in e and "(line " in e for e in errors)
    with caplog.at_level(logging.ERROR, logger="outreach.campaigns"):
        load(root)
    assert any("city kerava left out" in r.getMessage() for r in caplog.records)
    # a reload keeps what ran before the error
    cities.write_text((ROOT / "campaigns" / "cities.yaml").read_text())
    before = load(root)
    cities.write_text(cities.read_text().replace('color: "#1b5e3b"', 'color: "#ffff00"'))
    after = load(root).keeping(before)
    assert after.cities["kerava"] == before.cities["kerava"] and after.city_ok("kerava")
    assert "kerava-monthly" in after.campaigns and "cities.yaml (kerava)" in after.broken


def test_an_error_outside_the_city_entries_still_stops_the_load(tmp_path: Path) -> None:
    root = copy_campaigns(tmp_path)
    cities = root / "cities.yaml"
    text = cities.read_text()
    cities.write_text(text.replace("  climate:\n    fi:", "  climate:\n    fr:", 1))
    assert collect(root)[0] is None
    # every city broken: nothing is left to run, so the file as a whole is the error
    cities.write_text(text.replace("timezone: Europe/Helsinki", "timezone: Europe/Helsinky"))
    assert collect(root)[0] is None


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """The CLI over an announcements-only folder (no network) plus one broken file."""
    folder = make_campaigns(tmp_path / "campaigns")
    (folder / "kerava-typo.yaml").write_text("slug: kerava-typo\nkind: [newsletter\n")
    db = tmp_path / "outreach.db"
    engine = create_db_engine(f"sqlite:///{db}")
    Base.metadata.create_all(engine)
    engine.dispose()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OUTREACH_DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.setenv("OUTREACH_CAMPAIGNS_DIR", str(folder))
    monkeypatch.setenv("OUTREACH_TEMPLATES_DIR", str(ROOT / "templates"))
    monkeypatch.setenv("OUTREACH_MAIL_URL", "memory:")
    monkeypatch.setenv("OUTREACH_SECRET_KEY", "cli-test-secret-0123456789abcdef0123456789")
    monkeypatch.setenv("OUTREACH_CLI_LANGUAGE", "en")
    get_settings.cache_clear()
    yield CliRunner()
    dispose_engines()


def invoke(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(main, list(args), catch_exceptions=False)


@pytest.mark.parametrize("args", [("campaigns", "list"), ("status",), ("run-due",), ("fetch",)])
def test_commands_run_the_other_campaigns(cli: CliRunner, args: tuple[str, ...]) -> None:
    result = invoke(cli, *args)
    assert result.exit_code == 0, result.output


def test_list_and_status_name_the_campaigns_and_the_broken_file(cli: CliRunner) -> None:
    listing = invoke(cli, "campaigns", "list")
    assert "vantaa-news" in listing.output and "kerava-award" in listing.output
    status = invoke(cli, "status")
    assert "vantaa-news: next" in status.output
    assert "campaign files left out: 1" in status.output
    assert "kerava-typo.yaml: line" in status.output


def test_validate_still_fails_on_a_broken_file(cli: CliRunner) -> None:
    result = invoke(cli, "campaigns", "validate")
    assert result.exit_code == 1
    assert "kerava-typo.yaml: line" in result.output


def test_status_reports_a_broken_cities_file(cli: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "campaigns" / "cities.yaml").write_text("topics: {}\ncities: []\n")
    status = invoke(cli, "status")
    assert status.exit_code == 0, status.output
    assert "campaign files left out: 1" in status.output and "cities.yaml: cities" in status.output
    listing = cli.invoke(main, ["campaigns", "list"])
    assert listing.exit_code == 1 and "\n" not in listing.output.strip()
    assert "cities.yaml" in listing.output


def test_a_reload_keeps_the_previous_version_of_a_broken_file(tmp_path: Path) -> None:
    root = copy_campaigns(tmp_path)
    before = load(root)
    (root / "kerava-monthly.yaml").write_text("slug: [\n")
    after = load(root).keeping(before)
    assert after.campaigns["kerava-monthly"] == before.campaigns["kerava-monthly"]
    assert "kerava-monthly.yaml" in after.broken  # still reported
    assert "kerava-monthly" not in load(root).campaigns  # a fresh start leaves it out


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("smtpx://mail.kerava.fi", 'No mail backend by the name "smtpx"'),
        ("smtp://mail.kerava.fi:587?starttls=maybe", "starttls='maybe'"),
    ],
)
def test_validate_finds_a_city_mail_url_no_backend_takes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, said: str
) -> None:
    """Found by `campaigns validate`, not at the city's first send (which then stops)."""
    root = copy_campaigns(tmp_path)
    cities = root / "cities.yaml"
    cities.write_text(
        cities.read_text().replace(
            "    timezone: Europe/Helsinki\n",
            f"    timezone: Europe/Helsinki\n    mail_url: '{url}'\n",
            2,
        )
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OUTREACH_CAMPAIGNS_DIR", str(root))
    get_settings.cache_clear()
    result = CliRunner().invoke(main, ["campaigns", "validate"])
    get_settings.cache_clear()
    assert result.exit_code == 1, result.output
    assert "cities.yaml: vantaa.mail_url: " in result.stderr and said in result.stderr
    assert "kerava.mail_url" in result.stderr and "jarvenpaa" not in result.stderr
    assert "are valid" not in result.output
