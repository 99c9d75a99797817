"""Settings: defaults, environment, and one-line errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

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
        ("OUTREACH_SEND_WORKERS", "abc", "setting OUTREACH_SEND_WORKERS: Input should be a valid"),
        ("OUTREACH_FETCH_WORKERS", "0", "setting OUTREACH_FETCH_WORKERS: Input should be greater"),
        ("OUTREACH_NO_SUCH_THING", "1", None),  # unknown variables are not ours to judge
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
