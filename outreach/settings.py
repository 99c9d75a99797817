"""Settings: ``OUTREACH_*`` environment variables, then ``outreach.toml``, then defaults.

The embedded defaults make ``outreach demo`` and ``outreach daemon`` work with no
set-up: SQLite and the file mail backend under ``var/``.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import secrets
import tomllib
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, get_origin

from annotated_types import Ge, Gt, Le
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from outreach.errors import ConfigError
from outreach.l10n import format_decimal, gettext_for, ngettext_for, staff_language

log = logging.getLogger(__name__)

#: Where the source tree keeps templates and campaigns; used when the working
#: directory has none (e.g. the package was installed and run from elsewhere).
SOURCE_ROOT = Path(__file__).resolve().parent.parent


class OidcRole(BaseModel):
    """One value of the provider's role claim, and the role it gives in a city."""

    model_config = ConfigDict(extra="forbid")
    value: str = Field(min_length=1)
    city: str = Field(min_length=1)  # a city's slug, or "*" with the admin role
    role: str = Field(pattern="^(editor|approver|admin)$")


class OidcProvider(BaseModel):
    """An OpenID Connect provider staff sign in through (Entra ID, Google, Keycloak…).

    ``cities`` limits the roles it may give (empty: any city, and admin); the
    ``claim`` of the ID token (a string or a list, e.g. ``groups`` or ``roles``) is
    looked up in ``roles``.
    """

    model_config = ConfigDict(extra="forbid")
    label: str = Field(min_length=1, max_length=80)
    issuer: str = Field(pattern="^https?://")
    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    cities: list[str] = Field(default_factory=list)
    claim: str = "groups"
    roles: list[OidcRole] = Field(default_factory=list)
    scope: str = "openid email profile"


