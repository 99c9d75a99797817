"""The campaign editor's sections: every section and every source as form fields.

A section's fields are named by the key path of the campaign document
(``sections.0.max_items``, ``sections.0.title.fi``, ``sections.0.sources.1.url``),
so a validation error's path is the name of the field it belongs to. A source's
options are the union of every registered type's options
(:func:`outreach.sources.option_specs`): each field says which types use it,
and only the chosen type's are read back.

Reading the fields back (:func:`sections_from_fields`) gives the document's
``sections`` as a campaign file would hold them, validated afterwards by the
same schema as the files. A key at its default is left out unless the section
(same ``id``) or source (same place and type) being edited had it, so opening
and saving a campaign changes nothing. :func:`apply_op` adds, removes and
moves sections and sources (the editor's buttons; they work without script).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from outreach.campaigns.schema import LANGUAGES, Section
from outreach.errors import OutreachError
from outreach.sources import (
    OptionSpec,
    OptionTextError,
    known_types,
    option_specs,
    option_text,
    option_value,
)

SECTION_KINDS = ("news", "events", "stories", "links")
INT_KEYS = ("max_items", "window_days", "horizon_days")
LIST_KEYS = ("include", "exclude", "categories")
LOCAL_KEYS = ("title", "intro")
#: What a new section and a new source start as.
NEW_SOURCE: dict[str, Any] = {"type": "rss"}
_SECTION_ID = re.compile(r"^sections\.(\d+)\.id$")
_SOURCE_TYPE = re.compile(r"^sections\.(\d+)\.sources\.(\d+)\.type$")
_OP = re.compile(r"^(add_section|add_source|remove_section|section_up|section_down|"
                 r"remove_source|source_up|source_down)(?::(\d+)(?:\.(\d+))?)?$")  # fmt: skip

Fields = Mapping[str, str | Sequence[str]]


def _defaults() -> dict[str, Any]:
    return {
        name: info.get_default(call_default_factory=True)
        for name, info in Section.model_fields.items()
        if not info.is_required()
    }


DEFAULTS = _defaults()
SECTION_KEYS = tuple(Section.model_fields)


@dataclass(frozen=True)
class OptionField:
    """One option field of a source: the types that have it, and its widget."""

    name: str
    kind: str
    types: tuple[str, ...]
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] = ()


@dataclass
class SourceView:
    index: int
    type: str
    #: The text of every option field (of every type), by option name.
    values: dict[str, str] = field(default_factory=dict)


@dataclass
class SectionView:
    index: int
    #: The text of each field by its key (``id``, ``title.fi``, ``max_items`` …).
    values: dict[str, str] = field(default_factory=dict)
    sources: list[SourceView] = field(default_factory=list)


def _specs(type_name: str) -> list[OptionSpec]:
    try:
        return option_specs(type_name)
    except OutreachError:  # an unknown type: no options to show; validation says why
        return []


def option_fields() -> list[OptionField]:
    """Every option of every registered source type, by name, in registry order."""
    found: dict[str, OptionField] = {}
    for type_name in known_types():
        for spec in _specs(type_name):
            seen = found.get(spec.name)
            types = (type_name,) if seen is None else (*seen.types, type_name)
            first = spec if seen is None else seen
            found[spec.name] = OptionField(
                spec.name, first.kind, types, first.minimum, first.maximum, first.choices
            )
    return list(found.values())


def new_section(taken: Sequence[Any] = ()) -> dict[str, Any]:
    """An empty news section with one RSS source, its id not in ``taken``."""
    n = 1
    while f"section-{n}" in taken:
        n += 1
    return {"id": f"section-{n}", "kind": "news", "title": {}, "sources": [dict(NEW_SOURCE)]}


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _source_view(index: int, source: Any) -> SourceView:
    src = source if isinstance(source, dict) else {}
    type_name = str(src.get("type") or "")
    values: dict[str, str] = {}
    for spec in _specs(type_name):
        shown = src.get(spec.name, spec.default)
        values[spec.name] = option_text(spec, shown)
    return SourceView(index, type_name, values)


def section_views(sections: Any) -> list[SectionView]:
    """The editor's view of a document's ``sections`` (values as typed, valid or not)."""
    views = []
    for i, raw in enumerate(sections if isinstance(sections, list) else []):
        sec = raw if isinstance(raw, dict) else {}
        values = {"id": _text(sec.get("id")), "kind": _text(sec.get("kind") or "news")}
        for key in LOCAL_KEYS:
            texts = sec.get(key)
            for lang, text in (texts if isinstance(texts, dict) else {}).items():
                values[f"{key}.{lang}"] = _text(text)
        for key in INT_KEYS:
            values[key] = _text(sec.get(key, DEFAULTS[key]))
        for key in LIST_KEYS:
            items = sec.get(key) or []
            values[key] = "\n".join(_text(x) for x in (items if isinstance(items, list) else []))
        values["language"] = _text(sec.get("language"))
        values["fallback"] = "1" if sec.get("fallback", DEFAULTS["fallback"]) else ""
        relist = sec.get("relist_upcoming")
        values["relist_upcoming"] = "" if relist is None else ("yes" if relist else "no")
        sources = sec.get("sources")
        views.append(SectionView(i, values, [
            _source_view(j, s) for j, s in enumerate(sources if isinstance(sources, list) else [])
        ]))  # fmt: skip
    return views


def view_fields(views: Sequence[SectionView]) -> dict[str, str]:
    """The fields a browser posts for ``views`` (a checkbox left empty is not sent)."""
    out: dict[str, str] = {}
    for view in views:
        prefix = f"sections.{view.index}."
        for key, value in view.values.items():
            if key != "fallback" or value:
                out[prefix + key] = value
        for src in view.sources:
            at = f"{prefix}sources.{src.index}."
            out[at + "type"] = src.type
            checkboxes = {spec.name for spec in _specs(src.type) if spec.kind == "bool"}
            for name, value in src.values.items():
                if value or name not in checkboxes:
                    out[at + name] = value
    return out


def _one(fields: Fields, name: str) -> str:
    value = fields.get(name, "")
    if not isinstance(value, str):
        value = value[-1] if value else ""
    return value.replace("\r\n", "\n")


def _ordered(
    values: dict[str, Any], base: Mapping[str, Any], order: Sequence[str]
) -> dict[str, Any]:
    """``values`` with the keys in ``base``'s order first, then in ``order``."""
    keys = [k for k in base if k in values]
    keys += [k for k in order if k in values and k not in keys]
    keys += [k for k in values if k not in keys]
    return {k: values[k] for k in keys}


