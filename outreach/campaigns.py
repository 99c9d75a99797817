"""Campaign and city files: the schema, the loader and the sync to the database.

``campaigns/cities.yaml`` lists the cities (tenants); every other ``*.yaml`` in
the folder is one campaign, ``kind: newsletter`` or ``kind: announcement``. A
file is loaded whole or not at all: every error names the file, the key path
and what was expected.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.dkim import DkimKeyError, load_key
from outreach.errors import CampaignError, OutreachError
from outreach.models import Campaign, City
from outreach.sandbox import check_text_template
from outreach.sources.registry import get_source_class

Lang = Literal["fi", "sv", "en"]
LANGUAGES: tuple[str, ...] = ("fi", "sv", "en")
LocalText = dict[Lang, str]
Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
DNS_NAME_RE = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")
CRON_FIELDS = ("year", "month", "day", "week", "day_of_week", "hour", "minute")


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _https_url(value: str | None) -> str | None:
    if value is not None and not re.match(r"^https?://[^\s<>\"']+$", value):
        raise ValueError("expected an http(s) URL")
    return value


class DkimConfig(Model):
    """``sender.dkim``: sign this city's mail with ``d=domain``, ``s=selector``."""

    selector: str
    domain: str
    key_file: Path  # PEM RSA or Ed25519 private key; relative to the working directory

    @field_validator("selector", "domain")
    @classmethod
    def _dns_name(cls, value: str, info: ValidationInfo) -> str:
        example = "s2026" if info.field_name == "selector" else "vantaa.fi"
        if not DNS_NAME_RE.match(value) or (info.field_name == "domain" and "." not in value):
            raise ValueError(f"expected a DNS name like {example}")
        return value.lower() if info.field_name == "domain" else value

    @model_validator(mode="after")
    def _key(self) -> DkimConfig:
        try:
            load_key(self.key_file)
        except DkimKeyError as exc:
            raise ValueError(str(exc)) from None
        return self


class Sender(Model):
    name: LocalText
    address: str
    reply_to: str | None = None
    dkim: DkimConfig | None = None

    @model_validator(mode="after")
    def _dkim_aligned(self) -> Sender:
        if self.dkim is not None:
            domain = self.dkim.domain.lower()
            from_domain = self.address.rpartition("@")[2].lower()
            if from_domain != domain and not from_domain.endswith("." + domain):
                raise ValueError(
                    f"dkim.domain {domain} must be the sender's domain {from_domain} "
                    "or a parent of it"
                )
        return self

    @field_validator("address", "reply_to")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not EMAIL_RE.match(value):
            raise ValueError(f"expected an email address, got {value!r}")
        return value

    @field_validator("name")
    @classmethod
    def _no_newlines(cls, value: dict[str, str]) -> dict[str, str]:
        for text in value.values():
            if "\r" in text or "\n" in text:
                raise ValueError("a sender name must be on one line")
        return value


class Footer(Model):
    address: LocalText
    website: str

    _url = field_validator("website")(_https_url)


class Branding(Model):
    color: str = "#00587a"
    logo_url: str | None = None
    logo_width: int = Field(default=160, ge=16, le=600)
    logo_height: int = Field(default=48, ge=16, le=300)

    _url = field_validator("logo_url")(_https_url)

    @field_validator("color")
    @classmethod
    def _colour(cls, value: str) -> str:
        if not re.fullmatch(r"#[0-9a-fA-F]{6}", value):
            raise ValueError("expected a colour like #00587a")
        return value


