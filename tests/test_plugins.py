"""Both plug-in registries (source types, mail backends) behave the same way."""

from __future__ import annotations

import pytest

from outreach.delivery.backends import BACKENDS, MailBackend
from outreach.errors import ConfigError, UnknownPluginError
from outreach.plugins import Registry
from outreach.sources.base import Source
from outreach.sources.registry import SOURCES

NOT_A_PLUGIN = object


@pytest.mark.parametrize("registry", [SOURCES, BACKENDS], ids=["sources", "backends"])
def test_unknown_name_lists_the_known_ones(registry: Registry[object]) -> None:
    with pytest.raises(UnknownPluginError) as err:
        registry.get("pigeon")
    assert err.value.known == registry.names()
    assert f'No {registry.label} by the name "pigeon" was found' in str(err.value)
    assert ", ".join(registry.names()) in str(err.value)


@pytest.mark.parametrize("registry", [SOURCES, BACKENDS], ids=["sources", "backends"])
def test_entry_point_that_does_not_import_is_a_config_error(
    registry: Registry[object], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry, "plugins", lambda: {"ghost": "no_such_module_here:Thing"})
    with pytest.raises(ConfigError, match=r'"ghost" could not be loaded from no_such_module'):
        registry.get("ghost")
    monkeypatch.setattr(registry, "plugins", lambda: {"ghost": f"{__name__}:Missing"})
    with pytest.raises(ConfigError, match=r'"ghost" could not be loaded from'):
        registry.get("ghost")


@pytest.mark.parametrize(
    ("registry", "base"),
    [(SOURCES, Source), (BACKENDS, MailBackend)],
    ids=["sources", "backends"],
)
def test_entry_point_must_subclass_the_family_base(
    registry: Registry[object], base: type, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry, "plugins", lambda: {"odd": f"{__name__}:NOT_A_PLUGIN"})
    with pytest.raises(
        ConfigError, match=rf'"odd" \({__name__}:NOT_A_PLUGIN\) is not a {base.__name__}'
    ):
        registry.get("odd")


def test_builtin_name_wins_over_an_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SOURCES, "plugins", lambda: {"rss": f"{__name__}:NOT_A_PLUGIN"})
    assert SOURCES.get("rss").__name__ == "RssSource"
