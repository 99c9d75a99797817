"""Plug-in registries: a family of classes looked up by name.

Each family (source types by their ``type:``, mail backends by URL scheme)
is one :class:`Registry`: built-in names map to ``"module:attribute"`` targets,
and installed packages add more through an entry-point group (name = the key,
value = the target). A built-in name wins over an entry point of the same name.

Every registry behaves the same way:

- an unknown name raises :class:`~outreach.errors.UnknownPluginError` listing
  the known ones, never a silent fallback;
- a target that cannot be imported raises :class:`~outreach.errors.ConfigError`
  naming the plug-in and the target;
- a target that is not a subclass of the family's base class raises
  :class:`~outreach.errors.ConfigError` too.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from functools import cache
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from outreach.errors import ConfigError, UnknownPluginError

T = TypeVar("T")

__all__ = ["Registry", "load_target"]


@cache
def _entry_points(group: str) -> dict[str, str]:
    return {ep.name: ep.value for ep in entry_points(group=group)}


def load_target(target: str) -> object:
    """The object a ``"module:attribute"`` target names (ImportError/AttributeError pass)."""
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


class Registry(Generic[T]):
    """Classes of one family by name: ``builtin`` targets plus an entry-point group.

    ``base`` is a callable returning the family's base class, so that a base
    module that imports the registry's users can still be loaded lazily.
    ``label`` names the family in messages ("source type", "mail backend").
    """

    def __init__(
        self,
        label: str,
        group: str,
        builtin: Mapping[str, str],
        base: Callable[[], type[T]],
    ) -> None:
        self.label = label
        self.group = group
        self.builtin = builtin  # not copied: tests add a name with monkeypatch.setitem
        self._base = base

    def plugins(self) -> dict[str, str]:
        """The installed entry points of the group (read once per process)."""
        return _entry_points(self.group)

    def targets(self) -> dict[str, str]:
        return {**self.plugins(), **self.builtin}

    def names(self) -> list[str]:
        return sorted(self.targets())

    def get(self, name: str) -> type[T]:
        """The class registered as ``name``."""
        target = self.targets().get(name)
        if target is None:
            raise UnknownPluginError(self.label, name, self.names())
        try:
            cls = load_target(target)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(
                f'{self.label} "{name}" could not be loaded from {target}: {exc}'
            ) from exc
        base = self._base()
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise ConfigError(f'{self.label} "{name}" ({target}) is not a {base.__name__}')
        return cls
