"""The campaign and city file schema: what each key may hold.

Cross-file checks (a campaign's city, its templates, its sources' options) are
the loader's (:mod:`outreach.campaigns.load`).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from outreach.campaigns.dkim import DkimConfig
from outreach.sources import build_source
from outreach.sources.base import Source

Lang = Literal["fi", "sv", "en"]
LANGUAGES: tuple[str, ...] = ("fi", "sv", "en")
LocalText = dict[Lang, str]
Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
CITIES_FILE = "cities.yaml"
CRON_FIELDS = ("year", "month", "day", "week", "day_of_week", "hour", "minute")


def _https_url(value: str | None) -> str | None:
    if value is not None and not re.match(r"^https?://[^\s<>\"']+$", value):
        raise ValueError("expected an http(s) URL")
    return value


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Sender(Model):
    name: LocalText
    address: str
    reply_to: str | None = None
    dkim: DkimConfig | None = None
    #: Where bounces come back (signed VERP per delivery); else OUTREACH_BOUNCE_ADDRESS.
    bounce_address: str | None = None

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

    @field_validator("address", "reply_to", "bounce_address")
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
        # white text on it (the public pages' header and buttons) must stay readable
        if _contrast_with_white(value) < 4.5:
            raise ValueError(f"{value} is too light for white text (contrast below 4.5:1)")
        return value


def _contrast_with_white(colour: str) -> float:
    """WCAG 2.1 contrast ratio of ``#rrggbb`` against white."""

    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    lum = 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)
    return 1.05 / (lum + 0.05)


class Accessibility(Model):
    """The accessibility statement of the city's public pages (Finland's Act 306/2019):
    how far they comply, what is not accessible and why, and where to give feedback."""

    #: ``full``, ``partial`` or ``none`` (fully, partially or not compliant with WCAG 2.1 AA)
    compliance: Literal["full", "partial", "none"] = "full"
    #: Content that is not accessible, per language (empty: nothing known).
    known_issues: LocalText = Field(default_factory=dict)
    #: Where a reader reports a problem or asks for content in another form.
    feedback_email: str
    #: When the statement was prepared or last reviewed (YYYY-MM-DD).
    reviewed: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")

    @field_validator("feedback_email")
    @classmethod
    def _email(cls, value: str) -> str:
        if not EMAIL_RE.match(value):
            raise ValueError(f"expected an email address, got {value!r}")
        return value


def _origin(value: str) -> str:
    if not re.fullmatch(r"https://[a-z0-9.-]+(:\d{1,5})?|http://127\.0\.0\.1(:\d{1,5})?", value):
        raise ValueError(f"expected an origin like https://www.city.fi (no path), got {value!r}")
    return value


class CityForms(Model):
    """Inflected forms of a city's name, so running text can use it without brackets."""

    genitive: str | None = None  # fi "Vantaan", sv "Vandas"
    #: "in the city": fi inessive or adessive as the name takes it ("Järvenpäässä",
    #: "Vantaalla"); sv "i Vanda" needs none.
    locative: str | None = None


#: What a place is: every text about it names it so ("kaupunki"/"stad"/"city" or
#: "kunta"/"kommun"/"municipality"); ``outreach.l10n.places_kind`` words a list.
PlaceKind = Literal["city", "municipality"]


class CityConfig(Model):
    slug: Slug
    name: LocalText
    #: ``city`` or ``municipality``: how the public pages and the mails call the place.
    kind: PlaceKind = "city"
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
    #: Whether the city has a public sign-up form (``/<city>/subscribe``, ``/<city>/embed``).
    signup_form: bool = True
    #: The city's privacy notice, linked from every public page; required with a sign-up form.
    privacy_url: str | None = None
    #: The accessibility statement shown at ``/<city>/accessibility``.
    accessibility: Accessibility | None = None
    #: Origins whose pages may frame the story widget and the sign-up form
    #: (``frame-ancestors``); empty: no site may.
    embed_origins: list[str] = Field(default_factory=list)

    _privacy = field_validator("privacy_url")(_https_url)

    @field_validator("embed_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        return [_origin(v) for v in value]

    @model_validator(mode="after")
    def _privacy_for_signup(self) -> CityConfig:
        if self.signup_form and not self.privacy_url:
            raise ValueError(
                "privacy_url is required for a city with a sign-up form "
                "(the address of its privacy notice; or set signup_form: false)"
            )
        return self

    #: Count clicks on the links of the city's issues (``/l/<id>``, docs/stats.md);
    #: ``off``: every link in the e-mail goes straight to its page.
    tracking: bool = True

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
    _source: Source | None = PrivateAttr(default=None)

    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    @property
    def source(self) -> Source:
        """The source with its options validated: built once (when the file loads) and kept.

        Raises :class:`~outreach.errors.UnknownPluginError` (or another
        :class:`~outreach.errors.ConfigError`) for a bad ``type`` and pydantic's
        ``ValidationError`` for bad options.
        """
        if self._source is None:
            self._source = build_source(self.type, self.options())
        return self._source


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


class CampaignFile(BaseModel):
    campaign: CampaignConfig
