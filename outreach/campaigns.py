"""Campaign and city files: the schema, the loader and the sync to the database.

``campaigns/cities.yaml`` lists the cities (tenants); every other ``*.yaml`` in
the folder is one campaign, ``kind: newsletter`` or ``kind: announcement``. A
file is loaded whole or not at all: every error names the file, the key path
and what was expected. A campaign file with an error is left out and the others
load (one city's typo must not stop every city); an error in ``cities.yaml``
stops the load, since every campaign needs its city.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
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

from outreach.campaign_errors import unknown_key, with_lines
from outreach.dkim import DkimKeyError, load_key
from outreach.errors import CampaignError, OutreachError
from outreach.models import Campaign, City
from outreach.sandbox import check_text_template, check_text_values
from outreach.sources.registry import get_source_class

Lang = Literal["fi", "sv", "en"]
LANGUAGES: tuple[str, ...] = ("fi", "sv", "en")
LocalText = dict[Lang, str]
Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
DNS_NAME_RE = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")
log = logging.getLogger(__name__)
CITIES_FILE = "cities.yaml"
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # "never fires" means from any start
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


class CityForms(Model):
    """Inflected forms of a city's name, so running text can use it without brackets."""

    genitive: str | None = None  # fi "Vantaan", sv "Vandas"
    #: "in the city": fi inessive or adessive as the name takes it ("Järvenpäässä",
    #: "Vantaalla"); sv "i Vanda" needs none.
    locative: str | None = None


class CityConfig(Model):
    slug: Slug
    name: LocalText
    forms: dict[Lang, CityForms] = Field(default_factory=dict)
    languages: list[Lang] = Field(min_length=1)
    timezone: str = "Europe/Helsinki"
    sender: Sender
    footer: Footer
    branding: Branding = Branding()
    mail_url: str | None = None
    topics: list[str] = Field(default_factory=lambda: ["climate"])
    #: Who is told when an approved issue is held (an item cancelled at its source).
    approvers: list[str] = Field(default_factory=list)
    #: ``four_eyes``: in the console, whoever last built or edited an issue may not
    #: approve it (docs/staff.md); ``single``: anyone with the approver role may.
    approval: Literal["single", "four_eyes"] = "single"

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

    def genitive(self, lang: str) -> str:
        """The name in the genitive: ``forms``, else the regular ending of ``lang``
        (fi -n after a vowel, sv -s, en 's); set ``forms`` where the rule is wrong."""
        forms: dict[str, CityForms] = {str(k): v for k, v in self.forms.items()}
        own = forms.get(lang)
        if own is not None and own.genitive:
            return own.genitive
        names: dict[str, str] = {str(k): v for k, v in self.name.items()}
        return regular_genitive(names.get(lang) or next(iter(names.values()), self.slug), lang)


def regular_genitive(name: str, lang: str) -> str:
    """``name`` with the regular genitive ending of ``lang`` (fi -n after a vowel,
    sv -s, en 's)."""
    if lang == "fi":
        return name + "n" if name[-1:].lower() in "aeiouyäö" else name
    if lang == "sv":
        return name if name[-1:].lower() in "sxz" else name + "s"
    return name + "'s"


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
    #: Per language: ``skip`` a language with no items (its readers get nothing this
    #: time), ``fallback`` (its readers get the fallback language's version) or
    #: ``send`` it anyway. Nothing in any language: no issue unless ``send``.
    when_empty: Literal["skip", "send", "fallback"] = "skip"
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
    #: Files left out because of errors: file name → its error lines.
    broken: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def unavailable(cls, root: Path, errors: list[str]) -> Config:
        """No cities and no campaigns: what is left when ``cities.yaml`` is broken."""
        return cls(root, {}, {}, {}, broken={CITIES_FILE: list(errors)})

    def keeping(self, previous: Config) -> Config:
        """This config plus the previous version of each campaign whose file is broken
        now: a reload keeps running what ran before the typo (the file stays broken)."""
        for name in self.broken:
            slug = Path(name).stem
            old = previous.campaigns.get(slug)
            if old is None or slug in self.campaigns or old.city not in self.cities:
                continue
            self.campaigns[slug] = old
            if slug in previous.hashes:
                self.hashes[slug] = previous.hashes[slug]
            self.bodies.update({k: v for k, v in previous.bodies.items() if k[0] == slug})
        return self

    @property
    def cities_ok(self) -> bool:
        """Whether ``cities.yaml`` loaded (the cities and their senders are known)."""
        return CITIES_FILE not in self.broken

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
        if err["type"] == "extra_forbidden":
            model, loc = _schema_of(err["loc"])
            msg, shown = unknown_key(model, loc), ""
        lines.append(f"{path}: {_format_loc(err['loc'])}: {msg}{shown}")
    return lines


