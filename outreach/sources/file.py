"""``file``: a JSON, YAML or CSV listing that staff keep by hand.

The path is relative to the campaigns folder and must stay inside it (a
``file:`` path only ever comes from a campaign file, never from the web).
Each item has ``id``, ``title`` and ``summary`` (a string or ``{lang: text}``),
``url``, ``published`` and optionally ``starts``/``ends``/``location`` and
``categories``. In CSV, per-language texts are columns ``title_fi``,
``summary_sv`` …; ``categories`` is separated by ``;``.
"""

from __future__ import annotations

import csv
import html
import io
import json
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from outreach.models import SourceStatus
from outreach.sources.base import (
    FetchContext,
    FetchResult,
    HttpURL,
    RawItem,
    Source,
    SourceOptions,
)
from outreach.sources.sanitize import plain_line

LANGS = ("fi", "sv", "en")
MAX_BYTES = 2 * 1024 * 1024


class FileOptions(SourceOptions):
    path: str
    language: str | None = None

    @field_validator("path")
    @classmethod
    def _relative(cls, value: str) -> str:
        p = Path(value)
        if p.is_absolute() or ".." in p.parts or value.startswith("~") or ":" in value:
            raise ValueError("expected a path relative to the campaigns folder, inside it")
        if p.suffix.lower() not in (".json", ".yaml", ".yml", ".csv"):
            raise ValueError("expected a .json, .yaml, .yml or .csv file")
        return value


Text = str | dict[str, str]
When = datetime | date


class FileItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=200)
    title: Text
    summary: Text = ""
    url: HttpURL | None = None
    published: When | None = None
    starts: When | None = None
    ends: When | None = None
    location: str | None = None
    online_url: HttpURL | None = None
    categories: list[str] = Field(default_factory=list)

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value


def _aware(value: When | None, tz: ZoneInfo) -> tuple[datetime | None, bool]:
    if value is None:
        return None, False
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=tz)), False
    return datetime.combine(value, time(0), tzinfo=tz), True


def _texts(value: Text) -> dict[str, str]:
    return {"": value} if isinstance(value, str) else {k: v for k, v in value.items() if v}


def _csv_rows(text: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for row in csv.DictReader(io.StringIO(text)):
        item: dict[str, Any] = {}
        for key, value in row.items():
            if key is None or value is None or value.strip() == "":
                continue
            key, value = key.strip(), value.strip()
            base, _, lang = key.rpartition("_")
            if base in ("title", "summary") and lang in LANGS:
                item.setdefault(base, {})[lang] = value
            elif key == "categories":
                item[key] = [c.strip() for c in value.split(";") if c.strip()]
            else:
                item[key] = value
        rows.append(item)
    return rows


def read_items(path: Path) -> list[dict[str, Any]]:
    """The raw item mappings of a listing file; ValueError says what is wrong."""
    text = path.read_text(encoding="utf-8-sig")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _csv_rows(text)
    data = json.loads(text) if suffix == ".json" else yaml.safe_load(text)
    if isinstance(data, dict):
        data = data.get("items")
    if data is None:
        return []
    if not isinstance(data, list) or not all(isinstance(i, dict) for i in data):
        raise ValueError("expected a list of items (or a mapping with an `items:` list)")
    return data


def to_raw(item: FileItem, tz: ZoneInfo, order: list[str], default_lang: str) -> RawItem:
    titles, summaries = _texts(item.title), _texts(item.summary)
    langs = [lang for lang in LANGS if lang in titles]
    lang = next((x for x in [*order, *langs] if x in titles), default_lang)
    title = titles.get(lang) or titles.get("") or next(iter(titles.values()), "")
    summary = summaries.get(lang) or summaries.get("") or ""
    starts, all_day = _aware(item.starts, tz)
    translations = {
        code: {
            "title": plain_line(titles[code]),
            "summary_html": html.escape(summaries.get(code, "")),
        }
        for code in langs
    }
    return RawItem(
        external_id=item.id,
        title=plain_line(title),
        url=item.url,
        summary_html=html.escape(summary).replace("\n", "<br>"),
        language=lang,
        translations=translations,
        categories=item.categories,
        published_at=_aware(item.published, tz)[0],
        starts_at=starts,
        ends_at=_aware(item.ends, tz)[0],
        all_day=all_day,
        location=item.location,
        online_url=item.online_url,
        is_online=item.online_url is not None and not item.location,
        kind="event" if starts is not None else None,
    )


class FileSource(Source):
    type_name = "file"
    options_model = FileOptions
    options: FileOptions
    item_kind = "link"
    remote = False

    def fetch(self, ctx: FetchContext) -> FetchResult:
        options = self.options
        if ctx.root is None:
            return FetchResult(SourceStatus.ERROR, error=f"{options.path}: no campaigns folder")
        root = ctx.root.resolve()
        path = (root / options.path).resolve()
        if not path.is_relative_to(root):
            return FetchResult(
                SourceStatus.ERROR, error=f"{options.path}: outside the campaigns folder"
            )
        try:
            if path.stat().st_size > MAX_BYTES:
                return FetchResult(SourceStatus.ERROR, error=f"{path}: larger than 2 MB")
            rows = read_items(path)
        except OSError as exc:
            return FetchResult(SourceStatus.ERROR, error=f"{path}: cannot read: {exc.strerror}")
        except (ValueError, yaml.YAMLError) as exc:
            reason = " ".join(str(exc).split())[:200]
            return FetchResult(SourceStatus.ERROR, error=f"{path}: {reason}")
        tz = ZoneInfo(ctx.timezone)
        order = list(dict.fromkeys(ctx.languages or [ctx.language]))
        items: list[RawItem] = []
        problems: list[str] = []
        for index, row in enumerate(rows):
            try:
                parsed = FileItem.model_validate(row)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                problems.append(f"items.{index}.{where}: {first['msg']}")
                continue
            items.append(to_raw(parsed, tz, order, options.language or ctx.language))
        if problems and not items:
            return FetchResult(SourceStatus.ERROR, error=f"{path}: " + "; ".join(problems[:3]))
        warning = f"{path}: skipped " + "; ".join(problems[:3]) if problems else None
        # the listing is the whole current view: an entry taken out of it is retired
        # (not when some entries could not be read: they are not gone)
        return FetchResult(SourceStatus.OK, items=items, warning=warning, current=not problems)
