"""Benchmark of the statistics: a city's dashboard figures over a million deliveries,
and the counted-link redirect.

Fills a database with 100,000 subscribers of three cities, 36 issues sent in
2026 with 1,000,000 delivery rows between them (Vantaa 600,000) and 200,000
clicks, then times the figures the city's console pages compute (``city_figures``
of Vantaa, which holds the year's indicators too; best of three) against the
declared limit of 1 s, on SQLite and, when ``OUTREACH_BENCH_DATABASE_URL`` (or
``OUTREACH_TEST_DATABASE_URL``) names a PostgreSQL server, on a database of its
own there (dropped afterwards); then 2,000 requests of ``/l/<id>`` through the
app in-process (Starlette's TestClient, one for all requests as a server has one
event loop, each request from its own address) against 5 ms median, on each
database, and the same through httpx's ASGI transport (the app without the test
client's threads) beside it.

The end of each send folds its issue for the figures and counts its city's year
(``outreach.stats.settle``); the bench does that issue by issue in the order they
were sent, prints what it took, then times the first figures after it (what the
city's staff see right after a send) and the best of three after those, each
against the limit. The first figures of the same data set when no send's end
folded anything are printed with their ratio too: the console's pages then read
those issues from their delivery rows and fold them after the answer (its time
printed beside). On PostgreSQL the data set is vacuumed after it is made,
as autovacuum does with a table of new rows. Times are wall-clock; each comes
with this process's CPU time (and on PostgreSQL the server's, every backend of
the bench's database) and the load average, since the machine may be shared.

Usage: ``python bench/bench_stats.py`` (``OUTREACH_BENCH_SQLITE_FILE=path``: keep the
SQLite data set there, and reuse it when the file exists). Prints ratios to the limits; exits 1
over a limit.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common import (
    bench_settings,
    env_postgres,
    load_average,
    median,
    print_load,
    scratch_postgres,
    server_cpu,
    sqlite_url,
)
from sqlalchemy import Engine, insert, select, text
from sqlalchemy.orm import Session

from outreach.campaigns import load, sync
from outreach.db import create_db_engine, dispose_engines
from outreach.linkids import LinkRef, LinkSigner
from outreach.models import (
    Base,
    Delivery,
    Issue,
    IssueLink,
    LinkClick,
    Subscriber,
    Subscription,
)
from outreach.settings import Settings
from outreach.stats import city_figures, settle

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
    if engine.dialect.name == "postgresql":  # as autovacuum does with a table of new rows
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    else:
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    return vantaa_first, 10


#: (wall seconds, CPU seconds in this process, in the database server or None)
Run = tuple[float, float, float | None]


def _timed(engine: Engine, work: Any) -> Run:
    before = server_cpu(engine)
    start, start_cpu = time.perf_counter(), time.process_time()
    work()
    took, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    after = server_cpu(engine)
    server = sum(t - before.get(pid, 0.0) for pid, t in after.items()) if after else None
    return took, cpu, server


def _cpu_of(run: Run) -> str:
    server = f" + {run[2]:.2f} s in the database server" if run[2] is not None else ""
    return f"{run[1]:.3f} s CPU in this process{server}"


def _unfold(engine: Engine) -> None:
    """Nothing folded or summed up: the data set as no send's end left it."""
    with engine.begin() as conn:
        for table in ("reach_summaries", "reach_marks", "issue_reach"):
            conn.execute(text(f"DELETE FROM {table}"))


def _settle_each(engine: Engine, config: Any) -> list[Run]:
    """What the end of each send does (``outreach.stats.settle``: fold the issue, count
    its city's year), issue by issue in the order they were sent."""
    with Session(engine) as s:
        sent = s.execute(select(Issue.id, Issue.send_started_at).order_by(Issue.send_started_at))
        issues = [(int(i), when) for i, when in sent]
    runs = []
    for issue_id, started in issues:
        moment = (started or NOW) + timedelta(hours=2)
        runs.append(_timed(engine, lambda i=issue_id, m=moment: settle(engine, config, [i], now=m)))
    return runs


def time_figures(engine: Engine, settings: Settings) -> tuple[float, float]:
    """The dashboard's figures (``city_figures``, which holds the year's indicators too):
    the first after the sends settled (each folded at its end), and the best of three
    after it; printed with the CPU time beside them, with the folds at the sends' ends
    and, apart, the first figures when no send's end folded anything (they fold
    themselves)."""
    config = load(settings.campaigns_path, settings.templates_path)

    def figures(fold_now: bool = True) -> None:
        with Session(engine) as s:
            found = city_figures(s, config, "vantaa", 2026, now=NOW, fold_now=fold_now)
            seen.append(sum(int(r["delivered"] or 0) for r in found.table("monthly").rows))
            unfolded[:] = found.unfolded

    seen: list[int] = []
    unfolded: list[int] = []
    _unfold(engine)
    cold = _timed(engine, lambda: figures(fold_now=False))  # as the console's pages ask
    read_from_rows = len(unfolded)
    later = _timed(engine, lambda: settle(engine, config, unfolded, now=NOW))
    _unfold(engine)
    folds = _settle_each(engine, config)
    first = _timed(engine, figures)
    best = min(_timed(engine, figures) for _ in range(3))
    assert len(set(seen)) == 1, seen  # the same figures every way
    took = sorted(run[0] for run in folds)
    print(
        f"  the end of each of the {len(folds)} sends folds its issue and counts its city's "
        f"year (outreach.stats.settle): median {median(took):.3f} s, at most {took[-1]:.3f} s "
        f"({_cpu_of(max(folds))})"
    )
    print(
        f"  first figures after the sends settled: {first[0]:.3f} s; ratio to the "
        f"{FIGURES_LIMIT:.0f} s limit {first[0] / FIGURES_LIMIT:.2f} ({_cpu_of(first)})"
    )
    print(
        f"  first figures when no send's end folded anything (the page reads the "
        f"{read_from_rows} issues of Vantaa from their rows): {cold[0]:.3f} s; ratio "
        f"{cold[0] / FIGURES_LIMIT:.2f} ({_cpu_of(cold)}); it folds them after its answer "
        f"in {later[0]:.3f} s ({_cpu_of(later)})"
    )
    print(
        f"  ({seen[0]} of Vantaa's deliveries counted; best run {_cpu_of(best)}; {load_average()})"
    )
    return first[0], best[0]


