"""Benchmark: the console's subscriber list at 100,000 subscribers, and the import preview.

On SQLite and PostgreSQL (``--pg URL``, default ``OUTREACH_TEST_DATABASE_URL``;
a scratch database made and dropped; skipped with the reason without one) it
fills one city with 100,000 confirmed subscribers through the CSV import, then
times ``outreach.subscriptions.search`` (what ``/staff/{city}/subscribers``
calls, with its counts) for the first page, a filtered search (a company-name
substring, a topic and a language) and the last page, and prints each median
and its ratio to the goal of 200 ms (< 1.0 meets it). Then the import preview
(the importer's dry run) of 100,000 rows runs in a process of its own and its
peak memory (its VmHWM) is printed with its ratio to the limit of 200 MB.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import memory_mb  # noqa: E402

GOAL_MS = 200.0
LIMIT_MB = 200.0
ROWS = 100_000
RUNS = 9


def write_csv(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as fh:
        fh.write("Sähköposti;Yritys;Y-tunnus;Yhteyshenkilö;Kieli;Aiheet;Koko\n")
        for i in range(rows):
            lang = "ruotsi" if i % 5 == 0 else "suomi"
            topic = "climate, trainings" if i % 3 == 0 else "climate"
            size = ("mikro", "pieni", "keskisuuri", "suuri")[i % 4]
            fh.write(f"yhteys{i}@yritys{i}.fi;Yritys {i} Oy;;Henkilö {i};{lang};{topic};{size}\n")


def settings_for(url: str, var: Path) -> object:
    from outreach.settings import Settings

    return Settings(database_url=url, mail_url="memory:", base_url="https://outreach.example.fi",
                    secret_key="bench-secret-key-0123456789abcdef0123456789",
                    campaigns_dir=ROOT / "campaigns", templates_dir=ROOT / "templates",
                    var_dir=var)  # fmt: skip


def median_ms(work: object) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        work()  # type: ignore[operator]
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def bench_list(label: str, url: str, csv_path: Path, var: Path) -> None:
    from outreach.campaigns import load
    from outreach.db import create_db_engine
    from outreach.models import Base
    from outreach.subscriptions import Filters, import_csv, search

    settings = settings_for(url, var)
    engine = create_db_engine(url)
    Base.metadata.create_all(engine)
    config = load(ROOT / "campaigns", ROOT / "templates")
    start = time.perf_counter()
    import_csv(engine, settings, config, csv_path, "vantaa", confirmed=True,  # type: ignore[arg-type]
               consent_note="benchmark")  # fmt: skip
    print(f"{label}: {ROWS} subscribers imported in {time.perf_counter() - start:.1f} s")
    if engine.dialect.name == "postgresql":
        # what autovacuum does soon after a big import: statistics and the visibility map
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    filtered = Filters.parse({"q": "yritys 4242", "topic": "climate", "language": "fi"})
    with Session(engine) as s:
        cases = {
            "first page": lambda: search(s, "vantaa"),
            "filtered search": lambda: search(s, "vantaa", filtered),
            "last page": lambda: search(s, "vantaa", last=True),
        }
        assert search(s, "vantaa").total == ROWS
        for name, work in cases.items():
            ms = median_ms(work)
            print(f"{label}: {name}: median {ms:.1f} ms, ratio {ms / GOAL_MS:.2f} "
                  f"to the {GOAL_MS:.0f} ms goal")  # fmt: skip
    engine.dispose()


def preview_child(url: str, csv_path: str, var: str) -> None:
    from outreach.campaigns import load
    from outreach.db import create_db_engine
    from outreach.models import Base
    from outreach.subscriptions import import_csv

    engine = create_db_engine(url)
    Base.metadata.create_all(engine)
    config = load(ROOT / "campaigns", ROOT / "templates")
    report = import_csv(engine, settings_for(url, Path(var)), config, Path(csv_path), "vantaa",  # type: ignore[arg-type]
                        confirmed=True, consent_note="benchmark", dry_run=True)  # fmt: skip
    peak = memory_mb()
    print(f"import preview of {report.rows} rows: {report.imported} to add; peak memory "
          f"{peak:.0f} MB, ratio {peak / LIMIT_MB:.2f} to the {LIMIT_MB:.0f} MB limit")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default=os.environ.get("OUTREACH_TEST_DATABASE_URL"))
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        preview_child(*args.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        csv_path = folder / "crm.csv"
        write_csv(csv_path, ROWS)
        print(f"load average at start: {os.getloadavg()[0]:.2f}")
        bench_list("SQLite", f"sqlite:///{folder}/list.db", csv_path, folder)
        if args.pg:
            admin = make_url(args.pg)
            name = f"bench_subscribers_{os.getpid()}"
            server = create_engine(admin, isolation_level="AUTOCOMMIT")
            with server.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            try:
                url = admin.set(database=name).render_as_string(hide_password=False)
                bench_list("PostgreSQL", url, csv_path, folder)
            finally:
                with server.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                server.dispose()
        else:
            print("PostgreSQL: skipped (no --pg URL and no OUTREACH_TEST_DATABASE_URL)")
        subprocess.run([sys.executable, __file__, "--child", f"sqlite:///{folder}/preview.db",
                        str(csv_path), str(folder)], check=True)  # fmt: skip
        print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