def _schema_of(loc: tuple[int | str, ...]) -> tuple[type[BaseModel], tuple[int | str, ...]]:
    """The model an error's ``loc`` starts in, and the loc inside it."""
    if loc[:1] == ("campaign",):
        kinds: dict[str, type[BaseModel]] = {
            "newsletter": NewsletterCampaign,
            "announcement": AnnouncementCampaign,
        }
        return kinds.get(str(loc[1]), CampaignBase), loc[2:]
    return CitiesFile, loc


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
            trigger = camp.schedule.trigger(city.timezone)
        except (ValueError, TypeError) as exc:
            err("schedule", f"invalid cron fields: {exc}")
        else:
            if trigger.get_next_fire_time(None, _EPOCH) is None:
                err("schedule", "never fires: no date matches all its fields (e.g. 31 February)")
    for topic in camp.audience.topics:
        if topic not in topics:
            err("audience.topics", f"unknown topic {topic!r} (known: {sorted(topics)})")
    for key, texts in (("subject", camp.subject), ("preheader", camp.preheader)):
        for lang, text in texts.items():
            problem = check_text_template(text) or check_text_values(text)
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
    """Load the folder; returns the config and every error line.

    The config is None when ``cities.yaml`` (or the folder) cannot be loaded;
    otherwise it holds every campaign file without an error, and
    :attr:`Config.broken` names the files left out.
    """
    cities_path = root / CITIES_FILE
    if not root.is_dir():
        return None, [f"{root}: campaigns folder not found (set OUTREACH_CAMPAIGNS_DIR)"]
    try:
        raw = _read_yaml(cities_path)
        cities_file = CitiesFile.model_validate(raw)
    except CampaignError as exc:
        return None, [str(exc)]
    except ValidationError as exc:
        return None, _lines(cities_path, _format_errors(cities_path, exc))
    cities = {c.slug: c for c in cities_file.cities}
    campaigns: dict[str, NewsletterCampaign | AnnouncementCampaign] = {}
    bodies: dict[tuple[str, str], str] = {}
    hashes: dict[str, str] = {}
    broken: dict[str, list[str]] = {}
    for path in sorted(root.glob("*.yaml")):
        if path.name == CITIES_FILE:
            continue
        problems, camp, file_bodies = _load_campaign_file(
            path, cities, cities_file.topics, templates_dir, root
        )
        if camp is not None and camp.slug in campaigns:
            problems.append(f"{path}: slug: {camp.slug!r} is used by another campaign file")
        if problems or camp is None:
            broken[path.name] = problems
            continue
        campaigns[camp.slug] = camp
        bodies.update(file_bodies)
        blob = json.dumps(camp.model_dump(mode="json"), sort_keys=True)
        hashes[camp.slug] = hashlib.sha256(blob.encode()).hexdigest()
    config = Config(
        root,
        {k: {str(lang): t for lang, t in v.items()} for k, v in cities_file.topics.items()},
        cities,
        campaigns,
        bodies,
        hashes,
        broken,
    )
    return config, [line for lines in broken.values() for line in lines]


def _load_campaign_file(
    path: Path,
    cities: dict[str, CityConfig],
    topics: dict[str, Any],
    templates_dir: Path | None,
    root: Path,
) -> tuple[list[str], NewsletterCampaign | AnnouncementCampaign | None, dict[Any, str]]:
    """One campaign file: its error lines, the campaign (None if unreadable), its bodies."""
    try:
        raw = _read_yaml(path)
    except CampaignError as exc:
        return [str(exc)], None, {}
    if not isinstance(raw, dict):
        return [f"{path}: (top level): expected a mapping of campaign keys"], None, {}
    try:
        camp = _CampaignFile.model_validate({"campaign": raw}).campaign
    except ValidationError as exc:
        return _lines(path, _format_errors(path, exc)), None, {}
    file_bodies: dict[tuple[str, str], str] = {}
    problems = _check_campaign(path, camp, cities, topics, templates_dir, root, file_bodies)
    return _lines(path, problems), camp, file_bodies


def _lines(path: Path, errors: list[str]) -> list[str]:
    """Error lines with the line of the key they name."""
    if not errors:
        return errors
    try:
        return with_lines(f"{path}: ", path.read_text(encoding="utf-8"), errors)
    except (OSError, UnicodeDecodeError):
        return errors


def load(root: Path, templates_dir: Path | None = None) -> Config:
    """Load the folder, leaving out (and logging) every campaign file with an error.

    Raises :class:`CampaignError` with the first error when ``cities.yaml`` (or the
    folder itself) cannot be loaded.
    """
    config, errors = collect(root, templates_dir)
    if config is None:
        more = f" (and {len(errors) - 1} more; run `outreach campaigns validate`)"
        raise CampaignError(errors[0] + (more if len(errors) > 1 else ""))
    for name, lines in config.broken.items():
        log.error("campaign file %s left out: %s", name, lines[0] if lines else "?")
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
