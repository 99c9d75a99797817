"""The loaded campaigns folder: cities, campaigns and what was left out."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from outreach.campaigns.schema import (
    CITIES_FILE,
    AnnouncementCampaign,
    CampaignBase,
    CityConfig,
    NewsletterCampaign,
)
from outreach.errors import CampaignError, msg
from outreach.sources.base import SourceUse

#: "city" in Finnish, Swedish and English, as a text of ``cities.yaml`` may say it.
CITY_WORDS = re.compile(r"\b(kaupun\w*|stad|stadens?|städer\w*|city|city's|cities)\b", re.I)


def city_key(slug: str) -> str:
    """The key in :attr:`Config.broken` of a city whose entry has an error."""
    return f"{CITIES_FILE} ({slug})"


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
    #: Campaigns written in the staff console (the rest are files).
    console: set[str] = field(default_factory=set)
    #: Console campaigns paused or archived: kept (their issues send) but not scheduled.
    paused: set[str] = field(default_factory=set)
    #: Cities whose entry in ``cities.yaml`` has an error: left out (with their
    #: campaigns) while the other cities run; ``broken`` holds their lines under
    #: :func:`city_key`.
    left_out: set[str] = field(default_factory=set)

    @classmethod
    def unavailable(cls, root: Path, errors: list[str]) -> Config:
        """No cities and no campaigns: what is left when ``cities.yaml`` is broken."""
        return cls(root, {}, {}, {}, broken={CITIES_FILE: list(errors)})

    def keeping(self, previous: Config) -> Config:
        """This config plus the previous version of each city whose entry and each
        campaign whose file is broken now: a reload keeps running what ran before the
        typo (the file stays broken)."""
        for slug in self.left_out:
            if slug in previous.cities and slug not in self.cities:
                self.cities[slug] = previous.cities[slug]
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

    def city_ok(self, slug: str) -> bool:
        """Whether ``cities.yaml`` loaded and the city's own entry has no error (or a
        reload kept the city's previous entry)."""
        return self.cities_ok and (slug not in self.left_out or slug in self.cities)

    def calls_a_municipality_a_city(self) -> list[tuple[str, str, str]]:
        """(city slug, key, text) of each text of ``cities.yaml`` shown about a
        municipality that says "city" ("Kaupungin ilmastotyö", "Stadens…") in one of
        its languages: the topics it offers (shared by every place), its sender's name,
        its footer."""
        found = []
        for slug, city in self.cities.items():
            if city.kind != "municipality":
                continue
            texts = [
                *((f"topics.{t}.{lang}", text) for t in city.topics
                  for lang, text in self.topics.get(t, {}).items()),
                *((f"sender.name.{lang}", text) for lang, text in city.sender.name.items()),
                *((f"footer.address.{lang}", text) for lang, text in city.footer.address.items()),
            ]  # fmt: skip
            shown = {f".{lang}" for lang in city.languages}  # the place's own languages
            found += [
                (slug, key, text)
                for key, text in texts
                if key[-3:] in shown and CITY_WORDS.search(text)
            ]
        return found

    def city_of(self, campaign: CampaignBase) -> CityConfig:
        return self.cities[campaign.city]

    def source_uses(self, slugs: list[str] | None = None) -> list[SourceUse]:
        """Every source of the chosen newsletter campaigns (all if None), in file order."""
        uses: list[SourceUse] = []
        for slug in slugs if slugs is not None else sorted(self.campaigns):
            camp = self.campaign(slug)
            if not isinstance(camp, NewsletterCampaign):
                continue
            city = self.city_of(camp)
            for section in camp.sections:
                uses.extend(
                    SourceUse(
                        source=cfg.source,
                        campaign=slug,
                        section=section.id,
                        city=city.slug,
                        timezone=city.timezone,
                        languages=tuple(camp.languages),
                        horizon_days=section.horizon_days,
                    )
                    for cfg in section.sources
                )
        return uses

    def campaign(self, slug: str) -> NewsletterCampaign | AnnouncementCampaign:
        try:
            return self.campaigns[slug]
        except KeyError:
            errors = self.broken.get(f"{slug}.yaml")
            if errors:  # the file is there: saying there is no such campaign misleads
                raise CampaignError(
                    msg('campaign "{slug}" is left out until its file is fixed: {error}'),
                    slug=slug,
                    error=errors[0],
                ) from None
            known = ", ".join(sorted(self.campaigns)) or "none"
            raise CampaignError(
                msg('no campaign "{slug}" (known: {known})'), slug=slug, known=known
            ) from None
