"""Loading the campaigns folder: reading each file, checking it against the others.

``campaigns/cities.yaml`` lists the cities (tenants); every other ``*.yaml`` in
the folder is one campaign, ``kind: newsletter`` or ``kind: announcement``. A
file is loaded whole or not at all: every error names the file, the key path
and what was expected. A campaign file with an error is left out and the others
load (one city's typo must not stop every city). So is a city whose entry in
``cities.yaml`` has an error (with its campaigns); the rest of that file loads.
An error outside the city entries (the topics, the file's form, two cities of
one slug) stops the load, since every campaign needs its city.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    ValidationError,
)

from outreach.campaigns.config import Config, city_key
from outreach.campaigns.format import format_errors, with_lines
from outreach.campaigns.schema import (
    CITIES_FILE,
    AnnouncementCampaign,
    CampaignFile,
    CitiesFile,
    CityConfig,
    NewsletterCampaign,
    Schedule,
)
from outreach.errors import CampaignError, OutreachError
from outreach.sandbox import check_text_template, check_text_values

log = logging.getLogger(__name__)
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # "never fires" means from any start


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
    console_texts: dict[str, str] | None = None,
) -> list[str]:
    """Cross-checks of one campaign; ``console_texts``: a console announcement's bodies
    (by language) instead of the files its ``body`` names."""
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
        problem = schedule_problem(camp.schedule, city.timezone)
        if problem:
            err("schedule", problem)
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
                    src.source  # noqa: B018 -- validates the options once; the source is kept
                except OutreachError as exc:
                    err(f"{where}.type", str(exc))
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
            if console_texts is not None:
                if not (console_texts.get(lang) or "").strip():
                    err(f"body.{lang}", f"missing the {lang!r} text")
                else:
                    bodies[(camp.slug, lang)] = console_texts[lang]
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


def schedule_problem(schedule: Schedule, timezone: str) -> str | None:
    """What is wrong with a schedule (bad cron fields, or it never fires), or None."""
    try:
        trigger = schedule.trigger(timezone)
    except (ValueError, TypeError) as exc:
        return f"invalid cron fields: {exc}"
    if trigger.get_next_fire_time(None, _EPOCH) is None:
        return "never fires: no date matches all its fields (e.g. 31 February)"
    return None


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
        lines = _lines(cities_path, format_errors(cities_path, exc))
        partial = _without_broken_cities(raw, exc, lines)
        if partial is None:
            return None, lines
        cities_file, left_out = partial
    else:
        left_out = {}
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
        if camp is not None and camp.city in left_out:
            problems = [
                f"{path}: city: the entry of {camp.city!r} in {CITIES_FILE} has an error, "
                "so its campaigns are left out until it is fixed"
            ]
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
        {**{city_key(slug): lines for slug, lines in left_out.items()}, **broken},
        left_out=set(left_out),
    )
    return config, [line for lines in config.broken.values() for line in lines]


def _without_broken_cities(
    raw: Any, exc: ValidationError, lines: list[str]
) -> tuple[CitiesFile, dict[str, list[str]]] | None:
    """``cities.yaml`` without the city entries that have an error, and those entries'
    error lines by slug; None when an error lies outside the city entries (the topics,
    the file's form) or no city is left."""
    if not isinstance(raw, dict) or not isinstance(raw.get("cities"), list):
        return None
    entries: list[Any] = raw["cities"]
    bad: dict[int, list[str]] = {}
    for err, line in zip(exc.errors(), lines, strict=False):
        loc = err["loc"]
        if len(loc) < 2 or loc[0] != "cities" or not isinstance(loc[1], int):
            return None
        bad.setdefault(loc[1], []).append(line)
    if len(bad) >= len(entries):
        return None
    try:
        rest = CitiesFile.model_validate(
            {**raw, "cities": [e for i, e in enumerate(entries) if i not in bad]}
        )
    except ValidationError:
        return None
    left_out: dict[str, list[str]] = {}
    for index, found in sorted(bad.items()):
        entry = entries[index]
        slug = entry.get("slug") if isinstance(entry, dict) else None
        left_out[str(slug) if slug else f"#{index + 1}"] = found
    if any(slug in {c.slug for c in rest.cities} for slug in left_out):
        return None  # two entries of one slug: which one is the city is not clear
    return rest, left_out


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
        camp = CampaignFile.model_validate({"campaign": raw}).campaign
    except ValidationError as exc:
        return _lines(path, format_errors(path, exc)), None, {}
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
    folder itself) cannot be loaded; a city whose entry has an error is left out
    (and logged) like a broken campaign file.
    """
    config, errors = collect(root, templates_dir)
    if config is None:
        more = f" (and {len(errors) - 1} more; run `outreach campaigns validate`)"
        raise CampaignError(errors[0] + (more if len(errors) > 1 else ""))
    for slug in sorted(config.left_out):
        lines = config.broken.get(city_key(slug)) or ["?"]
        log.error("city %s left out (with its campaigns): %s", slug, lines[0])
    for name, lines in config.broken.items():
        if name not in {city_key(slug) for slug in config.left_out}:
            log.error("campaign file %s left out: %s", name, lines[0] if lines else "?")
    return config
