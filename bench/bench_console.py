"""Benchmark of the staff console: the dashboard, issue and subscriber pages with a full database.

With 100,000 confirmed subscribers of Vantaa (each with a company, a business ID
and a contact person), 50 issues of its newsletter (48 sent, the latest sent one
with a delivery row per subscriber, one approved, one draft with a stored
pre-flight report) and a signed-in approver, each page is asked for ``--rounds``
times in-process (the app as uvicorn runs it, without the network) on SQLite and
on PostgreSQL. The subscriber list is asked for its first page, searches (a word
inside a name, a part of a company name with its accents left out and a filter,
a part of a business ID that one subscriber has) and its last page. Prints each
page's median and its ratio to the 200 ms goal, and the CPU time a request took
(this process's, plus on PostgreSQL the database server's processes serving it,
from /proc), with the load average: on a shared machine the CPU time is the
figure that holds. Exits 1 when a median is over the goal.

PostgreSQL: a fresh database on ``OUTREACH_BENCH_POSTGRES`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``), dropped afterwards;
skipped with a line saying so when the server does not answer.

The pages keep what is slow to compute and slow to change for a while: a
draft's rendered sizes per content (until it is edited), its audience count
(a minute), a finished send's figures (a minute). The first request pays for
them and is printed beside the median. The settled issues are folded and their
city's year counted first, as the scheduler's send pass does once a send is over
(``outreach.stats.settle``; its time is printed).

``--million`` also times the city dashboard on bench/bench_stats.py's data set
(100,000 subscribers of three cities, 1,000,000 deliveries, 200,000 clicks; the
console's clock at that bench's moment), on SQLite and PostgreSQL.

Usage: ``python bench/bench_console.py [--rounds 20] [--million]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import PG_ADMIN, bench_settings, own_cpu_seconds, scratch_postgres
from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session

from outreach.campaigns import load
from outreach.checks.flow import save_report
from outreach.checks.report import Report
from outreach.db import create_db_engine, dispose_engines
from outreach.models import (
    Base,
    City,
    Delivery,
    DeliveryStatus,
    Issue,
    IssueStatus,
    StaffUser,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    search_text_of,
)
from outreach.settings import Settings
from outreach.staff import sessions
from outreach.stats import settle
from outreach.web import create_app
from outreach.web.security import RateLimiter
from outreach.web.staff.guard import COOKIE
from tests.staff.support import make_account, make_city_issue
from tests.web.conftest import TestClient

SUBSCRIBERS = 100_000
FIRST = ("Aino", "Eero", "Helmi", "Juha", "Kaisa", "Mikko", "Sanna", "Ville", "Åsa", "Göran")
LAST = ("Virtanen", "Korhonen", "Mäkinen", "Nieminen", "Hämäläinen", "Laine", "Heikkinen",
        "Koskinen", "Järvinen", "Lehtonen", "Lindqvist", "Söderström", "Salo", "Turunen",
        "Rantanen", "Karjalainen", "Jokinen", "Aaltonen", "Öhman", "Kallio")  # fmt: skip
TRADES = ("Rakennus", "Sähkö", "Lämpö ja Vesi", "Puutarha", "Kuljetus", "Konepaja", "Siivous",
          "Kiinteistöhuolto", "Ravintola", "Tilitoimisto", "Kahvila", "Maalaus")  # fmt: skip
PLACES = ("Vantaan", "Keravan", "Järvenpään", "Tikkurilan", "Myyrmäen", "Hakunilan")


def person(i: int) -> dict[str, str]:
    """The company, business ID and contact person of the ``i``-th subscriber."""
    return {
        "company_name": f"{PLACES[i % 6]} {TRADES[i % 12]} {i // 72} Oy",
        "business_id": f"{1_000_000 + i * 7:07d}-{i % 10}",
        "contact_name": f"{FIRST[i % 10]} {LAST[(i // 10) % 20]}",
    }


ISSUES = 50
GOAL = 0.200  # seconds, median
BATCH = 10_000
LIST = "/staff/vantaa/subscribers?lang=fi"


def seed(engine: Engine, settings: Settings) -> dict[str, int]:
    """The database of the benchmark; the ids of the pages' issues."""
    Base.metadata.create_all(engine)
    config = load(settings.campaigns_path, settings.templates_path)
    now = datetime.now(UTC)
    ids: list[int] = []
    with Session(engine, expire_on_commit=False) as s:
        for n in range(ISSUES):
            year, month = 2022 + n // 12, n % 12 + 1
            issue = make_city_issue(s, config, "vantaa-monthly", period=f"{year}-{month:02d}")
            ids.append(issue.id)
        city_id = s.scalars(select(City.id).where(City.slug == "vantaa")).one()
        for issue_id in ids[:-2]:
            sent = s.get(Issue, issue_id)
            assert sent is not None
            sent.status, sent.sent_at, sent.send_started_at = IssueStatus.SENT, now, now
        approved = s.get(Issue, ids[-2])
        assert approved is not None
        approved.status, approved.approved_at, approved.approved_by = (
            IssueStatus.APPROVED, now, "bench")  # fmt: skip
        draft = s.get(Issue, ids[-1])
        assert draft is not None
        save_report(s, draft, Report(draft.id, now, ["fi", "sv"]))
        s.commit()
    with engine.begin() as conn:
        for start in range(0, SUBSCRIBERS, BATCH):
            rows = range(start, min(start + BATCH, SUBSCRIBERS))
            people: list[dict[str, Any]] = []
            for i in rows:
                email, details = f"yritys{i}@example.fi", person(i)
                people.append(
                    {
                        "id": i + 1,
                        "email": email,
                        "language": "sv" if i % 5 == 0 else "fi",
                        "created_at": now,
                        "updated_at": now,
                        **details,
                        # what the ORM's flush hook and the import keep
                        "search_text": search_text_of(email, *details.values()),
                    }
                )
            conn.execute(insert(Subscriber), people)  # fmt: skip
            conn.execute(insert(Subscription), [
                {"id": i + 1, "subscriber_id": i + 1, "city_id": city_id, "topics": ["climate"],
                 "status": SubscriptionStatus.CONFIRMED, "token_salt": f"{i:032d}",
                 "created_at": now, "confirmed_at": now} for i in rows])  # fmt: skip
            conn.execute(insert(Delivery), [
                {"issue_id": ids[-3], "subscriber_id": i + 1, "subscription_id": i + 1,
                 "email": f"yritys{i}@example.fi", "language": "sv" if i % 5 == 0 else "fi",
                 "status": DeliveryStatus.FAILED if i % 1000 == 0 else DeliveryStatus.SENT,
                 "last_error": "550 5.1.1 no such user" if i % 1000 == 0 else None,
                 "attempts": 1, "sent_at": now, "created_at": now} for i in rows])  # fmt: skip
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
    return {"sent": ids[-3], "draft": ids[-1]}


