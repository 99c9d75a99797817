"""Source types by their ``type:`` name: built-ins plus the ``outreach.sources``
entry-point group. An unknown name is an error that lists the known ones.

This module and each type's ``options_model`` sit below :mod:`outreach.campaigns`,
which uses them to validate the ``sources:`` of a campaign file.
"""

from __future__ import annotations

import importlib
from functools import cache
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from outreach.errors import ConfigError, UnknownPluginError

if TYPE_CHECKING:
    from outreach.sources.base import Source

GROUP = "outreach.sources"

BUILTIN: dict[str, str] = {
    "rss": "outreach.sources.rss:RssSource",
    "ical": "outreach.sources.ical:ICalSource",
    "linkedevents": "outreach.sources.linkedevents:LinkedEventsSource",
    "stories": "outreach.sources.stories:StoriesSource",
    "file": "outreach.sources.file:FileSource",
}


@cache
def _plugins() -> dict[str, str]:
    found = {ep.name: ep.value for ep in entry_points(group=GROUP)}
    return {**found, **BUILTIN}


def known_types() -> list[str]:
    return sorted(_plugins())


@cache
def get_source_class(name: str) -> type[Source]:
    """The class registered as ``name``; raises :class:`UnknownPluginError`."""
    from outreach.sources.base import Source

    target = _plugins().get(name)
    if target is None:
        raise UnknownPluginError("source type", name, known_types())
    module_name, _, attr = target.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f'source type "{name}" could not be loaded from {target}: {exc}') from exc
    if not (isinstance(cls, type) and issubclass(cls, Source)):
        raise ConfigError(f'source type "{name}" ({target}) is not a Source subclass')
    return cls


def build_source(type_name: str, options: dict[str, object]) -> Source:
    """An instance of the ``type_name`` source with validated ``options``."""
    cls = get_source_class(type_name)
    return cls(cls.options_model.model_validate(options))
