"""Benchmark: the public stories page, its Atom feed and the widget with 2,000 stories.

Publishes 2,000 approved stories of Vantaa in a fresh SQLite database, warms
the answer cache with one request each, then times each route in-process
(Starlette's TestClient) and prints the medians against the 50 ms limit.

Run: ``.venv/bin/python bench/bench_public.py``
"""

from __future__ import annotations

import statistics
import tempfile
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import bench_settings, sqlite_url
from sqlalchemy.orm import Session

from outreach.db import create_db_engine
from outreach.models import Base, City, Story, StoryStatus
from outreach.web import create_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

STORIES = 2000
RUNS = 30
LIMIT_MS = 50.0
ROUTES = {
    "stories page": "/vantaa/stories?lang=fi",
    "stories feed": "/vantaa/stories.atom?lang=fi",
    "widget": "/vantaa/embed/stories?limit=3&lang=sv",
}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = bench_settings(sqlite_url(Path(tmp) / "bench.db"), Path(tmp) / "var")
        engine = create_db_engine(settings.database_url)
        Base.metadata.create_all(engine)
        start = datetime(2025, 1, 1, tzinfo=UTC)
        with Session(engine) as s:
            city = City(slug="vantaa", names={"fi": "Vantaa"}, languages=["fi", "sv"])
            s.add(city)
            s.flush()
            s.add_all(
                Story(
                    city_id=city.id,
                    company_name=f"Yritys {i} Oy",
                    title=f"Ilmastoteko {i}",
                    body=f"Yritys vähensi päästöjään **{i % 90} %**. " * 5,
                    language="fi",
                    consent_to_publish=True,
                    status=StoryStatus.APPROVED,
                    decided_at=start + timedelta(hours=i),
                    industry="energy",
                    theme="renewables",
                    translations={},
                )
                for i in range(STORIES)
            )
            s.commit()
        app = create_app(settings)
        medians = {}
        with TestClient(app, base_url="https://testserver") as client:
            for name, path in ROUTES.items():
                assert client.get(path).status_code == 200  # warm the cache
                times = []
                for _ in range(RUNS):
                    t0 = time.perf_counter()
                    response = client.get(path)
                    times.append((time.perf_counter() - t0) * 1000)
                    assert response.status_code == 200
                medians[name] = statistics.median(times)
        engine.dispose()
    for name, ms in medians.items():
        print(f"{name:14s} median {ms:7.2f} ms  limit {LIMIT_MS:.0f} ms  ratio {ms / LIMIT_MS:.2f}")
    worst = max(medians.values())
    print(
        f"worst ratio {worst / LIMIT_MS:.2f} ({'within' if worst < LIMIT_MS else 'OVER'} the limit)"
    )


if __name__ == "__main__":
    main()