def session_token(engine: Engine, now: datetime | None = None) -> str:
    make_account(engine, "hyvaksyja@vantaa.fi", "approver", "vantaa")
    with Session(engine) as s:
        user = s.scalars(select(StaffUser).where(StaffUser.email == "hyvaksyja@vantaa.fi")).one()
        moment = now or datetime.now(UTC)
        token = sessions.start(s, user, sessions.FULL, ip="127.0.0.1", now=moment)
        s.commit()
    return token


def settled(engine: Engine, settings: Settings, name: str, now: datetime | None = None) -> None:
    """What the scheduler's send pass does once the sends are over: fold the settled
    issues and count their city's year (``outreach.stats.settle``)."""
    config = load(settings.campaigns_path, settings.templates_path)
    started, cpu = time.perf_counter(), time.process_time()
    folded = settle(engine, config, now=now)
    print(f"{name}: the send pass settled {folded} issues (folded, their year counted) in "
          f"{time.perf_counter() - started:.2f} s ({time.process_time() - cpu:.2f} s CPU here; "
          f"load average {load_average()})")  # fmt: skip


def backend_pids(engine: Engine) -> list[int]:
    """The PostgreSQL server processes serving the bench's database (not this one)."""
    if engine.dialect.name != "postgresql":
        return []
    with engine.connect() as conn:
        found = conn.execute(text(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ))  # fmt: skip
        return [int(pid) for pid in found.scalars()]


def cpu_of(pids: list[int]) -> float:
    """User and system CPU seconds of the processes ``pids`` (gone ones count 0)."""
    return sum(own_cpu_seconds(pid) or 0.0 for pid in pids)


