"""Campaigns written in the staff console: one schema, two origins.

A console campaign is a row of ``campaigns`` with ``origin = console`` whose
``document`` holds exactly the mapping a campaign file holds; it is validated
with the same schema and the same cross-checks as a file
(:func:`check_document`, which is :mod:`outreach.campaigns.load`'s). An
announcement's Markdown is kept per language in ``bodies``; its ``body`` names
the files ``outreach campaigns export`` writes beside the YAML.

:func:`merge` adds the console campaigns to a loaded :class:`Config`; a file
campaign of the same slug wins. Every change bumps the row's ``revision``, and
:func:`version` is what a running daemon polls to pick changes up.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outreach.campaigns.config import Config
from outreach.campaigns.format import format_errors
from outreach.campaigns.load import _check_campaign, _read_yaml
from outreach.campaigns.schema import AnnouncementCampaign, CampaignFile, NewsletterCampaign
from outreach.campaigns.sync import sync
from outreach.errors import CampaignError
from outreach.models import Campaign

FILE, CONSOLE = "file", "console"
ACTIVE, PAUSED, ARCHIVED = "active", "paused", "archived"
STATES = (ACTIVE, PAUSED, ARCHIVED)

AnyCampaign = NewsletterCampaign | AnnouncementCampaign


class DocumentError(CampaignError):
    """A campaign document that does not validate: every error line, key path first."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__(lines[0] if lines else "invalid campaign")
        self.lines = lines


def body_file(slug: str, lang: str) -> str:
    """The file name an exported announcement's ``lang`` body gets."""
    return f"{slug}.{lang}.md"


def _strip(path: Path, lines: list[str]) -> list[str]:
    prefix = f"{path}: "
    return [line.removeprefix(prefix) for line in lines]


def check_document(
    config: Config,
    document: dict[str, Any],
    *,
    texts: dict[str, str] | None = None,
    templates_dir: Path | None = None,
    path: Path | None = None,
) -> tuple[AnyCampaign | None, list[str], dict[tuple[str, str], str]]:
    """Validate a campaign document as its file would be: (campaign, errors, bodies).

    ``texts``: an announcement's Markdown per language (console campaigns); without
    it the files ``body`` names are read relative to ``config.root``. ``path``:
    where the document was read from (its stem must be the slug), else none.
    """
    slug = str(document.get("slug") or "campaign")
    where = path or Path(f"{slug}.yaml")
    root = path.parent if path is not None else config.root
    try:
        camp = CampaignFile.model_validate({"campaign": document}).campaign
    except ValidationError as exc:
        errors = _strip(where, format_errors(where, exc))
        stand_in, left_out = _without_errors(document, exc)
        if stand_in is None:
            return None, errors, {}
        # the cross-checks too, on what did validate: every error at once
        more = _check_campaign(
            where, stand_in, config.cities, config.topics, templates_dir, root, {}, texts
        )
        return None, errors + _outside(_strip(where, more), left_out), {}
    bodies: dict[tuple[str, str], str] = {}
    problems = _check_campaign(
        where, camp, config.cities, config.topics, templates_dir, root, bodies, texts
    )
    return (None if problems else camp), _strip(where, problems), bodies


#: What stands in for an invalid short name, so the rest can be checked.
_STAND_IN = {"slug": "campaign", "id": "section"}


def _without_errors(
    document: dict[str, Any], exc: ValidationError
) -> tuple[AnyCampaign | None, list[str]]:
    """The campaign without the values the schema refused (their defaults instead, a
    stand-in for a short name), and the key paths left out; None when that does not
    validate (a required value is missing or wrong)."""
    doc = copy.deepcopy(document)
    left_out: list[str] = []
    drops: list[tuple[list[Any], int]] = []
    for err in exc.errors():
        loc = [p for p in err["loc"][2:] if p != "[key]"]  # after ("campaign", kind)
        if err["loc"][:1] != ("campaign",) or not loc:
            return None, []
        parent: Any = doc
        for part in loc[:-1]:
            try:
                parent = parent[part]
            except (KeyError, IndexError, TypeError):
                return None, []
        key: Any = loc[-1]
        if isinstance(parent, dict) and key in _STAND_IN and isinstance(parent.get(key), str):
            parent[key] = f"{_STAND_IN[key]}-{len(left_out)}"
        elif isinstance(parent, dict):
            parent.pop(key, None)
        elif isinstance(parent, list) and isinstance(key, int) and key < len(parent):
            drops.append((parent, key))
        else:
            return None, []
        left_out.append(".".join(str(p) for p in loc))
    for items, index in sorted(drops, key=lambda d: -d[1]):
        del items[index]
    try:
        return CampaignFile.model_validate({"campaign": doc}).campaign, left_out
    except ValidationError:
        return None, []


