"""Benchmark: CSV import of 100,000 rows, and sign-up + confirm round trips.

Prints rows per second and peak memory of the import (goal: under 200 MB; the
process's max RSS, which includes the interpreter and the libraries),
then sign-up and confirm round trips per second against a real uvicorn server
on 127.0.0.1. Each line ends with its ratio to the limit (< 1.0 is within).
"""

from __future__ import annotations

import csv
import re
import resource
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from outreach.campaigns import load
from outreach.db import create_db_engine, dispose_engines
from outreach.models import Base
from outreach.settings import SOURCE_ROOT, Settings
from outreach.subscribers_io import import_csv
from outreach.subscriptions import ConfirmationMail
from outreach.web import create_app
from outreach.web.security import RateLimiter

ROWS = 100_000
MEMORY_LIMIT_MB = 200


class CountingMailer:
    def __init__(self) -> None:
        self.count = 0
        self.last: ConfirmationMail | None = None

    def __call__(self, mail: ConfirmationMail) -> None:
        self.count += 1
        self.last = mail


def campaigns(tmp: Path) -> Path:
    """Only the cities: the import needs no campaign or source plug-in."""
    folder = tmp / "campaigns"
    folder.mkdir()
    (folder / "cities.yaml").write_text((SOURCE_ROOT / "campaigns" / "cities.yaml").read_text())
    return folder


def write_csv(path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, delimiter=";")
        writer.writerow(["sähköposti", "yritys", "yhteyshenkilö", "koko", "toimiala", "aiheet"])
        for i in range(ROWS):
            writer.writerow([f"user{i}@firma{i % 977}.fi", f"Firma {i} Oy", f"Henkilö {i}",
                             "small", "62010", "climate,trainings"])  # fmt: skip


def bench_import(tmp: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp}/bench.db",
        secret_key="bench-secret-key-0123456789abcdef0123456789",
        campaigns_dir=campaigns(tmp),
        var_dir=tmp / "var",
    )
    engine = create_db_engine(settings.database_url)
    Base.metadata.create_all(engine)
    path = tmp / "crm.csv"
    write_csv(path)
    mailer = CountingMailer()
    config = load(settings.campaigns_path)
    start = time.perf_counter()
    report = import_csv(engine, settings, config, path, "vantaa", mailer=mailer)
    elapsed = time.perf_counter() - start
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert report.imported == ROWS and mailer.count == ROWS, report.summary()
    print(f"import: {ROWS} rows in {elapsed:.1f} s = {ROWS / elapsed:,.0f} rows/s")
    print(f"import: peak memory (process max RSS) {rss_mb:.1f} MB "
          f"(limit {MEMORY_LIMIT_MB} MB): ratio {rss_mb / MEMORY_LIMIT_MB:.2f}")  # fmt: skip
    engine.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bench_round_trips(tmp: Path, seconds: float = 5.0) -> None:
    port = free_port()
    settings = Settings(
        database_url=f"sqlite:///{tmp}/web.db",
        base_url=f"http://127.0.0.1:{port}",
        secret_key="bench-secret-key-0123456789abcdef0123456789",
        campaigns_dir=campaigns(tmp / "web"),
        var_dir=tmp / "var",
    )
    engine = create_db_engine(settings.database_url)
    Base.metadata.create_all(engine)
    mailer = CountingMailer()
    limiter = RateLimiter({"form": (1e9, 1e9)})
    app = create_app(settings, mailer=mailer, rate_limiter=limiter)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off", access_log=False))  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    token_re = re.compile(r'name="csrf_token" value="([^"]+)"')
    done = 0
    with httpx.Client(base_url=settings.base_url) as client:
        form = client.get("/vantaa/subscribe")
        csrf = token_re.search(form.text)[1]  # type: ignore[index]
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            client.post("/vantaa/subscribe", data={"email": f"rt{done}@firma.fi",
                        "topics": ["climate"], "consent": "v", "csrf_token": csrf})  # fmt: skip
            assert mailer.last is not None
            page = client.get(mailer.last.confirm_url)
            resp = client.post(
                mailer.last.confirm_url, data={"csrf_token": token_re.search(page.text)[1]}
            )  # type: ignore[index]
            assert resp.status_code == 200
            done += 1
        elapsed = time.perf_counter() - start
    server.should_exit = True
    thread.join(10)
    print(f"web: {done} sign-up + confirm round trips (4 requests each) in {elapsed:.1f} s "
          f"= {done / elapsed:.1f} per second")  # fmt: skip


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        bench_import(Path(tmp))
        (Path(tmp) / "web").mkdir()
        bench_round_trips(Path(tmp))
    dispose_engines()
    return 0


if __name__ == "__main__":
    sys.exit(main())
