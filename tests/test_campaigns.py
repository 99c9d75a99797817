from __future__ import annotations

from pathlib import Path

import pytest

from outreach.campaigns import collect, load
from tests.conftest import ROOT


def copy_campaigns(tmp_path: Path) -> Path:
    import shutil

    dest = tmp_path / "campaigns"
    shutil.copytree(ROOT / "campaigns", dest)
    return dest


def test_shipped_campaigns_load() -> None:
    config = load(ROOT / "campaigns", ROOT / "templates")
    assert set(config.cities) == {"vantaa", "kerava", "jarvenpaa"}
    assert config.cities["vantaa"].languages == ["fi", "sv"]
    assert {"vantaa-monthly", "kerava-monthly", "jarvenpaa-monthly"} <= set(config.campaigns)
    award = config.campaign("kerava-environmental-award")
    assert award.kind == "announcement"
    assert "itsenäisyyspäivän" in config.bodies[("kerava-environmental-award", "fi")]


def test_error_names_file_key_path_and_expectation(tmp_path: Path) -> None:
    root = copy_campaigns(tmp_path)
    path = root / "kerava-monthly.yaml"
    path.write_text(path.read_text().replace("max_items: 6", "max_items: lots"))
    config, errors = collect(root)
    assert config is not None and "kerava-monthly" not in config.campaigns  # left out whole
    assert len(errors) == 1
    assert errors[0].startswith(f"{path}: sections.0.max_items: ")
    assert "integer" in errors[0] and "'lots'" in errors[0]


def test_unknown_source_type_lists_known(tmp_path: Path) -> None:
    root = copy_campaigns(tmp_path)
    path = root / "kerava-monthly.yaml"
    path.write_text(path.read_text().replace("type: rss", "type: rsss"))
    _, errors = collect(root)
    message = errors[0]
    assert "sections.0.sources.0.type" in message and "rsss" in message
    assert "ical" in message and "linkedevents" in message


def test_invalid_yaml_and_cron(tmp_path: Path) -> None:
    root = copy_campaigns(tmp_path)
    (root / "kerava-monthly.yaml").write_text("slug: [unclosed\n")
    path = root / "jarvenpaa-monthly.yaml"
    path.write_text(path.read_text().replace('day: "1st tue"', 'day: "1st tuesday-ish"'))
    _, errors = collect(root)
    assert any("kerava-monthly.yaml: line" in e and "not valid YAML" in e for e in errors)
    assert any("jarvenpaa-monthly.yaml: schedule: invalid cron fields" in e for e in errors)


def test_language_must_belong_to_city(tmp_path: Path) -> None:
    root = copy_campaigns(tmp_path)
    path = root / "kerava-monthly.yaml"
    path.write_text(path.read_text().replace("languages: [fi]", "languages: [fi, sv]"))
    _, errors = collect(root)
    assert any("languages: 'sv' is not a language of kerava" in e for e in errors)


def test_subject_template_is_sandboxed(tmp_path: Path) -> None:
    root = copy_campaigns(tmp_path)
    path = root / "kerava-monthly.yaml"
    text = path.read_text().replace(
        "{{ issue.period_label }}", "{% for x in range(10**9) %}x{% endfor %}"
    )
    path.write_text(text)
    _, errors = collect(root)
    assert any("subject.fi: For is not allowed" in e for e in errors)


def test_sources_are_validated_once_when_campaigns_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading builds every source; planning a fetch and building an issue reuse them."""
    from outreach.campaigns import NewsletterCampaign
    from outreach.sources import section_source_keys
    from outreach.sources.registry import SOURCES

    config = load(ROOT / "campaigns", ROOT / "templates")

    def no_second_build(name: str) -> None:
        raise AssertionError(f"source type {name!r} looked up again after loading")

    monkeypatch.setattr(SOURCES, "get", no_second_build)
    uses = config.source_uses()
    assert uses and {u.campaign for u in uses} >= {"vantaa-monthly", "kerava-monthly"}
    vantaa = config.campaign("vantaa-monthly")
    assert isinstance(vantaa, NewsletterCampaign)
    keys = [k for s in vantaa.sections for k in section_source_keys(s, "vantaa")]
    assert keys and len(set(keys)) == len(keys)
    stories = next(u.source for u in uses if u.source.type_name == "stories")
    assert stories.per_city and stories.state_key("vantaa") != stories.state_key("kerava")