def with_client_header(app: Any) -> Any:
    """The app, each request's client address taken from its ``X-Bench-Client`` header:
    one client (one event loop, as a server has) sends the requests of many addresses."""

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"x-bench-client":
                    scope = {**scope, "client": (value.decode(), 40000)}
        await app(scope, receive, send)

    return wrapped


def time_redirect(settings: Settings, issue: int, label: str) -> float:
    """The median of 2,000 requests of ``/l/<id>`` through Starlette's TestClient (the
    whole ASGI stack, the test client's own threads included), each from its own
    address; then the same through httpx's ASGI transport, which runs the app in the
    client's event loop as a server does, printed beside it as the app's own share."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from outreach.web import create_app
    from outreach.web.security import RateLimiter

    app = with_client_header(create_app(settings, rate_limiter=RateLimiter({})))
    signer = LinkSigner(settings.secret())
    ids = [signer.make(LinkRef(issue, "fi", n, n)) for n in range(1, 11)]
    times, cpu = [], []
    with TestClient(app) as client:
        for i in range(2_000):
            address = {"X-Bench-Client": f"10.{i // 250}.{i % 250}.1"}
            start, start_cpu = time.perf_counter(), time.process_time()
            answer = client.get(f"/l/{ids[i % 10]}", headers=address, follow_redirects=False)
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
            assert answer.status_code == 302, answer.status_code
    took = median(times) * 1000
    own, own_cpu = asyncio.run(_through_asgi(app, ids))
    print(
        f"{label}: /l/ redirect median {took:.2f} ms in-process; ratio to the "
        f"{REDIRECT_LIMIT_MS:.0f} ms limit {took / REDIRECT_LIMIT_MS:.2f} (median CPU time "
        f"{median(cpu) * 1000:.2f} ms in this process; {load_average()})"
    )
    print(
        f"  (the app alone, through httpx's ASGI transport: median {own:.2f} ms, "
        f"CPU time {own_cpu:.2f} ms)"
    )
    return took


async def _through_asgi(app: Any, ids: list[str]) -> tuple[float, float]:
    import httpx

    times, cpu = [], []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        for i in range(2_000):
            address = {"X-Bench-Client": f"10.{100 + i // 250}.{i % 250}.1"}
            start, start_cpu = time.perf_counter(), time.process_time()
            answer = await client.get(f"/l/{ids[i % 10]}", headers=address)
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
            assert answer.status_code == 302, answer.status_code
    return median(times) * 1000, median(cpu) * 1000


def run(url: str, settings: Settings, label: str, *, reuse: bool = False) -> tuple[float, int]:
    engine = create_db_engine(url)
    start = time.perf_counter()
    if reuse:
        first = 1
        print(f"{label}: the data set of an earlier run")
    else:
        first, _ = fill(engine, settings)
        print(f"{label}: data set made in {time.perf_counter() - start:.0f} s")
    first_run, took = time_figures(engine, settings)
    engine.dispose()
    print(
        f"{label}: Vantaa's figures in {took:.3f} s; ratio to the {FIGURES_LIMIT:.0f} s limit "
        f"{took / FIGURES_LIMIT:.2f} (the first after the sends settled: "
        f"{first_run / FIGURES_LIMIT:.2f})"
    )
    return max(first_run, took), first


def main() -> int:
    print_load("start")
    failed = False
    keep = os.environ.get("OUTREACH_BENCH_SQLITE_FILE")  # a file to keep (and reuse) the data in
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(keep) if keep else Path(tmp) / "bench.db"
        reuse = path.exists()
        settings = bench_settings(sqlite_url(path), Path(tmp) / "var")
        took, first = run(settings.database_url, settings, "SQLite", reuse=reuse)
        failed |= took > FIGURES_LIMIT
        failed |= time_redirect(settings, first, "SQLite") > REDIRECT_LIMIT_MS
        server = env_postgres("OUTREACH_BENCH_DATABASE_URL", "OUTREACH_TEST_DATABASE_URL")
        if server is None:
            print("PostgreSQL: skipped (set OUTREACH_BENCH_DATABASE_URL to a server's URL)")
        else:
            with scratch_postgres(server, "bench_stats") as url:
                if url is not None:
                    pg_settings = settings.model_copy(update={"database_url": url})
                    took, first = run(url, pg_settings, "PostgreSQL")
                    failed |= took > FIGURES_LIMIT
                    failed |= time_redirect(pg_settings, first, "PostgreSQL") > REDIRECT_LIMIT_MS
                    dispose_engines()  # the app's connections, before the database goes
    print_load("end")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