class CityConfig(Model):
    slug: Slug
    name: LocalText
    languages: list[Lang] = Field(min_length=1)
    timezone: str = "Europe/Helsinki"
    sender: Sender
    footer: Footer
    branding: Branding = Branding()
    mail_url: str | None = None
    topics: list[str] = Field(default_factory=lambda: ["climate"])
    #: Who is told when an approved issue is held (an item cancelled at its source).
    approvers: list[str] = Field(default_factory=list)

    @field_validator("approvers")
    @classmethod
    def _approver_emails(cls, value: list[str]) -> list[str]:
        for address in value:
            if not EMAIL_RE.match(address):
                raise ValueError(f"expected email addresses, got {address!r}")
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r} (expected e.g. Europe/Helsinki)") from exc
        return value

    @model_validator(mode="after")
    def _names(self) -> CityConfig:
        for lang in self.languages:
            if lang not in self.name:
                raise ValueError(f"name has no {lang!r} text but {lang!r} is a city language")
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class CitiesFile(Model):
    topics: dict[str, LocalText]
    cities: list[CityConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> CitiesFile:
        slugs = [c.slug for c in self.cities]
        if len(set(slugs)) != len(slugs):
            raise ValueError("city slugs must be unique")
        for city in self.cities:
            unknown = set(city.topics) - set(self.topics)
            if unknown:
                raise ValueError(f"{city.slug}: unknown topics {sorted(unknown)}")
        return self


class Schedule(Model):
    """APScheduler cron fields, read in the city's timezone."""

    year: str | int | None = None
    month: str | int | None = None
    day: str | int | None = None
    week: str | int | None = None
    day_of_week: str | int | None = None
    hour: str | int | None = None
    minute: str | int | None = 0

    def cron_kwargs(self) -> dict[str, str]:
        return {k: str(v) for k in CRON_FIELDS if (v := getattr(self, k)) is not None}

    def trigger(self, timezone: str) -> Any:
        from apscheduler.triggers.cron import CronTrigger

        return CronTrigger(timezone=timezone, **self.cron_kwargs())


class Audience(Model):
    topics: list[str] = Field(default_factory=list)
    size_classes: list[str] = Field(default_factory=list)
    industries: list[str] = Field(default_factory=list)  # TOL 2008 code prefixes


class SourceConfig(BaseModel):
    """``{type: rss, url: ...}``: the type picks which other keys are allowed."""

    model_config = ConfigDict(extra="allow", frozen=True)

    type: str

    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class Section(Model):
    id: Slug
    kind: Literal["news", "events", "stories", "links"]
    title: LocalText
    intro: LocalText = Field(default_factory=dict)
    max_items: int = Field(default=6, ge=1, le=50)
    window_days: int = Field(default=30, ge=1, le=366)  # first issue: look back this far
    horizon_days: int = Field(default=60, ge=1, le=366)
    include: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    language: Lang | None = None
    #: Whether an issue in another language may show this section's items in the
    #: campaign's fallback language; off where the sources already come in every
    #: language (e.g. a Finnish and a Swedish feed of the same news).
    fallback: bool = True
    #: Whether an upcoming event an earlier issue listed may be listed again (a
    #: reminder, a series' next date); unset: yes in ``events`` sections, else no.
    relist_upcoming: bool | None = None
    sources: list[SourceConfig] = Field(min_length=1)


class CampaignBase(Model):
    slug: Slug
    city: Slug
    title: LocalText = Field(default_factory=dict)
    languages: list[Lang] = Field(min_length=1)
    schedule: Schedule | None = None
    send_at: datetime | None = None  # one-off, in the city's timezone when naive
    grace_minutes: int = Field(default=60, ge=0)
    approval: Literal["manual", "auto"] = "manual"
    subject: LocalText
    preheader: LocalText = Field(default_factory=dict)
    audience: Audience = Audience()
    template: str = "newsletter"


class NewsletterCampaign(CampaignBase):
    kind: Literal["newsletter"]
    when_empty: Literal["skip", "send"] = "skip"
    #: An item cancelled at its source after approval, before the send: ``hold``
    #: the send and tell the approvers, or ``mark`` it cancelled in the message.
    on_cancelled: Literal["hold", "mark"] = "hold"
    fallback_language: Lang | None = "fi"
    intro: LocalText = Field(default_factory=dict)
    sections: list[Section] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_sections(self) -> NewsletterCampaign:
        ids = [s.id for s in self.sections]
        if len(set(ids)) != len(ids):
            raise ValueError("section ids must be unique")
        return self


class AnnouncementCampaign(CampaignBase):
    kind: Literal["announcement"]
    template: str = "announcement"
    body: LocalText  # a path to a Markdown file, relative to the campaigns folder


CampaignConfig = Annotated[NewsletterCampaign | AnnouncementCampaign, Field(discriminator="kind")]


class _CampaignFile(BaseModel):
    campaign: CampaignConfig


@dataclass
class Config:
    """Everything loaded from the campaigns folder."""

    root: Path
    topics: dict[str, dict[str, str]]
    cities: dict[str, CityConfig]
    campaigns: dict[str, NewsletterCampaign | AnnouncementCampaign]
    bodies: dict[tuple[str, str], str] = field(default_factory=dict)  # (slug, lang) → Markdown
    hashes: dict[str, str] = field(default_factory=dict)

    def city_of(self, campaign: CampaignBase) -> CityConfig:
        return self.cities[campaign.city]

    def campaign(self, slug: str) -> NewsletterCampaign | AnnouncementCampaign:
        try:
            return self.campaigns[slug]
        except KeyError:
            known = ", ".join(sorted(self.campaigns)) or "none"
            raise CampaignError(f'no campaign "{slug}" (known: {known})') from None


def _format_loc(loc: Iterable[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("campaign", "newsletter", "announcement")]
    return ".".join(parts) or "(top level)"


def _format_errors(path: Path, exc: ValidationError) -> list[str]:
    lines = []
    for err in exc.errors():
        got = err.get("input")
        shown = "" if isinstance(got, dict | list) or got is None else f" (got {got!r})"
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"{path}: {_format_loc(err['loc'])}: {msg}{shown}")
    return lines


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CampaignError(f"{path}: cannot read: {exc}") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "?"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise CampaignError(f"{path}: {where}: not valid YAML: {problem}") from exc


def _check_campaign(
    path: Path,
    camp: NewsletterCampaign | AnnouncementCampaign,
    cities: dict[str, CityConfig],
    topics: dict[str, Any],
    templates_dir: Path | None,
    root: Path,
    bodies: dict[tuple[str, str], str],
) -> list[str]:
    errors: list[str] = []

    def err(where: str, what: str) -> None:
        errors.append(f"{path}: {where}: {what}")

    if path.stem != camp.slug:
        err("slug", f"expected the file name's stem {path.stem!r}, got {camp.slug!r}")
    city = cities.get(camp.city)
    if city is None:
        err("city", f"expected one of {sorted(cities)}, got {camp.city!r}")
        return errors
    for lang in camp.languages:
        if lang not in city.languages:
            err("languages", f"{lang!r} is not a language of {city.slug} ({city.languages})")
        if lang not in camp.subject:
            err("subject", f"missing the {lang!r} subject")
    if camp.schedule is None and camp.send_at is None:
        err("schedule", "expected a schedule (cron fields) or send_at")
    if camp.schedule is not None:
        try:
            camp.schedule.trigger(city.timezone)
        except (ValueError, TypeError) as exc:
            err("schedule", f"invalid cron fields: {exc}")
    for topic in camp.audience.topics:
        if topic not in topics:
            err("audience.topics", f"unknown topic {topic!r} (known: {sorted(topics)})")
    for key, texts in (("subject", camp.subject), ("preheader", camp.preheader)):
        for lang, text in texts.items():
            problem = check_text_template(text)
            if problem:
                err(f"{key}.{lang}", problem)
    if templates_dir is not None:
        candidates = [
            templates_dir / "email" / city.slug / f"{camp.template}.html",
            templates_dir / "email" / f"{camp.template}.html",
        ]
        if not any(p.exists() for p in candidates):
            err("template", f"no template {camp.template}.html in {templates_dir / 'email'}")
    if isinstance(camp, NewsletterCampaign):
        for i, section in enumerate(camp.sections):
            for lang in camp.languages:
                if lang not in section.title:
                    err(f"sections.{i}.title", f"missing the {lang!r} title")
            for j, src in enumerate(section.sources):
                where = f"sections.{i}.sources.{j}"
                try:
                    cls = get_source_class(src.type)
                except OutreachError as exc:
                    err(f"{where}.type", str(exc))
                    continue
                try:
                    cls.options_model.model_validate(src.options())
                except ValidationError as exc:
                    for e in exc.errors():
                        loc = ".".join(str(p) for p in e["loc"])
                        msg = e["msg"].removeprefix("Value error, ")
                        err(f"{where}.{loc}" if loc else where, msg)
    else:
        for lang in camp.languages:
            rel = camp.body.get(lang)
            if rel is None:
                err("body", f"missing the {lang!r} body")
                continue
            body_path = (root / rel).resolve()
            if not body_path.is_relative_to(root.resolve()):
                err(f"body.{lang}", "expected a path inside the campaigns folder")
                continue
            try:
                bodies[(camp.slug, lang)] = body_path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                err(f"body.{lang}", f"cannot read {body_path}: {exc.__class__.__name__}")
    return errors


def collect(root: Path, templates_dir: Path | None = None) -> tuple[Config | None, list[str]]:
    """Load the folder; returns the config (None if any error) and every error line."""
    errors: list[str] = []
    cities_path = root / "cities.yaml"
    if not root.is_dir():
        return None, [f"{root}: campaigns folder not found (set OUTREACH_CAMPAIGNS_DIR)"]
    try:
        raw = _read_yaml(cities_path)
        cities_file = CitiesFile.model_validate(raw)
    except CampaignError as exc:
        return None, [str(exc)]
    except ValidationError as exc:
        return None, _format_errors(cities_path, exc)
    cities = {c.slug: c for c in cities_file.cities}
    campaigns: dict[str, NewsletterCampaign | AnnouncementCampaign] = {}
    bodies: dict[tuple[str, str], str] = {}
    hashes: dict[str, str] = {}
    for path in sorted(root.glob("*.yaml")):
        if path.name == "cities.yaml":
            continue
        try:
            raw = _read_yaml(path)
        except CampaignError as exc:
            errors.append(str(exc))
            continue
        if not isinstance(raw, dict):
            errors.append(f"{path}: (top level): expected a mapping of campaign keys")
            continue
        try:
            camp = _CampaignFile.model_validate({"campaign": raw}).campaign
        except ValidationError as exc:
            errors.extend(_format_errors(path, exc))
            continue
        file_bodies: dict[tuple[str, str], str] = {}
        problems = _check_campaign(
            path, camp, cities, cities_file.topics, templates_dir, root, file_bodies
        )
        if camp.slug in campaigns:
            problems.append(f"{path}: slug: {camp.slug!r} is used by another campaign file")
        if problems:
            errors.extend(problems)
            continue
        campaigns[camp.slug] = camp
        bodies.update(file_bodies)
        blob = json.dumps(camp.model_dump(mode="json"), sort_keys=True)
        hashes[camp.slug] = hashlib.sha256(blob.encode()).hexdigest()
    if errors:
        return None, errors
    return Config(
        root,
        {k: {str(lang): t for lang, t in v.items()} for k, v in cities_file.topics.items()},
        cities,
        campaigns,
        bodies,
        hashes,
    ), []


def load(root: Path, templates_dir: Path | None = None) -> Config:
    """Load everything or raise :class:`CampaignError` with the first error."""
    config, errors = collect(root, templates_dir)
    if config is None:
        more = f" (and {len(errors) - 1} more; run `outreach campaigns validate`)"
        raise CampaignError(errors[0] + (more if len(errors) > 1 else ""))
    return config


def sync(session: Session, config: Config) -> dict[str, Campaign]:
    """Upsert City and Campaign rows from the loaded files; returns campaigns by slug."""
    cities = {c.slug: c for c in session.scalars(select(City))}
    for slug, cfg in config.cities.items():
        row = cities.get(slug)
        if row is None:
            row = cities[slug] = City(slug=slug)
            session.add(row)
        row.names = {str(k): v for k, v in cfg.name.items()}
        row.languages = list(cfg.languages)
        row.timezone = cfg.timezone
    session.flush()
    rows = {c.slug: c for c in session.scalars(select(Campaign))}
    for slug, camp in config.campaigns.items():
        camp_row = rows.get(slug)
        if camp_row is None:
            camp_row = Campaign(slug=slug, city_id=cities[camp.city].id, kind=camp.kind)
            rows[slug] = camp_row
            session.add(camp_row)
        camp_row.city_id = cities[camp.city].id
        camp_row.kind = camp.kind
        camp_row.config_hash = config.hashes.get(slug)
    session.flush()
    return rows