def paths_meet(path: str, other: str) -> bool:
    """Whether two key paths are the same, or one is inside the other."""
    return (path + ".").startswith(other + ".") or (other + ".").startswith(path + ".")


def _outside(lines: list[str], left_out: list[str]) -> list[str]:
    """The error lines not about a key path left out (nor one inside or around it)."""
    return [
        line for line in lines
        if not any(paths_meet(line.partition(": ")[0], gone) for gone in left_out)
    ]  # fmt: skip


def config_hash(camp: AnyCampaign) -> str:
    blob = json.dumps(camp.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def rows(session: Session, city: str | None = None) -> list[Campaign]:
    """Console campaigns (of ``city``, or all), by slug."""
    stmt = select(Campaign).where(Campaign.origin == CONSOLE)
    if city is not None:
        from outreach.models import City

        stmt = stmt.join(City, City.id == Campaign.city_id).where(City.slug == city)
    return list(session.scalars(stmt.order_by(Campaign.slug)))


def row(session: Session, slug: str, city: str | None = None) -> Campaign | None:
    """The console campaign ``slug`` (of ``city`` when given), or None."""
    found = session.scalar(
        select(Campaign).where(Campaign.slug == slug, Campaign.origin == CONSOLE)
    )
    if found is None or (city is not None and found.city.slug != city):
        return None
    return found


def version(session: Session) -> tuple[int, int]:
    """What changes whenever a console campaign changes: (count, sum of revisions)."""
    count, total = session.execute(
        select(func.count(Campaign.id), func.coalesce(func.sum(Campaign.revision), 0)).where(
            Campaign.origin == CONSOLE
        )
    ).one()
    return int(count), int(total)


@dataclass(frozen=True)
class Saved:
    campaign: AnyCampaign
    row: Campaign
    created: bool


def save(
    session: Session,
    config: Config,
    document: dict[str, Any],
    *,
    actor: str,
    city: str | None = None,
    texts: dict[str, str] | None = None,
    templates_dir: Path | None = None,
    create: bool | None = None,
    path: Path | None = None,
    now: datetime | None = None,
) -> Saved:
    """Validate and store a console campaign; nothing is written when it is invalid.

    ``city``: the document must be of this city (the console's page). ``create``:
    True refuses a slug in use, False requires the console campaign to exist,
    None (import) does either. Raises :class:`DocumentError`.
    """
    now = now or datetime.now(UTC)
    slug = str(document.get("slug") or "")
    existing = row(session, slug) if slug else None
    camp, errors = problems(
        session, config, document, city=city, texts=texts, templates_dir=templates_dir,
        create=create, path=path,
    )  # fmt: skip
    if errors or camp is None:
        raise DocumentError(errors)
    sync(session, _cities_only(config))
    target = existing
    if target is None:
        target = session.scalar(select(Campaign).where(Campaign.slug == slug))
    from outreach.models import City

    city_id = session.scalars(select(City.id).where(City.slug == camp.city)).one()
    created = target is None
    if target is None:
        target = Campaign(slug=slug, kind=camp.kind, origin=CONSOLE, revision=0, city_id=city_id)
        session.add(target)
    target.city_id = city_id
    target.kind = camp.kind
    target.origin = CONSOLE
    target.document = json.loads(json.dumps(document, default=str))
    target.bodies = dict(texts or {}) if isinstance(camp, AnnouncementCampaign) else None
    target.config_hash = config_hash(camp)
    target.state = target.state or ACTIVE
    target.revision = (target.revision or 0) + 1
    target.updated_at = now
    target.updated_by = actor[:100]
    session.flush()
    return Saved(camp, target, created)


def problems(
    session: Session,
    config: Config,
    document: dict[str, Any],
    *,
    city: str | None = None,
    texts: dict[str, str] | None = None,
    templates_dir: Path | None = None,
    create: bool | None = None,
    path: Path | None = None,
) -> tuple[AnyCampaign | None, list[str]]:
    """What :func:`save` would refuse the document for, writing nothing: (campaign, errors)."""
    slug = str(document.get("slug") or "")
    existing = row(session, slug) if slug else None
    errors: list[str] = []
    if city is not None and document.get("city") != city:
        errors.append(f"city: expected {city!r}, got {document.get('city')!r}")
    if create is True and (existing is not None or slug in config.campaigns):
        errors.append(f"slug: {slug!r} is already used by another campaign")
    elif existing is None and slug:
        taken = session.scalar(select(Campaign.id).where(Campaign.slug == slug))
        if create is False or (taken is not None and slug not in config.campaigns):
            errors.append(f"slug: no console campaign {slug!r}")
    if existing is not None and existing.state == ARCHIVED:
        errors.append(f"slug: {slug!r} is archived; restore it first")
    camp, found, _bodies = check_document(
        config, document, texts=texts, templates_dir=templates_dir, path=path
    )
    return camp, errors + found


def _cities_only(config: Config) -> Config:
    return Config(config.root, config.topics, config.cities, {})


def set_state(
    session: Session, slug: str, state: str, *, actor: str, city: str | None = None,
    now: datetime | None = None,
) -> Campaign:  # fmt: skip
    """Pause, archive or make active a console campaign (a file campaign cannot be)."""
    if state not in STATES:
        raise CampaignError(f"unknown state {state!r} (expected one of {', '.join(STATES)})")
    target = row(session, slug, city)
    if target is None:
        raise CampaignError(f"no console campaign {slug!r}")
    target.state = state
    target.revision = (target.revision or 0) + 1
    target.updated_at = now or datetime.now(UTC)
    target.updated_by = actor[:100]
    session.flush()
    return target


def merge(config: Config, session: Session, templates_dir: Path | None = None) -> Config:
    """``config`` plus the console campaigns; a paused or archived one is kept (its
    issues still send) but not scheduled. One that no longer validates (its city or
    topic was removed from the files) is listed in ``config.broken``."""
    for found in rows(session):
        slug = found.slug
        label = f"{slug} (console)"
        if slug in config.campaigns and slug not in config.console:
            config.broken[label] = [f"{slug}: a campaign file of this slug is used instead"]
            continue
        camp, errors, bodies = check_document(
            config, dict(found.document or {}), texts=texts_of(found), templates_dir=templates_dir
        )
        if camp is None:
            config.broken[label] = errors
            continue
        config.campaigns[slug] = camp
        config.console.add(slug)
        config.bodies.update(bodies)
        config.hashes[slug] = config_hash(camp)
        if found.state != ACTIVE:
            config.paused.add(slug)
    return config


def texts_of(found: Campaign) -> dict[str, str] | None:
    if found.kind != "announcement":
        return None
    return {str(k): str(v) for k, v in (found.bodies or {}).items()}


def export(session: Session, slug: str) -> tuple[str, dict[str, str]]:
    """A console campaign as a campaign file: (its YAML, {body file name: Markdown})."""
    found = row(session, slug)
    if found is None:
        raise CampaignError(f"no console campaign {slug!r} (a file campaign is its file)")
    text = yaml.safe_dump(found.document, sort_keys=False, allow_unicode=True, width=100)
    files: dict[str, str] = {}
    document = found.document or {}
    for lang, text_body in (found.bodies or {}).items():
        name = str((document.get("body") or {}).get(lang) or body_file(slug, lang))
        files[name] = str(text_body)
    return text, files


def read_file(path: Path) -> tuple[dict[str, Any], dict[str, str] | None]:
    """A campaign file and (for an announcement) the Markdown its ``body`` names."""
    raw = _read_yaml(path)
    if not isinstance(raw, dict):
        raise CampaignError(f"{path}: (top level): expected a mapping of campaign keys")
    if raw.get("kind") != "announcement" or not isinstance(raw.get("body"), dict):
        return raw, None
    texts: dict[str, str] = {}
    base = path.parent.resolve()
    for lang, rel in raw["body"].items():
        target = (base / str(rel)).resolve()
        if not target.is_relative_to(base):
            raise CampaignError(f"{path}: body.{lang}: expected a path inside {base}")
        try:
            texts[str(lang)] = target.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CampaignError(
                f"{path}: body.{lang}: cannot read {target}: {exc.__class__.__name__}"
            ) from exc
    return raw, texts


def import_file(
    session: Session,
    config: Config,
    path: Path,
    *,
    actor: str,
    templates_dir: Path | None = None,
    now: datetime | None = None,
) -> Saved:
    """Read a campaign file into the console (a new campaign, or over its console copy)."""
    document, texts = read_file(path)
    return save(
        session,
        config,
        document,
        actor=actor,
        texts=texts,
        templates_dir=templates_dir,
        create=None,
        path=path,
        now=now,
    )
