"""Settings: ``OUTREACH_*`` environment variables, then ``outreach.toml``, then defaults.

The embedded defaults make ``outreach demo`` and ``outreach daemon`` work with no
set-up: SQLite and the file mail backend under ``var/``.
"""

from __future__ import annotations

import logging
import os
import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from outreach.errors import ConfigError

log = logging.getLogger(__name__)

#: Where the source tree keeps templates and campaigns; used when the working
#: directory has none (e.g. the package was installed and run from elsewhere).
SOURCE_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Runtime configuration. Every field maps to ``OUTREACH_<NAME>``."""

    model_config = SettingsConfigDict(
        env_prefix="OUTREACH_",
        toml_file=os.environ.get("OUTREACH_CONFIG", "outreach.toml"),
        extra="forbid",
    )

    database_url: str = "sqlite:///var/outreach.db"
    mail_url: str = "file://var/outbox"
    base_url: str = "http://localhost:8000"
    secret_key: SecretStr | None = None
    campaigns_dir: Path = Path("campaigns")
    templates_dir: Path = Path("templates")
    var_dir: Path = Path("var")
    #: Language of the command line's messages; empty: from LANG (fi, sv, else en).
    cli_language: str = ""

    # Fetching sources
    fetch_connect_timeout: float = Field(default=5.0, gt=0)
    fetch_read_timeout: float = Field(default=15.0, gt=0)
    fetch_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    fetch_workers: int = Field(default=40, ge=1, le=256)
    fetch_allowed_hosts: list[str] = Field(default_factory=list)
    fetch_retries: int = Field(default=2, ge=0, le=10)
    #: Named in the User-Agent of every fetch; empty: the web app's base URL.
    contact_url: str = ""

    # Sending
    send_workers: int = Field(default=4, ge=1, le=64)
    send_batch_size: int = Field(default=100, ge=1, le=10_000)
    retry_lifetime_hours: float = Field(default=72.0, ge=0)
    rate_per_second: float = Field(default=0.0, ge=0)
    rate_per_hour: int = Field(default=0, ge=0)
    #: DKIM for every city without its own ``sender.dkim`` (all three or none);
    #: ``dkim_domain`` must be each such city's From domain or a parent of it.
    dkim_selector: str = ""
    dkim_domain: str = ""
    dkim_key_file: Path | None = None

    # Subscriptions
    confirm_token_days: int = Field(default=7, ge=1)
    pending_purge_days: int = Field(default=30, ge=1)

    # Scheduler (``outreach daemon`` and ``outreach run-due``)
    scheduler_poll_seconds: float = Field(default=10.0, gt=0)
    send_check_seconds: float = Field(default=30.0, gt=0)
    fetch_interval_minutes: float = Field(default=60.0, gt=0)
    purge_interval_minutes: float = Field(default=60.0, gt=0)
    stop_timeout_seconds: float = Field(default=60.0, gt=0)

    # Retention (0 keeps the rows forever); consent records live as long as
    # their subscription, as proof of consent.
    retention_days_deliveries: int = Field(default=400, ge=0)
    retention_days_content: int = Field(default=400, ge=0)

    @model_validator(mode="after")
    def _dkim_all_or_none(self) -> Settings:
        given = [bool(self.dkim_selector), bool(self.dkim_domain), self.dkim_key_file is not None]
        if any(given) and not all(given):
            raise ValueError(
                "OUTREACH_DKIM_SELECTOR, OUTREACH_DKIM_DOMAIN and OUTREACH_DKIM_KEY_FILE "
                "go together: set all three or none"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    @property
    def base_url_clean(self) -> str:
        return self.base_url.rstrip("/")

    def resolve_dir(self, path: Path) -> Path:
        """A configured relative directory, falling back to the source tree's copy."""
        if path.is_absolute() or path.exists():
            return path
        fallback = SOURCE_ROOT / path
        return fallback if fallback.exists() else path

    @property
    def campaigns_path(self) -> Path:
        return self.resolve_dir(self.campaigns_dir)

    @property
    def templates_path(self) -> Path:
        return self.resolve_dir(self.templates_dir)

    def secret(self) -> bytes:
        """The signing key: the setting, else ``var/secret.key`` (generated once)."""
        if self.secret_key is not None:
            value = self.secret_key.get_secret_value()
            if len(value) < 32:
                raise ConfigError("OUTREACH_SECRET_KEY must be at least 32 characters long")
            return value.encode()
        return _file_secret(self.var_dir / "secret.key")


@lru_cache(maxsize=8)
def _file_secret(path: Path) -> bytes:
    try:
        value = path.read_text().strip()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(value + "\n")
        log.warning(
            "generated a new secret key in %s; set OUTREACH_SECRET_KEY in production "
            "and keep it stable, or every emailed link stops working",
            path,
        )
    if len(value) < 32:
        raise ConfigError(f"{path} holds a secret key shorter than 32 characters; replace it")
    return value.encode()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (tests call ``get_settings.cache_clear()``)."""
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "OUTREACH_" + "_".join(str(p) for p in first["loc"]).upper()
        got = first.get("input")
        shown = f" (got {got!r})" if isinstance(got, str | int | float) else ""
        more = f" and {exc.error_count() - 1} more" if exc.error_count() > 1 else ""
        raise ConfigError(f"setting {name}: {first['msg']}{shown}{more}") from exc