class Settings(BaseSettings):
    """Runtime configuration. Every field maps to ``OUTREACH_<NAME>``."""

    model_config = SettingsConfigDict(
        env_prefix="OUTREACH_",
        extra="forbid",
        enable_decoding=False,  # list settings: parsed by _list below, commas or JSON
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

    # Pre-flight check of an issue (``outreach.checks``)
    #: Longest the link check of one issue may take; 0: links are not checked.
    check_link_seconds: float = Field(default=30.0, ge=0, le=600)
    #: Requests to one host at a time during a link check.
    check_link_per_host: int = Field(default=4, ge=1, le=32)
    #: A running spamd (``host:port``) that scores the spam check; empty, or when it
    #: does not answer: ``spamassassin`` (or ``spamc``) is started for each check.
    spamd: str = Field(default="", pattern=r"^$|^(\[[0-9A-Fa-f:.]+\]|[^\s:\[\]]+):\d{1,5}$")

    # Sending
    send_workers: int = Field(default=4, ge=1, le=64)
    send_batch_size: int = Field(default=100, ge=1, le=10_000)
    retry_lifetime_hours: float = Field(default=72.0, ge=0)
    rate_per_second: float = Field(default=0.0, ge=0)
    rate_per_hour: int = Field(default=0, ge=0)
    #: Policy refusals (5.7.x, 4.7.x, 421) from one provider within the window that
    #: pause a send and tell the city's approvers; 0: never pause.
    policy_pause_refusals: int = Field(default=10, ge=0)
    policy_pause_window_seconds: float = Field(default=300.0, gt=0)
    #: DKIM for every city without its own ``sender.dkim`` (all three or none);
    #: ``dkim_domain`` must be each such city's From domain or a parent of it.
    dkim_selector: str = ""
    dkim_domain: str = ""
    dkim_key_file: Path | None = None

    # Bounces and complaints (``outreach.bounces``)
    #: Return path of every city without its own ``sender.bounce_address``; empty: none.
    bounce_address: str = ""
    #: Soft bounces of one address within ``bounce_soft_days`` that suppress it.
    bounce_soft_threshold: int = Field(default=5, ge=1)
    bounce_soft_days: int = Field(default=7, ge=1)
    #: IMAP mailbox of ``outreach bounces poll`` (TLS always; port 993).
    bounce_imap_host: str = ""
    bounce_imap_port: int = Field(default=993, ge=1, le=65535)
    bounce_imap_user: str = ""
    bounce_imap_password: SecretStr | None = None
    bounce_imap_folder: str = "INBOX"
    bounce_imap_done_folder: str = "Processed"
    #: CA bundle to verify the IMAP server with; empty: the system's.
    bounce_imap_cafile: Path | None = None
    #: How often the daemon (and ``run-due``) polls that mailbox; only when
    #: ``bounce_imap_host`` and ``bounce_imap_user`` are set.
    bounce_imap_interval_minutes: float = Field(default=5.0, gt=0)
    #: Mailgun webhook signing key; empty: /hooks/mailgun refuses every request.
    mailgun_webhook_key: SecretStr | None = None

    # Subscriptions
    confirm_token_days: int = Field(default=7, ge=1)
    pending_purge_days: int = Field(default=30, ge=1)

    # Scheduler (``outreach daemon`` and ``outreach run-due``)
    scheduler_poll_seconds: float = Field(default=10.0, gt=0)
    send_check_seconds: float = Field(default=30.0, gt=0)
    fetch_interval_minutes: float = Field(default=60.0, gt=0)
    purge_interval_minutes: float = Field(default=60.0, gt=0)
    stop_timeout_seconds: float = Field(default=60.0, gt=0)

    # Staff console (docs/staff.md)
    staff_session_idle_minutes: float = Field(default=30.0, gt=0)
    staff_session_hours: float = Field(default=12.0, gt=0)
    #: Single sign-on providers by name: a JSON object in the environment, a table
    #: ``[staff_oidc.<name>]`` in outreach.toml.
    staff_oidc: dict[str, OidcProvider] = Field(default_factory=dict)

    # Retention (0 keeps the rows forever); consent records live as long as
    # their subscription, as proof of consent.
    retention_days_deliveries: int = Field(default=400, ge=0)
    retention_days_content: int = Field(default=400, ge=0)

    @field_validator("*", mode="before")
    @classmethod
    def _list(cls, value: Any, info: ValidationInfo) -> Any:
        """A list setting from the environment: ``a,b`` or a JSON list."""
        field = cls.model_fields.get(info.field_name or "")
        if field is None or get_origin(field.annotation) is not list or not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except ValueError:
                raise ValueError("not a JSON list") from None
        return [part.strip() for part in text.split(",") if part.strip()]

    @field_validator("cli_language", mode="before")
    @classmethod
    def _cli_language(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().lower()
            if value not in ("", "fi", "sv", "en"):
                raise ValueError("not fi, sv or en")
        return value

    @field_validator("staff_oidc", mode="before")
    @classmethod
    def _json_object(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return json.loads(value) if value.strip() else {}
            except ValueError:
                raise ValueError("not a JSON object") from None
        return value

    @model_validator(mode="after")
    def _dkim_all_or_none(self) -> Settings:
        given = [bool(self.dkim_selector), bool(self.dkim_domain), self.dkim_key_file is not None]
        if any(given) and not all(given):
            raise ValueError(DKIM_TOGETHER)
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
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=config_file()),
        )

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
                form = _("at least {min} characters", min=32)
                raise ConfigError(_expected_line("OUTREACH_SECRET_KEY", form, None))
            return value.encode()
        return _file_secret(self.var_dir / "secret.key")


def config_file() -> Path:
    """The settings file: ``OUTREACH_CONFIG``, else ``outreach.toml`` in the working
    directory. Read when the settings are made, not when this module is imported."""
    return Path(os.environ.get("OUTREACH_CONFIG") or "outreach.toml")


def _check_named_config() -> None:
    """A file ``OUTREACH_CONFIG`` names must be there: a misspelt path would otherwise
    run everything on the embedded defaults (the SQLite database under ``var/``, mail
    into files) without a word. ``outreach.toml`` itself is optional."""
    if not os.environ.get("OUTREACH_CONFIG"):
        return
    path = config_file()
    if not path.exists():
        raise ConfigError(_("OUTREACH_CONFIG names {path}, which does not exist", path=path))
    if path.is_dir():
        raise ConfigError(_("OUTREACH_CONFIG names {path}, which is a folder", path=path))


@lru_cache(maxsize=8)
def _file_secret(path: Path) -> bytes:
    """The key in ``path``, generated there once. A file that cannot be read (made
    by another user, mode 0600) or written is one line, not a traceback."""
    try:
        value = path.read_text().strip()
    except FileNotFoundError:
        value = secrets.token_urlsafe(48)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(value + "\n")
        except OSError as exc:
            reason = exc.strerror or exc.__class__.__name__
            raise ConfigError(
                _(
                    "{path}: cannot write a new secret key ({reason}); set OUTREACH_SECRET_KEY",
                    path=path,
                    reason=reason,
                )
            ) from None
        log.warning(
            _(
                "generated a new secret key in {path}; set OUTREACH_SECRET_KEY in "
                "production and keep it stable, or every emailed link stops working",
                path=path,
            )
        )
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise ConfigError(
            _("{path}: cannot read the secret key ({reason})", path=path, reason=reason)
        ) from None
    if len(value) < 32:
        raise ConfigError(
            _("{path} holds a secret key shorter than 32 characters; replace it", path=path)
        )
    return value.encode()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (tests call ``get_settings.cache_clear()``).

    A value in the wrong form is a :class:`ConfigError` of one line in the staff's
    language that names the variable and the form expected; an ``OUTREACH_*``
    variable that is no setting is warned about, with the closest name.
    """
    for name, close in unknown_variables(os.environ):
        if close:
            log.warning(_("unknown setting {name}; did you mean {close}?", name=name, close=close))
        else:
            log.warning(_("unknown setting {name}", name=name))
    _check_named_config()
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(_error_line(exc)) from None
    except SettingsError as exc:  # a source could not be read (e.g. outreach.toml)
        raise ConfigError(str(exc).splitlines()[0]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            _("{path}: not a TOML file ({error})", path=config_file(), error=exc)
        ) from None
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise ConfigError(
            _("{path}: cannot read the file ({reason})", path=config_file(), reason=reason)
        ) from None


#: ``OUTREACH_*`` variables that are read elsewhere (the configuration file's name;
#: the test suite's database and golden files; the crash benchmark).
OTHER_VARIABLES = frozenset(
    {
        "OUTREACH_CONFIG",
        "OUTREACH_TEST_DATABASE_URL",
        "OUTREACH_UPDATE_GOLDEN",
        "OUTREACH_CRASH_SEED",
        "OUTREACH_CRASH_KILLS",
    }
)
DKIM_TOGETHER = (
    "OUTREACH_DKIM_SELECTOR, OUTREACH_DKIM_DOMAIN and OUTREACH_DKIM_KEY_FILE "
    "go together: set all three or none"
)
LIST_EXAMPLE = "127.0.0.1,intranet.example"


def _staff_language() -> str:
    return staff_language(os.environ.get("OUTREACH_CLI_LANGUAGE", ""))


def _(msgid: str, **values: Any) -> str:
    """A ``cli`` catalog message in the staff's language (settings are not loaded yet)."""
    text = gettext_for(_staff_language(), "cli", msgid)
    return text.format(**values) if values else text


def _decimal(value: Any) -> str:
    """A number as the staff's language writes it (``0,5`` in Finnish and Swedish)."""
    return format_decimal(float(value), _staff_language(), None)


def unknown_variables(environ: Mapping[str, str]) -> list[tuple[str, str | None]]:
    """``OUTREACH_*`` names that are no setting, each with the closest setting's name."""
    known = {f"OUTREACH_{name.upper()}" for name in Settings.model_fields}
    found = []
    for name in sorted(environ):
        upper = name.upper()
        if upper.startswith("OUTREACH_") and upper not in known | OTHER_VARIABLES:
            # compared without the common prefix, which would make every name look close
            close = difflib.get_close_matches(upper[9:], sorted(k[9:] for k in known), n=1)
            found.append((name, f"OUTREACH_{close[0]}" if close else None))
    return found


def _form(field_name: str) -> str:
    """What a setting's value must look like, in the staff's language."""
    field = Settings.model_fields[field_name]
    kind = field.annotation
    if field_name == "cli_language":
        return _("fi, sv or en")
    low = next((m for m in field.metadata if isinstance(m, Ge | Gt)), None)
    high = next((m.le for m in field.metadata if isinstance(m, Le)), None)
    if get_origin(kind) is dict:
        return _("a JSON object as docs/staff.md describes")
    if get_origin(kind) is list:
        return _("a comma-separated list such as {example}", example=LIST_EXAMPLE)
    if kind is int:
        if low is not None and high is not None:
            return _("a whole number from {min} to {max}", min=getattr(low, "ge", 0), max=high)
        if low is not None:
            return _("a whole number of at least {min}", min=getattr(low, "ge", 0))
        return _("a whole number")
    if kind is float:
        if isinstance(low, Gt):
            return _("a number greater than {min}", min=_decimal(low.gt))
        if isinstance(low, Ge):
            return _("a number of at least {min}", min=_decimal(low.ge))
        return _("a number")
    if kind in (Path, Path | None):
        return _("a path")
    return _("text")


def _expected_line(variable: str, form: str, got: Any) -> str:
    if isinstance(got, str | int | float):
        return _(
            "setting {name}: expected {form}, got {got}", name=variable, form=form, got=repr(got)
        )
    return _("setting {name}: expected {form}", name=variable, form=form)


def _unknown_key_line(key: str) -> str:
    """A key of the settings file that is no setting, with the closest setting's name
    (``OUTREACH_SEND_WORKERS`` there is ``send_workers``)."""
    fields = sorted(Settings.model_fields)
    name = key.lower().removeprefix("outreach_")
    close = difflib.get_close_matches(name, fields, n=1)
    if name in fields or close:
        return _(
            "{path}: unknown setting {name}; did you mean {close}?",
            path=config_file(),
            name=key,
            close=name if name in fields else close[0],
        )
    return _("{path}: unknown setting {name}", path=config_file(), name=key)


def _error_line(exc: ValidationError) -> str:
    first = exc.errors()[0]
    loc = [str(p) for p in first["loc"]]
    if loc and loc[0] == "staff_oidc":  # never echo the value: it holds client secrets
        line = _expected_line("OUTREACH_STAFF_OIDC", _form(loc[0]), None)
        if len(loc) > 1:
            line += f" ({'.'.join(loc[1:])}: {first['msg']})"
    elif loc and first["type"] == "extra_forbidden":  # a key of the settings file
        line = _unknown_key_line(loc[0])
    elif loc and loc[0] in Settings.model_fields:
        line = _expected_line(f"OUTREACH_{loc[0].upper()}", _form(loc[0]), first.get("input"))
    else:  # a check across settings: its message names them
        line = _(first["msg"].removeprefix("Value error, "))
    if exc.error_count() > 1:
        more = exc.error_count() - 1
        lang = staff_language(os.environ.get("OUTREACH_CLI_LANGUAGE", ""))
        text = ngettext_for(lang, "cli", "{line} (and {n} more)", "{line} (and {n} more)", more)
        line = text.format(line=line, n=more)
    return line