def _number(text: str) -> Any:
    raw = text.strip()
    return int(raw) if raw.lstrip("-").isdigit() else raw


def _read_source(
    fields: Fields, at: str, base: Mapping[str, Any], errors: list[str]
) -> dict[str, Any]:
    type_name = _one(fields, at + "type").strip()
    out: dict[str, Any] = {"type": type_name}
    same = base if base.get("type") == type_name else {}
    for spec in _specs(type_name):
        try:
            value = option_value(spec, _one(fields, at + spec.name))
        except OptionTextError as exc:
            errors.append(f"{at}{spec.name}: {exc}")
            continue
        if value is None:
            continue
        if not spec.required and value == spec.default and spec.name not in same:
            continue
        out[spec.name] = value
    order = ["type", *(s.name for s in _specs(type_name))]
    return _ordered(out, same, order)


def _read_section(
    fields: Fields, i: int, base: Mapping[str, Any], errors: list[str]
) -> dict[str, Any]:
    prefix = f"sections.{i}."
    out: dict[str, Any] = {
        "id": _one(fields, prefix + "id").strip(),
        "kind": _one(fields, prefix + "kind").strip(),
    }
    for key in LOCAL_KEYS:
        texts = {
            lang: t for lang in LANGUAGES if (t := _one(fields, f"{prefix}{key}.{lang}").strip())
        }
        if texts or key == "title" or key in base:
            out[key] = texts
    for key in INT_KEYS:
        raw = _one(fields, prefix + key).strip()
        if raw and (_number(raw) != DEFAULTS[key] or key in base):
            out[key] = _number(raw)
    for key in LIST_KEYS:
        items = [line.strip() for line in _one(fields, prefix + key).split("\n") if line.strip()]
        if items or key in base:
            out[key] = items
    language = _one(fields, prefix + "language").strip()
    if language:
        out["language"] = language
    fallback = bool(_one(fields, prefix + "fallback").strip())
    if fallback != DEFAULTS["fallback"] or "fallback" in base:
        out["fallback"] = fallback
    relist = {"yes": True, "no": False}.get(_one(fields, prefix + "relist_upcoming").strip())
    if relist is not None or "relist_upcoming" in base:
        out["relist_upcoming"] = relist
    listed = base.get("sources")
    base_sources: list[Any] = listed if isinstance(listed, list) else []
    found = sorted(
        int(m[2]) for name in fields if (m := _SOURCE_TYPE.match(name)) and int(m[1]) == i
    )
    sources = []
    for j in found:
        before = (
            base_sources[j] if j < len(base_sources) and isinstance(base_sources[j], dict) else {}
        )
        sources.append(_read_source(fields, f"{prefix}sources.{j}.", before, errors))
    out["sources"] = sources
    return _ordered(out, base, SECTION_KEYS)


