"""Benchmark: CSV import of 100,000 rows on SQLite and PostgreSQL, then sign-up round trips.

The file is a Finnish CRM export as the import meets them (``;``, Finnish
headers, ``pieni``/``mikro`` sizes, ``suomi``/``ruotsi``, topic names, business
IDs, a consent column), and every row gets its confirmation mail through a
counting mailer. Each import runs in a process of its own, so its peak memory
(the process's peak resident size, VmHWM: interpreter, libraries and the
import) is its own.

Per database it prints the rows per second and their ratio to the goal of
10,000 rows/s (>= 1.0 meets it), the peak memory and its ratio to the limit of
150 MB (< 1.0 is within), the import's own CPU time (and the PostgreSQL
server's, read from /proc when it runs on this host), and the load average at
the start and end of the run: on a shared machine the wall-clock figure moves
with the load. PostgreSQL runs in a scratch database made on the server of
``--pg URL`` (default ``OUTREACH_TEST_DATABASE_URL``) and dropped afterwards;
without one it is skipped with that reason. Then sign-up + confirm round trips
per second against a real uvicorn server on 127.0.0.1.

Then imports of MAIL_ROWS rows WITH real confirmation mails (the product's
mailer, one rendered template per city, language and topics, one backend
connection per import): to an aiosmtpd sink on 127.0.0.1 (its own process,
as ``bench_send.py`` starts it) and to ``file://``, on SQLite and PostgreSQL.
Each prints rows/s and mails/s; the SMTP runs also their ratio to the limit
measured in the same run: raw smtplib sending the product's own confirmation
message (its bytes, as the mailer fills them) over one connection to the same
sink, before and after the imports (the mean of the two). Last, the cost of
one confirmation mail before (rendered, inlined and sent over a backend opened
for it, as every mail was) and after (filled into the kept template, sent over
the open backend), to ``file://``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from common import machine_speed, memory_mb, own_cpu_seconds
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

from outreach.campaigns import load
from outreach.db import create_db_engine, dispose_engines
from outreach.models import Base
from outreach.settings import SOURCE_ROOT, Settings
from outreach.subscriptions import ConfirmationMail
from outreach.validation import business_id_check_digit

ROWS = 100_000
MAIL_ROWS = 20_000
GOAL_ROWS_PER_SECOND = 10_000
MEMORY_LIMIT_MB = 150
SECRET = "bench-secret-key-0123456789abcdef0123456789"


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
    folder.mkdir(exist_ok=True)
    (folder / "cities.yaml").write_text((SOURCE_ROOT / "campaigns" / "cities.yaml").read_text())
    return folder


def write_csv(path: Path, rows: int = ROWS) -> None:
    """A Finnish CRM export of ``rows`` good rows (deterministic)."""
    rng = random.Random(12)
    sizes = ["mikro", "pieni", "keskisuuri", "suuri", "pk-yritys", "PK", "mikroyritys", "iso"]
    # the languages Vantaa sends in: another would be a note on its line
    languages = ["suomi", "suomi", "suomi", "ruotsi", "svenska", "finska"]
    topics = ["Kaupungin ilmastotyö ja uutiset", "Koulutukset, kurssit ja webinaarit",
              "Hankinnat ja markkinavuoropuhelu | Palkinnot ja tunnustukset",
              "climate, trainings"]  # fmt: skip
    with path.open("w", encoding="cp1252", newline="") as fh:
        writer = csv.writer(fh, delimiter=";")
        writer.writerow(["Etunimi", "Sukunimi", "Sähköposti", "Yritys", "Y-tunnus",
                         "Yrityksen koko", "Toimiala", "Kieli", "Aiheet", "Suostumus"])  # fmt: skip
        for i in range(rows):
            business_id = ""
            if i % 10 < 7:
                body = f"{rng.randrange(10**7):07d}"
                check = business_id_check_digit(body)
                business_id = "" if check is None else f"{body}-{check}"
            writer.writerow([f"Etunimi{i}", f"Sukunimi{i}", f"user{i}@firma{i % 977}.fi",
                             f"Firma {i} Oy", business_id, rng.choice(sizes), "62010",
                             rng.choice(languages), rng.choice(topics), "Kyllä"])  # fmt: skip


def one_import(url: str, path: Path, tmp: Path) -> dict[str, object]:
    """Runs in its own process (``--one``): migrate, import ``path``, measure."""
    from outreach.subscriptions import import_csv

    settings = Settings(database_url=url, secret_key=SECRET, campaigns_dir=campaigns(tmp),
                        var_dir=tmp / "var")  # fmt: skip
    engine = create_db_engine(settings.database_url)
    Base.metadata.create_all(engine)
    mailer = CountingMailer()
    config = load(settings.campaigns_path)
    server = ServerCpu(engine)
    cpu, start = time.process_time(), time.perf_counter()
    report = import_csv(engine, settings, config, path, "vantaa", mailer=mailer)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert report.imported == ROWS and mailer.count == ROWS, report.summary()
    assert not report.skipped and not report.warnings, report.summary()
    server_cpu = server.seconds()
    engine.dispose()
    return {
        "seconds": elapsed,
        "cpu": cpu,
        "server_cpu": server_cpu,
        "rss_mb": memory_mb(),
        "summary": report.summary(),
    }


class ServerCpu:
    """The CPU time of the PostgreSQL backends the import's connections talk to, read
    from /proc when the server runs on this host (None otherwise, and on SQLite)."""

    def __init__(self, engine: Engine) -> None:
        self.start: dict[int, float] = {}
        self.readable = engine.dialect.name == "postgresql"
        if self.readable:
            event.listen(engine, "checkout", self._checkout)

    def _checkout(self, dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        if not self.readable:
            return
        pid = dbapi_conn.info.backend_pid
        if pid not in self.start:
            used = own_cpu_seconds(pid)
            if used is None:
                self.readable = False
            else:
                self.start[pid] = used

    def seconds(self) -> float | None:
        if not self.readable or not self.start:
            return None
        now = {pid: own_cpu_seconds(pid) for pid in self.start}
        if any(value is None for value in now.values()):
            return None
        return sum(float(now[pid] or 0) - used for pid, used in self.start.items())


def scratch_database(server_url: str) -> tuple[str, str]:
    """A new empty database on the server of ``server_url``: its URL and name."""
    base = make_url(server_url)
    name = f"outreach_bench_import_{os.getpid()}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False), name


def drop_database(server_url: str, name: str) -> None:
    admin = create_engine(make_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def bench_import(label: str, url: str, path: Path, tmp: Path) -> None:
    before = load_average()
    run = subprocess.run(
        [sys.executable, __file__, "--one", url, str(path), str(tmp)],
        check=True,
        capture_output=True,
        text=True,
    )
    after = load_average()
    result = json.loads(run.stdout.strip().splitlines()[-1])
    seconds, rss = float(result["seconds"]), float(result["rss_mb"])
    rate = ROWS / seconds
    print(f"import {label}: load average at start {before}")
    print(f"import {label}: {result['summary']}")
    print(f"import {label}: {ROWS:,} rows in {seconds:.1f} s = {rate:,.0f} rows/s, "
          f"ratio to the {GOAL_ROWS_PER_SECOND:,} rows/s goal {rate / GOAL_ROWS_PER_SECOND:.2f} "
          f"(>= 1.0 meets it); the import's own CPU time {float(result['cpu']):.1f} s")  # fmt: skip
    if result["server_cpu"] is not None:
        print(f"import {label}: the PostgreSQL server's CPU time for it "
              f"{float(result['server_cpu']):.1f} s")  # fmt: skip
    print(f"import {label}: peak memory (process VmHWM) {rss:.1f} MB, ratio to the "
          f"{MEMORY_LIMIT_MB} MB limit {rss / MEMORY_LIMIT_MB:.2f} (< 1.0 is within)")  # fmt: skip
    print(f"import {label}: load average at end {after}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def one_mail_import(url: str, path: Path, tmp: Path, mail_url: str) -> dict[str, object]:
    """Runs in its own process (``--mail``): import ``path`` with the real mailer."""
    from outreach.delivery import confirmation_mailer
    from outreach.subscriptions import import_csv

    settings = Settings(database_url=url, secret_key=SECRET, campaigns_dir=campaigns(tmp),
                        var_dir=tmp / "var", mail_url=mail_url)  # fmt: skip
    engine = create_db_engine(settings.database_url)
    Base.metadata.create_all(engine)
    config = load(settings.campaigns_path)
    mailer = confirmation_mailer(settings, config)
    cpu, start = time.process_time(), time.perf_counter()
    report = import_csv(engine, settings, config, path, "vantaa", mailer=mailer)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    engine.dispose()
    return {"seconds": elapsed, "cpu": cpu, "mailed": report.mailed,
            "imported": report.imported, "summary": report.summary()}  # fmt: skip


def confirmation_bytes(tmp: Path) -> tuple[str, bytes]:
    """The product's own confirmation message (envelope sender, bytes) as the import's
    mailer fills it: Vantaa, Finnish, two topics, a real-looking link."""
    from outreach.delivery.message import Recipient
    from outreach.delivery.transactional import CONFIRM_URL, ConfirmationBatch
    from outreach.subscriptions import ConfirmationMail

    settings = Settings(secret_key=SECRET, campaigns_dir=campaigns(tmp), var_dir=tmp / "var")
    config = load(settings.campaigns_path)
    link = f"{settings.base_url_clean}/confirm/c1e240.6a0b1c2d.q0Ns3mHk1y2v9aXbQ4r7sTtUu8wWx"
    mail = ConfirmationMail(to="user1@firma1.fi", city_slug="vantaa", city_name="Vantaa",
                            lang="fi", confirm_url=link, subject="Vahvista tilauksesi",
                            topics=["Kaupungin ilmastotyö ja uutiset", "Koulutukset"])  # fmt: skip
    template = ConfirmationBatch(settings, config).template(mail)
    message = template.fill(Recipient(mail.to, f"<x@{template.domain}>", "", "",
                                      values={CONFIRM_URL: link}))  # fmt: skip
    return message.envelope_from, message.data


def raw_smtplib(port: int, n: int, sender: str, data: bytes) -> float:
    """Messages per second: raw smtplib sending ``data`` n times over one connection."""
    import smtplib

    conn = smtplib.SMTP("127.0.0.1", port)
    start = time.perf_counter()
    for i in range(n):
        conn.sendmail(sender, [f"user{i}@firma{i % 977}.fi"], data)
    elapsed = time.perf_counter() - start
    conn.quit()
    return n / elapsed


def bench_mail_imports(path: Path, tmp: Path, databases: list[tuple[str, str]]) -> None:
    """Imports of MAIL_ROWS rows with real confirmation mails: to aiosmtpd and to file://."""
    from sinks import AiosmtpdSink

    before = load_average()
    print(f"\nimports with confirmation mails ({MAIL_ROWS:,} rows): load average at start {before}")
    sink = AiosmtpdSink(Path(__file__))
    try:
        sender, data = confirmation_bytes(tmp)
        raw = [raw_smtplib(sink.port, MAIL_ROWS // 2, sender, data)]
        runs: list[tuple[str, str, dict[str, Any]]] = []
        for label, url in databases:
            for kind, mail_url in (
                ("aiosmtpd", f"smtp://127.0.0.1:{sink.port}?starttls=false"),
                ("file://", f"file://{tmp}/outbox-{label}"),
            ):
                sub = tmp / f"mail-{label}-{kind.strip(':/')}"
                sub.mkdir()
                db_url = url if label != "SQLite" else f"sqlite:///{sub}/bench.db"
                if label != "SQLite":
                    db_url, database = scratch_database(url)
                run = subprocess.run(
                    [sys.executable, __file__, "--mail", db_url, str(path), str(sub), mail_url],
                    check=True, capture_output=True, text=True,
                )  # fmt: skip
                if label != "SQLite":
                    drop_database(url, database)
                runs.append((label, kind, json.loads(run.stdout.strip().splitlines()[-1])))
        raw.append(raw_smtplib(sink.port, MAIL_ROWS // 2, sender, data))
    finally:
        sink.stop()
    limit = sum(raw) / len(raw)
    print(f"raw smtplib limit (the product's confirmation message, {len(data):,} bytes, one "
          f"connection, before/after the imports): {raw[0]:,.0f} / {raw[1]:,.0f} mails/s, "
          f"mean {limit:,.0f}")  # fmt: skip
    for label, kind, result in runs:
        seconds, mailed = float(result["seconds"]), int(result["mailed"])
        assert mailed == MAIL_ROWS == int(result["imported"]), result["summary"]
        line = (f"import {label} + mails to {kind}: {MAIL_ROWS:,} rows in {seconds:.1f} s = "
                f"{MAIL_ROWS / seconds:,.0f} rows/s, {mailed / seconds:,.0f} mails/s; "
                f"CPU {float(result['cpu']):.1f} s")  # fmt: skip
        if kind == "aiosmtpd":
            line += f"; ratio to the raw smtplib limit {mailed / seconds / limit:.2f}"
        print(line)
    print(f"imports with confirmation mails: load average at end {load_average()}")


def per_mail_cost(tmp: Path, old: int = 150, new: int = 3000) -> None:
    """Wall-clock ms per confirmation mail to file://: the way every mail was sent
    before (render + inline + a backend opened for it) and the import's way now."""
    from outreach.delivery import deliver
    from outreach.delivery.transactional import ConfirmationMailer
    from outreach.subscriptions import ConfirmationMail, confirmation_mail

    settings = Settings(secret_key=SECRET, campaigns_dir=campaigns(tmp), var_dir=tmp / "var",
                        mail_url=f"file://{tmp}/outbox-cost")  # fmt: skip
    config = load(settings.campaigns_path)
    base = f"{settings.base_url_clean}/confirm/"

    def mail(i: int) -> ConfirmationMail:
        return ConfirmationMail(to=f"cost{i}@firma.fi", city_slug="vantaa", city_name="Vantaa",
                                lang="fi", confirm_url=f"{base}c{i:x}.6a0b1c2d.q0Ns3mHk1y2v9aX",
                                subject="Vahvista tilauksesi", topics=["Koulutukset"])  # fmt: skip

    before = load_average()
    deliver(settings, config, confirmation_mail(mail(-1)))  # templates loaded, caches warm
    start = time.perf_counter()
    for i in range(old):
        deliver(settings, config, confirmation_mail(mail(i)))
    old_ms = (time.perf_counter() - start) / old * 1000
    with ConfirmationMailer(settings, config).batch() as send:
        send(mail(-2))
        start = time.perf_counter()
        for i in range(new):
            send(mail(old + i))
        new_ms = (time.perf_counter() - start) / new * 1000
    print(f"\none confirmation mail to file:// (load average at start {before}, at end "
          f"{load_average()}): before {old_ms:.2f} ms (render + inline + backend per mail, "
          f"{old} mails), now {new_ms:.3f} ms (filled, open backend, {new} mails): "
          f"{old_ms / new_ms:.0f} times less")  # fmt: skip


def bench_round_trips(tmp: Path, seconds: float = 5.0) -> None:
    # here, not at the top: the ``--one`` import process measures what the CLI loads
    import httpx
    import uvicorn

    from outreach.web import create_app
    from outreach.web.security import RateLimiter

    port = free_port()
    settings = Settings(
        database_url=f"sqlite:///{tmp}/web.db",
        base_url=f"http://127.0.0.1:{port}",
        secret_key=SECRET,
        campaigns_dir=campaigns(tmp),
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
            # the confirmation mail goes out after the answer (a background task)
            deadline = time.perf_counter() + 5
            while mailer.count <= done and time.perf_counter() < deadline:
                time.sleep(0.001)
            assert mailer.last is not None and mailer.count == done + 1
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default=os.environ.get("OUTREACH_TEST_DATABASE_URL"),
                        help="a PostgreSQL server URL to make a scratch database on")  # fmt: skip
    parser.add_argument("--no-web", action="store_true", help="only the imports")
    parser.add_argument("--no-mail", action="store_true", help="no imports with mails")
    parser.add_argument("--one", nargs=3, metavar=("URL", "CSV", "TMP"), help=argparse.SUPPRESS)
    parser.add_argument("--mail", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--sink", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink:
        from sinks import run_aiosmtpd

        run_aiosmtpd(args.sink)
        return 0
    if args.mail:
        url, path, tmp, mail_url = args.mail
        print(json.dumps(one_mail_import(url, Path(path), Path(tmp), mail_url)))
        return 0
    if args.one:
        url, path, tmp = args.one
        print(json.dumps(one_import(url, Path(path), Path(tmp))))
        return 0
    print(machine_speed(), flush=True)
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        path = tmp / "crm.csv"
        write_csv(path)
        (tmp / "sqlite").mkdir()
        bench_import("SQLite", f"sqlite:///{tmp}/sqlite/bench.db", path, tmp / "sqlite")
        if args.pg:
            url, database = scratch_database(args.pg)
            try:
                (tmp / "pg").mkdir()
                bench_import("PostgreSQL", url, path, tmp / "pg")
            finally:
                drop_database(args.pg, database)
        else:
            print("import PostgreSQL: skipped (no --pg URL and no OUTREACH_TEST_DATABASE_URL)")
        if not args.no_web:
            (tmp / "web").mkdir()
            bench_round_trips(tmp / "web")
        if not args.no_mail:
            mail_path = tmp / "crm-mail.csv"
            write_csv(mail_path, MAIL_ROWS)
            databases = [("SQLite", "")]
            if args.pg:
                databases.append(("PostgreSQL", args.pg))
            (tmp / "mail").mkdir()
            bench_mail_imports(mail_path, tmp / "mail", databases)
            per_mail_cost(tmp / "mail")
    dispose_engines()
    return 0


if __name__ == "__main__":
    sys.exit(main())
