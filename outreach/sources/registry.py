"""Source types by their ``type:`` name: built-ins plus the ``outreach.sources``
entry-point group, looked up through :mod:`outreach.plugins`. An unknown name
is an error that lists the known ones.

This module and each type's ``options_model`` sit below :mod:`outreach.campaigns`,
which uses them to validate the ``sources:`` of a campaign file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from outreach.plugins import Registry

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


def _base() -> type[Source]:
    from outreach.sources.base import Source

    return Source


SOURCES: Registry[Source] = Registry("source type", GROUP, BUILTIN, _base)


def known_types() -> list[str]:
    return SOURCES.names()


def get_source_class(name: str) -> type[Source]:
    """The class registered as ``name``; raises :class:`UnknownPluginError`."""
    return SOURCES.get(name)


def build_source(type_name: str, options: dict[str, object]) -> Source:
    """An instance of the ``type_name`` source with validated ``options``."""
    cls = get_source_class(type_name)
    return cls(cls.options_model.model_validate(options))
