"""Settings: defaults, environment, and one-line errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from outreach import settings as settings_module
from outreach.errors import ConfigError
from outreach.settings import Settings, get_settings


def test_embedded_defaults() -> None:
    settings = get_settings()
    assert settings.database_url == "sqlite:///var/outreach.db"
    assert settings.mail_url == "file://var/outbox"
    assert settings.base_url == "http://localhost:8000"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("OUTREACH_SEND_WORKERS", "abc", "setting OUTREACH_SEND_WORKERS: expected a whole"),
        ("OUTREACH_FETCH_WORKERS", "0", "setting OUTREACH_FETCH_WORKERS: expected a whole"),
        ("OUTREACH_NO_SUCH_THING", "1", None),  # unknown variables: a warning, not an error
    ],
)
def test_bad_values_are_one_line_config_errors(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str | None
) -> None:
    monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    if expected is None:
        assert get_settings().send_workers == 4
        return
    with pytest.raises(ConfigError) as info:
        get_settings()
    assert str(info.value).startswith(expected)
    assert "\n" not in str(info.value)


def test_secret_key_is_generated_once_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(var_dir=tmp_path / "var")
    first = settings.secret()
    assert (tmp_path / "var" / "secret.key").stat().st_mode & 0o777 == 0o600
    assert "generated a new secret key" in caplog.text
    assert Settings(var_dir=tmp_path / "var").secret() == first
    with pytest.raises(ConfigError, match="at least 32"):
        Settings(secret_key="short").secret()


def test_the_secret_key_warning_is_in_the_staff_language(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OUTREACH_CLI_LANGUAGE", "sv")
    Settings(var_dir=tmp_path / "var").secret()
    assert f"en ny hemlig nyckel skapades i {tmp_path / 'var' / 'secret.key'}" in caplog.text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("127.0.0.1", ["127.0.0.1"]),
        ("127.0.0.1, intranet.example", ["127.0.0.1", "intranet.example"]),
        ('["127.0.0.1", "intranet.example"]', ["127.0.0.1", "intranet.example"]),
        ("", []),
    ],
)
def test_a_list_setting_takes_commas_or_json(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: list[str]
) -> None:
    monkeypatch.setenv("OUTREACH_FETCH_ALLOWED_HOSTS", value)
    get_settings.cache_clear()
    assert get_settings().fetch_allowed_hosts == expected


@pytest.mark.parametrize(
    ("lang", "name", "value", "expected"),
    [
        ("en", "OUTREACH_FETCH_WORKERS", "0",
         "setting OUTREACH_FETCH_WORKERS: expected a whole number from 1 to 256, got '0'"),
        ("fi", "OUTREACH_SEND_WORKERS", "neljä",
         "asetus OUTREACH_SEND_WORKERS: odotettiin kokonaislukua väliltä 1–64, saatiin 'neljä'"),
        ("sv", "OUTREACH_FETCH_READ_TIMEOUT", "snabbt",
         "inställningen OUTREACH_FETCH_READ_TIMEOUT: förväntade ett tal större än 0, "
         "fick 'snabbt'"),
        ("en", "OUTREACH_CLI_LANGUAGE", "de",
         "setting OUTREACH_CLI_LANGUAGE: expected fi, sv or en, got 'de'"),
        ("en", "OUTREACH_FETCH_ALLOWED_HOSTS", '["unclosed',
         "setting OUTREACH_FETCH_ALLOWED_HOSTS: expected a comma-separated list such as "
         "127.0.0.1,intranet.example, got '[\"unclosed'"),
        ("fi", "OUTREACH_DKIM_SELECTOR", "s2026",
         "OUTREACH_DKIM_SELECTOR, OUTREACH_DKIM_DOMAIN ja OUTREACH_DKIM_KEY_FILE kuuluvat yhteen"),
    ],
)  # fmt: skip
def test_every_settings_error_is_one_localised_line(
    monkeypatch: pytest.MonkeyPatch, lang: str, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv("OUTREACH_CLI_LANGUAGE", lang)
    monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    with pytest.raises(ConfigError) as info:
        get_settings()
    assert str(info.value).startswith(expected)
    assert "\n" not in str(info.value)


def test_a_settings_error_on_the_command_line_has_no_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from click.testing import CliRunner

    from outreach.cli import main

    monkeypatch.setenv("OUTREACH_FETCH_ALLOWED_HOSTS", "[127.0.0.1")
    monkeypatch.setenv("OUTREACH_CLI_LANGUAGE", "en")
    get_settings.cache_clear()
    result = CliRunner().invoke(main, ["campaigns", "list"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: setting OUTREACH_FETCH_ALLOWED_HOSTS: expected a comma-separated list such as "
        "127.0.0.1,intranet.example, got '[127.0.0.1'"
    ]


def test_an_unknown_variable_is_warned_about_with_the_closest_name(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OUTREACH_FETCH_ALLOWD_HOSTS", "127.0.0.1")
    monkeypatch.setenv("OUTREACH_ZZZ", "1")
    monkeypatch.setenv("OUTREACH_CLI_LANGUAGE", "fi")
    get_settings.cache_clear()
    get_settings()
    warned = [r.getMessage() for r in caplog.records if r.name == "outreach.settings"]
    assert (
        "tuntematon asetus OUTREACH_FETCH_ALLOWD_HOSTS; tarkoititko OUTREACH_FETCH_ALLOWED_HOSTS?"
        in warned
    )
    assert "tuntematon asetus OUTREACH_ZZZ" in warned


def test_the_settings_file_is_the_one_named_when_the_settings_are_made(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # read when the settings are made, not when outreach.settings was imported
    config = tmp_path / "outreach.toml"
    config.write_text("send_workers = 7\n", encoding="utf-8")
    monkeypatch.setenv("OUTREACH_CONFIG", str(config))
    get_settings.cache_clear()
    assert get_settings().send_workers == 7
    monkeypatch.delenv("OUTREACH_CONFIG")
    monkeypatch.chdir(tmp_path)  # outreach.toml of the working directory
    config.write_text("send_workers = 9\n", encoding="utf-8")
    get_settings.cache_clear()
    assert get_settings().send_workers == 9


@pytest.mark.parametrize(
    ("lang", "name", "expected"),
    [
        ("en", "missing.toml", "OUTREACH_CONFIG names {path}, which does not exist"),
        ("fi", "missing.toml", "OUTREACH_CONFIG nimeää tiedoston {path}, jota ei ole"),
        ("sv", "", "OUTREACH_CONFIG anger {path}, som är en mapp"),
    ],
)
def test_a_settings_file_named_but_not_there_is_an_error_not_the_defaults(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, lang: str, name: str, expected: str
) -> None:
    # a misspelt path would otherwise run on SQLite under var/ and mail into files
    path = tmp_path / name if name else tmp_path
    monkeypatch.setenv("OUTREACH_CONFIG", str(path))
    monkeypatch.setenv("OUTREACH_CLI_LANGUAGE", lang)
    get_settings.cache_clear()
    with pytest.raises(ConfigError) as info:
        get_settings()
    assert str(info.value) == expected.format(path=path)


@pytest.mark.parametrize(
    ("lang", "text", "expected"),
    [
        ("en", "send_workerz = 3\n",
         "{path}: unknown setting send_workerz; did you mean send_workers?"),
        ("fi", "OUTREACH_SEND_WORKERS = 3\n",
         "{path}: tuntematon asetus OUTREACH_SEND_WORKERS; tarkoititko send_workers?"),
        ("en", "zzz = 3\n", "{path}: unknown setting zzz"),
        ("sv", "send_workers = \n",
         "{path}: inte en TOML-fil (Invalid value (at line 1, column 16))"),
    ],
)  # fmt: skip
def test_a_settings_file_in_the_wrong_form_is_one_line_that_names_the_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, lang: str, text: str, expected: str
) -> None:
    config = tmp_path / "outreach.toml"
    config.write_text(text, encoding="utf-8")
    monkeypatch.setenv("OUTREACH_CONFIG", str(config))
    monkeypatch.setenv("OUTREACH_CLI_LANGUAGE", lang)
    get_settings.cache_clear()
    with pytest.raises(ConfigError) as info:
        get_settings()
    assert str(info.value) == expected.format(path=config)


def test_a_settings_file_that_cannot_be_read_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from click.testing import CliRunner
    from pydantic_settings import TomlConfigSettingsSource

    from outreach.cli import main

    def refused(self: object, path: Path) -> dict[str, object]:
        raise PermissionError(13, "Permission denied", str(path))

    config = tmp_path / "outreach.toml"
    config.write_text("send_workers = 3\n", encoding="utf-8")
    monkeypatch.setattr(TomlConfigSettingsSource, "_read_file", refused)
    monkeypatch.setenv("OUTREACH_CONFIG", str(config))
    monkeypatch.setenv("OUTREACH_CLI_LANGUAGE", "en")
    get_settings.cache_clear()
    result = CliRunner().invoke(main, ["campaigns", "list"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: {config}: cannot read the file (Permission denied)"
    ]


def test_a_secret_key_file_that_cannot_be_read_or_written_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    var = tmp_path / "var"
    (var / "secret.key").mkdir(parents=True)  # as unreadable as another user's 0600 file
    monkeypatch.setenv("OUTREACH_VAR_DIR", str(var))
    monkeypatch.setenv("OUTREACH_CLI_LANGUAGE", "fi")
    get_settings.cache_clear()
    with pytest.raises(ConfigError) as info:
        get_settings().secret()
    expected = f"{var / 'secret.key'}: salaista avainta ei voi lukea (Is a directory)"
    assert str(info.value) == expected

    def refused(*args: object) -> int:  # a var/ the service's user may not write in
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(settings_module.os, "open", refused)
    monkeypatch.setenv("OUTREACH_VAR_DIR", str(tmp_path / "other"))
    monkeypatch.setenv("OUTREACH_CLI_LANGUAGE", "en")
    get_settings.cache_clear()
    with pytest.raises(ConfigError) as info:
        get_settings().secret()
    assert str(info.value) == (
        f"{tmp_path / 'other' / 'secret.key'}: cannot write a new secret key "
        "(Permission denied); set OUTREACH_SECRET_KEY"
    )
