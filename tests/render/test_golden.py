"""Golden files: each ``tests/data/<case>/issue.yaml`` is built and rendered.

``issue.yaml`` names a shipped campaign (or the case folder holds its own
``campaign.yaml``, a whole campaign file), the build time and the content items
(ContentItem fields, each with the ``section`` id and the index of its
``source`` in that section); an announcement may give its ``body`` per
language. The case's ``expected.<lang>.html`` and ``expected.<lang>.txt`` hold
the rendered issue with its per-recipient placeholders, normalised. Adding a
case is adding a folder; ``OUTREACH_UPDATE_GOLDEN=1`` rewrites the expected
files from the current output.
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import TypeAdapter
from sqlalchemy.orm import Session

from outreach.campaigns import CampaignConfig, Config
from outreach.issues import build_issue
from outreach.render import render_issue
from outreach.render.env import environment
from outreach.settings import Settings
from tests.conftest import DATA
from tests.render.checks import assert_email_ok
from tests.render.conftest import add_item

CASES = sorted(p.parent for p in DATA.glob("*/issue.yaml"))
UPDATE = os.environ.get("OUTREACH_UPDATE_GOLDEN") == "1"


def normalise(text: str) -> str:
    """Issue ids and trailing spaces vary between runs; nothing else may."""
    text = re.sub(r"/archive/\d+", "/archive/ID", text)
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


def _when(value: Any) -> datetime:
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    assert parsed.tzinfo is not None, f"{value!r}: give a timezone"
    return parsed


def _fields(raw: dict[str, Any]) -> dict[str, Any]:
    fields = dict(raw)
    for key in ("published_at", "starts_at", "ends_at", "first_seen_at"):
        if fields.get(key) is not None:
            fields[key] = _when(fields[key])
    return fields


def test_cases_exist() -> None:
    names = {c.name for c in CASES}
    assert {"vantaa-monthly", "kerava-monthly", "jarvenpaa-monthly"} <= names
    assert "kerava-environmental-award" in names


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_golden(case: Path, session: Session, settings: Settings, config: Config) -> None:
    environment.cache_clear()
    spec = yaml.safe_load((case / "issue.yaml").read_text(encoding="utf-8"))
    slug = spec["campaign"]
    if (case / "campaign.yaml").exists():
        raw = yaml.safe_load((case / "campaign.yaml").read_text(encoding="utf-8"))
        config.campaigns[slug] = TypeAdapter(CampaignConfig).validate_python(raw)
    for lang, body in (spec.get("body") or {}).items():
        config.bodies[(slug, lang)] = body
    # The golden files show each link as it is; counted links (/l/<id>) are
    # tested in tests/stats.
    city = config.campaign(slug).city
    config.cities[city] = config.cities[city].model_copy(update={"tracking": False})
    for raw in spec.get("items") or []:
        raw = dict(raw)
        section, source = raw.pop("section"), raw.pop("source", 0)
        add_item(session, config, slug, section, source=source, **_fields(raw))
    result = build_issue(
        session, settings, config, slug, period=spec.get("period"), now=_when(spec["now"])
    )
    assert result.issue is not None, result.skipped
    assert result.items == spec.get("expected_items", result.items)
    for lang in config.campaign(slug).languages:
        message = render_issue(settings, config, result.issue, lang)
        assert_email_ok(message.html, message.text, placeholders=True)
        for suffix, got in (("html", message.html), ("txt", message.text)):
            path = case / f"expected.{lang}.{suffix}"
            if UPDATE:
                path.write_text(normalise(got), encoding="utf-8")
            assert path.exists(), f"{path} missing; run with OUTREACH_UPDATE_GOLDEN=1"
            assert normalise(got) == path.read_text(encoding="utf-8"), f"{path} differs"
        assert message.subject == spec["subjects"][lang]
