"""Benchmark of the statistics: a city's dashboard figures over a million deliveries,
and the counted-link redirect.

Fills a database with 100,000 subscribers of three cities, 36 issues sent in
2026 with 1,000,000 delivery rows between them (Vantaa 600,000) and 200,000
clicks, then times the figures the city's console pages compute (``city_figures``
and ``year_indicators`` of Vantaa, best of three) against the declared limit of
1 s, on SQLite and, when ``OUTREACH_BENCH_DATABASE_URL`` (or
``OUTREACH_TEST_DATABASE_URL``) names an empty PostgreSQL database, on
PostgreSQL; then 2,000 requests of ``/l/<id>`` through the app in-process
(Starlette's TestClient, each from its own address) against 5 ms median.

Usage: ``python bench/bench_stats.py`` (``OUTREACH_BENCH_SQLITE_FILE=path``: keep the
SQLite data set there, and reuse it when the file exists). Prints ratios to the limits; exits 1
over a limit.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, create_engine, insert, make_url, select, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from outreach.campaigns import load, sync  # noqa: E402
from outreach.db import create_db_engine  # noqa: E402
from outreach.linkids import LinkRef, LinkSigner  # noqa: E402
from outreach.models import (  # noqa: E402
    Base,
    Delivery,
    Issue,
    IssueLink,
    LinkClick,
    Subscriber,
    Subscription,
)
from outreach.settings import Settings  # noqa: E402
from outreach.stats import city_figures  # noqa: E402

FIGURES_LIMIT = 1.0
REDIRECT_LIMIT_MS = 5.0
CITIES = {"vantaa": (60_000, 50_000), "kerava": (25_000, 20_000), "jarvenpaa": (15_000, 13_334)}
CLICKS = 200_000
SIZES = ("micro", "small", "medium", "large", None)
NOW = datetime(2026, 12, 20, 12, 0, tzinfo=UTC)
CHUNK = 50_000


def _chunks(engine: Engine, table: object, rows: list[dict[str, object]]) -> None:
    with engine.begin() as conn:
        for i in range(0, len(rows), CHUNK):
            conn.execute(insert(table), rows[i : i + CHUNK])  # type: ignore[arg-type]


def fill(engine: Engine, settings: Settings) -> tuple[int, int]:
    """The data set; returns Vantaa's first issue id and its number of links."""
    config = load(settings.campaigns_path, settings.templates_path)
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        campaigns = sync(s, config)
        s.commit()
        city_ids = {slug: campaigns[f"{slug}-monthly"].city_id for slug in CITIES}
        campaign_ids = {slug: campaigns[f"{slug}-monthly"].id for slug in CITIES}
    people, subs, first = [], [], 1
    for slug, (count, _) in CITIES.items():
        for n in range(first, first + count):
            people.append(
                {
                    "id": n,
                    "email": f"p{n}@example.fi",
                    "business_id": None,
                    "company_name": f"Yritys {n // 2}",
                    "size_class": SIZES[n % 5],
                    "industry_code": f"{10 + n % 80}",
                    "language": "sv" if n % 7 == 0 else "fi",
                    "interested_in_visit": n % 50 == 0,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
            )
            subs.append(
                {
                    "id": n,
                    "subscriber_id": n,
                    "city_id": city_ids[slug],
                    "topics": ["climate"],
                    "status": "confirmed",
                    "channel": "web",
                    "token_salt": "0" * 32,
                    "created_at": NOW,
                    "confirmed_at": NOW - timedelta(days=n % 700),
                }
            )
        first += count
    _chunks(engine, Subscriber, people)
    _chunks(engine, Subscription, subs)
    issue_id, first_sub = 0, 1
    deliveries: list[dict[str, object]] = []
    links: list[dict[str, object]] = []
    vantaa_first = 0
    for slug, (count, per_issue) in CITIES.items():
        for month in range(1, 13):
            issue_id += 1
            vantaa_first = vantaa_first or issue_id
            started = datetime(2026, month, 2, 7, 0, tzinfo=UTC)
            with engine.begin() as conn:
                conn.execute(
                    insert(Issue),
                    [
                        {
                            "id": issue_id,
                            "campaign_id": campaign_ids[slug],
                            "period": f"2026-{month:02d}",
                            "status": "sent",
                            "snapshot": {},
                            "built_at": started,
                            "send_started_at": started,
                            "sent_at": started,
                        }
                    ],
                )
            for k in range(per_issue):
                sub = first_sub + (k * 7 + month) % count
                deliveries.append(
                    {
                        "issue_id": issue_id,
                        "subscriber_id": sub,
                        "subscription_id": sub,
                        "email": f"p{sub}@example.fi",
                        "language": "fi",
                        "status": "sent" if k % 97 else "failed",
                        "attempts": 1,
                        "sent_at": started + timedelta(seconds=k // 20),
                        "created_at": started,
                    }
                )
            for n in range(1, 11):
                links.append(
                    {
                        "issue_id": issue_id,
                        "lang": "fi",
                        "n": n,
                        "item_id": n,
                        "section": "news" if n < 6 else "events",
                        "variant": "",
                        "title": f"Juttu {n}",
                        "url": f"https://{slug}.fi/{month}/{n}",
                    }
                )
        first_sub += count
    _chunks(engine, Delivery, deliveries)
    _chunks(engine, IssueLink, links)
    with Session(engine) as s:
        link_ids = list(s.scalars(select(IssueLink.id)))
    clicks = [
        {
            "link_id": link_ids[i % len(link_ids)],
            "issue_id": 1 + (i % len(link_ids)) // 10,
            "counted": i % 9 != 0,
            "reason": None if i % 9 else "agent",
            "created_at": NOW - timedelta(minutes=i),
        }
        for i in range(CLICKS)
    ]
    _chunks(engine, LinkClick, clicks)
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    return vantaa_first, 10


def time_figures(engine: Engine, settings: Settings) -> float:
    """Best of three: wall time of the dashboard's figures (``city_figures``, which
    holds the year's indicators too); prints this process's CPU time beside it."""
    config = load(settings.campaigns_path, settings.templates_path)
    best, cpu = float("inf"), float("inf")
    for _ in range(3):
        with Session(engine) as s:
            start, start_cpu = time.perf_counter(), time.process_time()
            figures = city_figures(s, config, "vantaa", 2026, now=NOW)
            best = min(best, time.perf_counter() - start)
            cpu = min(cpu, time.process_time() - start_cpu)
    delivered = sum(int(r["delivered"] or 0) for r in figures.table("monthly").rows)
    load1 = os.getloadavg()[0]
    print(
        f"  ({delivered} of Vantaa's deliveries counted; {cpu:.3f} s CPU in this process; "
        f"load average {load1:.1f} on {os.cpu_count()} cores)"
    )
    return best


def time_redirect(settings: Settings, issue: int) -> float:
    from fastapi.testclient import TestClient

    from outreach.web import create_app
    from outreach.web.security import RateLimiter

    app = create_app(settings, rate_limiter=RateLimiter({}))
    signer = LinkSigner(settings.secret())
    ids = [signer.make(LinkRef(issue, "fi", n, n)) for n in range(1, 11)]
    times, cpu = [], []
    for i in range(2_000):
        client = TestClient(app, client=(f"10.{i // 250}.{i % 250}.1", 40000))
        start, start_cpu = time.perf_counter(), time.process_time()
        answer = client.get(f"/l/{ids[i % 10]}", follow_redirects=False)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        assert answer.status_code == 302, answer.status_code
    print(
        f"  (median CPU time of a redirect {statistics.median(cpu) * 1000:.2f} ms; "
        f"load average {os.getloadavg()[0]:.1f})"
    )
    return statistics.median(times) * 1000  # TestClient included: the whole ASGI stack


def run(url: str, settings: Settings, label: str, *, reuse: bool = False) -> tuple[float, int]:
    engine = create_db_engine(url)
    start = time.perf_counter()
    if reuse:
        first = 1
        print(f"{label}: the data set of an earlier run")
    else:
        first, _ = fill(engine, settings)
        print(f"{label}: data set made in {time.perf_counter() - start:.0f} s")
    took = time_figures(engine, settings)
    engine.dispose()
    print(
        f"{label}: Vantaa's figures in {took:.3f} s; ratio to the {FIGURES_LIMIT:.0f} s limit "
        f"{took / FIGURES_LIMIT:.2f}"
    )
    return took, first


@contextmanager
def scratch_database(url: str) -> Iterator[str]:
    """A new database on the server of ``url``, dropped afterwards (others may use url's)."""
    name = f"bench_stats_{os.getpid()}"
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> int:
    failed = False
    keep = os.environ.get("OUTREACH_BENCH_SQLITE_FILE")  # a file to keep (and reuse) the data in
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(keep) if keep else Path(tmp) / "bench.db"
        reuse = path.exists()
        db = f"sqlite:///{path}"
        settings = Settings(
            database_url=db,
            mail_url="memory:",
            base_url="https://outreach.example.fi",
            secret_key="bench-secret-key-0123456789abcdef0123456789",
            campaigns_dir=ROOT / "campaigns",
            templates_dir=ROOT / "templates",
            var_dir=Path(tmp) / "var",
        )
        took, first = run(db, settings, "SQLite", reuse=reuse)
        failed |= took > FIGURES_LIMIT
        median = time_redirect(settings, first)
        print(
            f"SQLite: /l/ redirect median {median:.2f} ms in-process; ratio to the "
            f"{REDIRECT_LIMIT_MS:.0f} ms limit {median / REDIRECT_LIMIT_MS:.2f}"
        )
        failed |= median > REDIRECT_LIMIT_MS
    pg = os.environ.get("OUTREACH_BENCH_DATABASE_URL") or os.environ.get(
        "OUTREACH_TEST_DATABASE_URL"
    )
    if pg:
        from tests.conftest import reset_postgres

        reset_postgres(pg)
        pg_settings = settings.model_copy(update={"database_url": pg})
        took, _ = run(pg, pg_settings, "PostgreSQL")
        failed |= took > FIGURES_LIMIT
        reset_postgres(pg)
    else:
        print("PostgreSQL: skipped (set OUTREACH_BENCH_DATABASE_URL to an empty database)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
