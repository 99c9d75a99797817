"""Stand-ins for source types whose modules are not importable yet.

Used only while the sources stage has not landed on this branch: the render
tests need ``build_source(...).key`` to work for the shipped campaign files.
The real modules win as soon as they import.
"""

from __future__ import annotations

import importlib
from typing import Any

from pydantic import Field

from outreach.sources.base import FetchContext, FetchResult, Source, SourceOptions
from outreach.sources.registry import BUILTIN


class UrlOptions(SourceOptions):
    url: str
    params: dict[str, Any] = Field(default_factory=dict)


class PathOptions(SourceOptions):
    path: str


class _Stub(Source):
    def fetch(self, ctx: FetchContext) -> FetchResult:  # pragma: no cover - never fetched
        raise NotImplementedError


class RssSource(_Stub):
    type_name = "rss"
    options_model = UrlOptions


class ICalSource(_Stub):
    type_name = "ical"
    item_kind = "event"
    options_model = UrlOptions


class LinkedEventsSource(_Stub):
    type_name = "linkedevents"
    item_kind = "event"
    options_model = UrlOptions


class StoriesSource(_Stub):
    type_name = "stories"
    item_kind = "story"
    remote = False


class FileSource(_Stub):
    type_name = "file"
    item_kind = "link"
    remote = False
    options_model = PathOptions


def missing_builtins() -> dict[str, str]:
    """Built-in types whose module does not import, mapped to their stand-in."""
    out = {}
    for name, target in BUILTIN.items():
        module, _, attr = target.partition(":")
        try:
            getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError):
            out[name] = f"{__name__}:{attr}"
    return out