def sections_from_fields(fields: Fields, base: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """The sections the posted fields hold, over ``base`` (the sections being edited):
    (sections, errors of fields that cannot be read)."""
    by_id = {
        str(s.get("id")): s for s in (base if isinstance(base, list) else []) if isinstance(s, dict)
    }
    errors: list[str] = []
    found = sorted(int(m[1]) for name in fields if (m := _SECTION_ID.match(name)))
    sections = []
    for i in found:
        sid = _one(fields, f"sections.{i}.id").strip()
        sections.append(_read_section(fields, i, by_id.get(sid, {}), errors))
    return sections, errors


def _move(items: list[Any], i: int, step: int) -> int | None:
    j = i + step
    if not (0 <= i < len(items) and 0 <= j < len(items)):
        return None
    items[i], items[j] = items[j], items[i]
    return j


def apply_op(sections: list[Any], op: str) -> tuple[list[Any], str | None] | None:
    """``sections`` after the editor's button ``op`` (``add_section``,
    ``remove_section:1``, ``section_up:1``, ``section_down:1``, ``add_source:1``,
    ``remove_source:1.0``, ``source_up:1.0``, ``source_down:1.0``) and the field
    to put the focus on; None for an op that does not apply."""
    found = _OP.match(op)
    if found is None:
        return None
    name = found[1]
    out = [dict(s) if isinstance(s, dict) else s for s in sections]
    if name == "add_section":
        out.append(new_section([s.get("id") for s in out if isinstance(s, dict)]))
        return out, f"sections.{len(out) - 1}.id"
    if found[2] is None:
        return None
    i = int(found[2])
    if not 0 <= i < len(out) or not isinstance(out[i], dict):
        return None
    if name == "remove_section":
        del out[i]
        return out, None
    if name in ("section_up", "section_down"):
        moved = _move(out, i, -1 if name == "section_up" else 1)
        return (out, f"sections.{moved}.id") if moved is not None else None
    sources = list(out[i].get("sources") or [])
    out[i]["sources"] = sources
    if name == "add_source":
        sources.append(dict(NEW_SOURCE))
        return out, f"sections.{i}.sources.{len(sources) - 1}.type"
    if found[3] is None or not 0 <= int(found[3]) < len(sources):
        return None
    j = int(found[3])
    if name == "remove_source":
        del sources[j]
        return out, None
    moved = _move(sources, j, -1 if name == "source_up" else 1)
    return (out, f"sections.{i}.sources.{moved}.type") if moved is not None else None
