"""Golden files: each ``tests/data/<case>/issue.yaml`` is built and rendered;
each ``tests/data/<case>/feeds.yaml`` is fetched, ingested, built and rendered.

``issue.yaml`` names a shipped campaign (or the case folder holds its own
``campaign.yaml``, a whole campaign file), the build time and the content items
(ContentItem fields, each with the ``section`` id and the index of its
``source`` in that section); an announcement may give its ``body`` per
language. The case's ``expected.<lang>.html`` and ``expected.<lang>.txt`` hold
the rendered issue with its per-recipient placeholders, normalised. Adding a
case is adding a folder; ``OUTREACH_UPDATE_GOLDEN=1`` rewrites the expected
files from the current output.

A ``feeds.yaml`` case starts one step earlier, from the outside world: its
``campaign.yaml`` reads files of the case folder (an RSS feed, an iCalendar
file) from ``http://127.0.0.1:PORT/<case>/…``, served by a real HTTP server on
127.0.0.1 while the test runs; the real sources fetch and parse them, the
ingest step stores them, and the issue is built and rendered as above.
``feeds.yaml`` gives ``campaign``, ``now``, ``expected_items`` and the
``subjects``. Regenerate the expected files of every case with::

    OUTREACH_UPDATE_GOLDEN=1 .venv/bin/pytest tests/render/test_golden.py

and read the diff before committing it.
"""

from __future__ import annotations

import functools
import os
import re
import threading
from collections.abc import Iterator
from datetime import datetime
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
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
from outreach.sources import Fetcher, ingest
from tests.conftest import DATA
from tests.render.checks import assert_email_ok
from tests.render.conftest import add_item

CASES = sorted(p.parent for p in DATA.glob("*/issue.yaml"))
FEED_CASES = sorted(p.parent for p in DATA.glob("*/feeds.yaml"))
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
    assert {c.name for c in FEED_CASES} >= {"vantaa-from-feeds"}


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
    _build_and_compare(case, spec, session, settings, config)


def _build_and_compare(
    case: Path, spec: dict[str, Any], session: Session, settings: Settings, config: Config
) -> None:
    """Build ``spec``'s issue, render it per language, compare with the case's files."""
    slug = spec["campaign"]
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


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No request lines in the test output."""


@pytest.fixture(scope="module")
def data_server() -> Iterator[int]:
    """``tests/data`` over HTTP on 127.0.0.1; yields the port."""
    handler = functools.partial(_Quiet, directory=str(DATA))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, name="golden-feeds", daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("case", FEED_CASES, ids=[c.name for c in FEED_CASES])
def test_golden_from_feeds(
    case: Path, data_server: int, session: Session, settings: Settings, config: Config
) -> None:
    environment.cache_clear()
    spec = yaml.safe_load((case / "feeds.yaml").read_text(encoding="utf-8"))
    text = (case / "campaign.yaml").read_text(encoding="utf-8")
    raw = yaml.safe_load(text.replace("127.0.0.1:PORT", f"127.0.0.1:{data_server}"))
    slug = spec["campaign"]
    assert raw["slug"] == slug
    config.campaigns = {slug: TypeAdapter(CampaignConfig).validate_python(raw)}
    city = config.campaign(slug).city  # links as they are: counted links are tested in tests/stats
    config.cities[city] = config.cities[city].model_copy(update={"tracking": False})
    fetch = settings.model_copy(update={"fetch_allowed_hosts": ["127.0.0.1"]})
    now = _when(spec["now"])
    reports = ingest(session, fetch, config, [slug], now=now, fetcher=Fetcher(fetch))
    assert [r.status for r in reports] == ["ok"] * len(reports), [r.line() for r in reports]
    _build_and_compare(case, spec, session, settings, config)