def median_of(
    client: TestClient, path: str, rounds: int, engine: Engine
) -> tuple[float, float, float]:
    """The first answer's time (cold: templates, the pool, the page's caches), the median,
    and the mean CPU time of a request (this process and the database server's)."""
    started = time.perf_counter()
    answer = client.get(path)
    first = time.perf_counter() - started
    assert answer.status_code == 200, (path, answer.status_code)
    pids = backend_pids(engine)
    cpu_before = time.process_time() + cpu_of(pids)
    took = []
    for _ in range(rounds):
        started = time.perf_counter()
        answer = client.get(path)
        took.append(time.perf_counter() - started)
        assert answer.status_code == 200
    cpu = (time.process_time() + cpu_of(pids) - cpu_before) / rounds
    return first, statistics.median(took), cpu


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def run(name: str, url: str, var: Path, rounds: int) -> bool:
    settings = bench_settings(url, var)
    engine = create_engine(url)
    started = time.monotonic()
    ids = seed(engine, settings)
    token = session_token(engine)
    print(f"{name}: seeded {SUBSCRIBERS} subscribers, {ISSUES} issues, "
          f"{SUBSCRIBERS} deliveries in {time.monotonic() - started:.1f} s")  # fmt: skip
    settled(engine, settings, name)
    limiter = RateLimiter({"staff": (1_000_000, 1.0), "form": (1_000_000, 1.0)})
    app = create_app(settings, rate_limiter=limiter)
    pages = {
        "dashboard": "/staff/vantaa/?lang=fi",
        "issue page (sent, 100,000 deliveries)": f"/staff/vantaa/issues/{ids['sent']}?lang=fi",
        "issue page (draft)": f"/staff/vantaa/issues/{ids['draft']}?lang=fi",
        "subscribers: first page": f"{LIST}",
        "subscribers: a name's word (virtanen)": f"{LIST}&q=virtanen",
        "subscribers: a company's part, unaccented, and a filter (jarvenpaan lampo, sv)": (
            f"{LIST}&q=jarvenpaan+lampo&language=sv"
        ),
        "subscribers: a business ID's part, one match (000007)": f"{LIST}&q=000007",
        "subscribers: last page": f"{LIST}&last=1",
    }
    ok = True
    with TestClient(app, base_url="https://testserver") as client:
        client.cookies.set(COOKIE, token)
        for label, path in pages.items():
            first, median, cpu = median_of(client, path, rounds, engine)
            ratio = median / GOAL
            ok = ok and ratio <= 1.0
            print(f"{name}: {label}: median {median * 1000:.1f} ms over {rounds} requests: "
                  f"{ratio:.2f}x the {GOAL * 1000:.0f} ms goal; CPU {cpu * 1000:.1f} ms a "
                  f"request (first request {first * 1000:.0f} ms; load average "
                  f"{load_average()})")  # fmt: skip
    dispose_engines()
    engine.dispose()
    return ok


def run_million(name: str, url: str, var: Path, rounds: int) -> bool:
    """The dashboard on bench/bench_stats.py's data set: 100,000 subscribers of three
    cities, 1,000,000 deliveries of 36 issues (Vantaa's 600,000), 200,000 clicks."""
    from bench_stats import NOW, fill

    settings = bench_settings(url, var)
    engine = create_db_engine(url)
    started = time.monotonic()
    fill(engine, settings)
    print(f"{name}: bench_stats' data set (1,000,000 deliveries) made in "
          f"{time.monotonic() - started:.0f} s")  # fmt: skip
    settled(engine, settings, name, now=NOW)
    token = session_token(engine, now=NOW)
    limiter = RateLimiter({"staff": (1_000_000, 1.0), "form": (1_000_000, 1.0)})
    app = create_app(settings, rate_limiter=limiter, clock=lambda: NOW)
    with TestClient(app, base_url="https://testserver") as client:
        client.cookies.set(COOKIE, token)
        first, median, cpu = median_of(client, "/staff/vantaa/?lang=fi", rounds, engine)
    ratio = median / GOAL
    print(f"{name}: dashboard with 1,000,000 deliveries: median {median * 1000:.1f} ms over "
          f"{rounds} requests: {ratio:.2f}x the {GOAL * 1000:.0f} ms goal; CPU {cpu * 1000:.1f} "
          f"ms a request (first request {first * 1000:.0f} ms; load average "
          f"{load_average()})")  # fmt: skip
    dispose_engines()
    engine.dispose()
    return ratio <= 1.0


@contextmanager
def postgres() -> Iterator[str | None]:
    with scratch_postgres(
        os.environ.get("OUTREACH_BENCH_POSTGRES", PG_ADMIN), "bench_console"
    ) as url:
        if url is not None:
            # One process a query, so that the CPU time read from /proc is all of it
            # (parallel workers come and go unseen); on two cores they gain little,
            # and one process's time is the most a query takes without them.
            admin = create_engine(make_url(url).set(database="postgres"),
                                  isolation_level="AUTOCOMMIT")  # fmt: skip
            with admin.connect() as conn:
                name = make_url(url).database
                conn.execute(
                    text(f'ALTER DATABASE "{name}" SET max_parallel_workers_per_gather = 0')
                )
            admin.dispose()
        yield url


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument(
        "--million", action="store_true",
        help="also the dashboard on bench_stats.py's data set of 1,000,000 deliveries",
    )  # fmt: skip
    args = parser.parse_args()
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        ok = run("SQLite", f"sqlite:///{tmp}/bench.db", Path(tmp) / "var", args.rounds) and ok
        if args.million:
            big = f"sqlite:///{tmp}/million.db"
            ok = run_million("SQLite", big, Path(tmp) / "var-1m", args.rounds) and ok
        with postgres() as url:
            if url is not None:
                ok = run("PostgreSQL", url, Path(tmp) / "var-pg", args.rounds) and ok
        if args.million:
            with postgres() as url:
                if url is not None:
                    ok = run_million("PostgreSQL", url, Path(tmp) / "var-pg-1m", args.rounds) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
