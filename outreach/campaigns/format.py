"""Campaign-file errors as lines that name the file, the key path and its line.

A misspelt key (``max_itmes``) gets "did you mean 'max_items'?" from the keys
the schema allows at that place, and every error line that names a key path
gets the line of that key in the file.
"""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from outreach.campaigns.schema import (
    AnnouncementCampaign,
    CampaignBase,
    CitiesFile,
    NewsletterCampaign,
)


def _format_loc(loc: Iterable[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("campaign", "newsletter", "announcement")]
    return ".".join(parts) or "(top level)"


def format_errors(path: Path, exc: ValidationError) -> list[str]:
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


def _unwrap(kind: Any) -> Any:
    """The model or container inside ``Annotated[...]`` and ``X | None``."""
    while True:
        origin = get_origin(kind)
        if origin is Annotated:
            kind = get_args(kind)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in get_args(kind) if a is not type(None)]
            models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
            kind = models[0] if models else args[0]
        else:
            return kind


def allowed_keys(model: type[BaseModel], parents: Sequence[str | int]) -> list[str]:
    """The keys the schema allows in the mapping at ``parents`` (empty if unknown)."""
    current: Any = model
    for part in parents:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return []
            current = field.annotation
        elif get_origin(current) is list:
            current = get_args(current)[0]
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return sorted(current.model_fields)
    return []


def unknown_key(model: type[BaseModel], loc: Sequence[str | int]) -> str:
    """The message for the extra key at the end of ``loc``."""
    known = allowed_keys(model, loc[:-1])
    close = difflib.get_close_matches(str(loc[-1]), known, n=1)
    if close:
        return f"unknown key; did you mean {close[0]!r}?"
    return f"unknown key (known: {', '.join(known)})" if known else "unknown key"


def key_line(text: str, parts: Sequence[str | int]) -> int | None:
    """The 1-based line of the key (or item) at ``parts`` in a YAML document."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    line = None
    for part in parts:
        if isinstance(node, yaml.MappingNode):
            found = next((kv for kv in node.value if kv[0].value == str(part)), None)
            if found is None:
                return line
            line = found[0].start_mark.line + 1
            node = found[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return line
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


_WHERE = re.compile(r"^([A-Za-z0-9_.-]+): ")


def with_lines(prefix: str, text: str, errors: list[str]) -> list[str]:
    """``errors`` (``"<prefix>: key.path: what"``) with the key's line appended."""
    out = []
    for error in errors:
        match = _WHERE.match(error.removeprefix(prefix))
        line = None
        if match and error.startswith(prefix):
            parts = [int(p) if p.isdigit() else p for p in match[1].split(".")]
            line = key_line(text, parts)
        out.append(f"{error} (line {line})" if line else error)
    return out
