"""How close ``send_issue`` comes to the SMTP limit, measured like for like.

For every cell of sink × database × message size, in one run:

1. an issue of Vantaa's newsletter is built and rendered by the product
   (``build_issue``, ``render_issue``: templates and CSS inlining), in a
   fresh database with BENCH_N (4,000) confirmed subscribers;
2. one real message is taken exactly as the product sends it: the issue's
   Finnish message filled for one subscriber (multipart/alternative, its
   headers, its size);
3. the limit: raw smtplib sends exactly those bytes to the sink over the same
   number of connections (4), BENCH_N times, with the thread switch interval
   the product's send sets (``quick_switching``);
4. the product: ``send_issue`` sends the issue to the BENCH_N subscribers
   through the same sink with its default settings (4 workers, an outcome
   committed before each next hand-over), from an empty outbox each time.

Where the sink offers PIPELINING (RFC 2920: Postfix does, aiosmtpd does
not), the product sends each envelope (MAIL, RCPT, DATA) in one write, and
the next message's envelope in the same write as a body and its final dot,
which smtplib never does; so for those sinks a second limit is measured too,
a raw client that pipelines the same bytes the same way (``raw_pipelined``),
and its ratio is printed beside the first.

Raw and product runs alternate, ``--rounds`` (5) of each: raw, product;
product, raw; raw, product … so that the load of a shared machine, which
changes from minute to minute, falls on both alike. Each round's ratio is
its product run's throughput over its raw run's, the two run one after the
other; the cell's ratio is the median of the rounds' (goal >= 0.9). Every
run's figure and the CPU time per message of each side (this process, all
threads) are printed, and the sink's CPU per message and its busy fraction
in the raw and in the product runs (aiosmtpd is one thread: where it is
busy 0.97 of a raw run and 0.80 of a product run, it waited a sixth of the
product run, for its client or for a CPU), and for aiosmtpd the share of the
run it was ready to run but waited for a CPU (the kernel's run-queue wait,
from /proc/<pid>/task/*/schedstat), which tells those two apart. Sinks: aiosmtpd
in its own process, and a private Postfix instance with a discard transport
(``bench/sinks.py``; skipped with its reason when it cannot start).
Databases: SQLite, and PostgreSQL with ``--pg URL`` or
OUTREACH_TEST_DATABASE_URL (a database of its own is created on that server
and dropped afterwards). Sizes: a newsletter of 20 items (about 30 KB) and a
short one of 3 items. Each row shows the 1-minute load average at the start
and end of its cell; the machine's speed (a pure-Python loop's CPU time) is
printed at the start and before the table. Then: the time to write 100,000 deliveries and the peak
memory of a process sending to 100,000 subscribers (``--no-extras`` skips
those two).

    .venv/bin/python bench/bench_send.py [--pg URL] [--n 4000] [--rounds 5] [--no-extras]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import smtplib
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import machine_speed, memory_mb, processes, tree_cpu_seconds  # noqa: E402
from sinks import AiosmtpdSink, Sink, run_aiosmtpd, run_relay, start_postfix  # noqa: E402

CONNECTIONS = 4
RELAY_DELAY = 0.005  # seconds each way: a relay 10 ms away
RELAY_N = 400
SECRET = "bench-secret-key-0123456789abcdef0123456789"
NOW = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
SLUG = "vantaa-monthly"
#: items per section (news, events, stories) of each message size
SIZES = {"20 items": (9, 8, 3), "3 items": (1, 1, 1)}
SINKS = ("aiosmtpd", "postfix")
DATABASES = ("sqlite", "postgresql")
SUMMARY = (
    "Vantaan kaupunki ja yritykset vähentävät päästöjä yhdessä: energiaremontit, "
    "aurinkosähkö, kiertotalous ja päästöttömät kuljetukset etenevät. "
)


@dataclass
class Cell:
    sink: str
    database: str
    size: str
    message_kb: float = 0.0
    raw: list[float] = field(default_factory=list)  # messages per second, per run
    product: list[float] = field(default_factory=list)
    raw_pipelined: list[float] = field(default_factory=list)  # where the sink offers it
    raw_cpu: list[float] = field(default_factory=list)  # CPU ms per message, per run
    product_cpu: list[float] = field(default_factory=list)
    server_cpu: list[float] = field(default_factory=list)  # the database server's, ms/message
    # The sink's CPU ms per message, its share of the run's wall time (its busy
    # fraction: below 1 for aiosmtpd, one thread, when it waited for its client or
    # for a CPU), and the share it spent ready to run but waiting for a CPU (None
    # where it cannot be read: Postfix's daemons come and go).
    raw_sink: list[tuple[float, float, float | None]] = field(default_factory=list)
    product_sink: list[tuple[float, float, float | None]] = field(default_factory=list)
    load: tuple[float, float] = (0.0, 0.0)
    skipped: str = ""

    @property
    def ratio(self) -> float:
        """The median over the rounds of the product's throughput over raw smtplib's in
        the same round (the two runs next to each other: a change in the machine's
        speed between rounds hits both)."""
        return _paired(self.product, self.raw)

    @property
    def ratio_pipelined(self) -> float | None:
        """The same over the raw client that pipelines, where measured."""
        if not self.raw_pipelined:
            return None
        return _paired(self.product, self.raw_pipelined)


def _paired(product: list[float], raw: list[float]) -> float:
    return statistics.median(p / r for p, r in zip(product, raw, strict=True))


# -- the issue, the subscribers, the message ---------------------------------------


def settings_for(database_url: str, mail_url: str, tmp: Path) -> Any:
    from outreach.settings import Settings

    return Settings(
        database_url=database_url,
        mail_url=mail_url,
        base_url="https://outreach.example.fi",
        secret_key=SECRET,
        campaigns_dir=ROOT / "campaigns",
        templates_dir=ROOT / "templates",
        var_dir=tmp / "var",
    )


def config_for(items: tuple[int, ...]) -> Any:
    """The shipped configuration with vantaa-monthly cut to three sections of ``items``."""
    from outreach.campaigns import NewsletterCampaign, load

    config = load(ROOT / "campaigns", ROOT / "templates")
    campaign = config.campaigns[SLUG]
    assert isinstance(campaign, NewsletterCampaign)
    wanted = dict(zip(("news", "events", "stories"), items, strict=True))
    sections = [
        s.model_copy(update={"max_items": wanted[s.kind], "include": []})
        for s in campaign.sections
        if s.kind in wanted
    ]
    config.campaigns[SLUG] = campaign.model_copy(update={"sections": sections})
    return config


def _content(session: Any, config: Any) -> None:
    from outreach.models import ContentItem, SourceState

    campaign = config.campaigns[SLUG]
    kinds = {"news": "news", "events": "event", "stories": "story"}
    for section in campaign.sections:
        src = section.sources[0]
        key = src.source.state_key(campaign.city)
        state = SourceState(key=key, type=src.type)
        session.add(state)
        session.flush()
        for i in range(section.max_items):
            session.add(
                ContentItem(
                    source_id=state.id,
                    kind=kinds[section.kind],
                    external_id=f"{section.id}-{i}",
                    title=f"Ilmastotyö etenee, osa {i + 1}: energiaremontit ja päästöt",
                    summary=SUMMARY,
                    url=f"https://www.vantaa.fi/fi/ajankohtaista/{section.id}/{i}",
                    language="fi",
                    published_at=NOW - timedelta(hours=i + 1),
                    first_seen_at=NOW - timedelta(hours=i + 1),
                    starts_at=NOW + timedelta(days=i + 2),
                    ends_at=NOW + timedelta(days=i + 2, hours=2),
                    location="Tikkurilan kirjasto, Lummetie 4",
                    price="" if i % 2 else "10 €",
                    fingerprint=f"fp-{section.id}-{i}",
                )
            )
    session.flush()


def prepare(database_url: str, config: Any, n: int, tmp: Path) -> int:
    """A fresh database: the issue built and approved, n Finnish subscribers; its id."""
    from sqlalchemy import insert, select
    from sqlalchemy.orm import Session

    from outreach.db import create_db_engine
    from outreach.issues import approve_issue, build_issue
    from outreach.models import Base, City, Subscriber, Subscription, utcnow

    engine = create_db_engine(database_url)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    now = utcnow()
    with Session(engine) as s:
        _content(s, config)
        issue = build_issue(s, settings_for(database_url, "memory:", tmp), config, SLUG, now=NOW)
        assert issue.issue is not None, "the bench issue was not built"
        issue_id = issue.issue.id
        approve_issue(s, issue_id, by="bench")
        city_id = s.scalar(select(City.id).where(City.slug == "vantaa"))
        for start in range(0, n, 10_000):
            rows = range(start, min(n, start + 10_000))
            s.execute(
                insert(Subscriber),
                [
                    {
                        "id": i + 1,
                        "email": f"user{i}@example.fi",
                        "language": "fi",
                        "contact_name": f"Yhteyshenkilö {i}",
                        "interested_in_visit": False,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in rows
                ],
            )
            s.execute(
                insert(Subscription),
                [
                    {
                        "subscriber_id": i + 1,
                        "city_id": city_id,
                        "topics": ["climate"],
                        "status": "confirmed",
                        "channel": "import",
                        "token_salt": f"{i:032x}",
                        "created_at": now,
                    }
                    for i in rows
                ],
            )
        s.commit()
    engine.dispose()
    return issue_id


def reset(database_url: str, issue_id: int) -> None:
    """Back to approved with an empty outbox, for the next sink."""
    from sqlalchemy import delete, update
    from sqlalchemy.orm import Session

    from outreach.db import create_db_engine
    from outreach.models import Delivery, Issue, IssueStatus

    engine = create_db_engine(database_url)
    with Session(engine) as s:
        s.execute(delete(Delivery))
        s.execute(
            update(Issue)
            .where(Issue.id == issue_id)
            .values(status=IssueStatus.APPROVED, send_started_at=None, sent_at=None)
        )
        s.commit()
    engine.dispose()


def product_message(settings: Any, config: Any, issue_id: int) -> tuple[str, bytes]:
    """(envelope sender, bytes) of the issue's Finnish message for subscriber 1, as sent."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from outreach.db import create_db_engine
    from outreach.delivery.message import IssueMessages
    from outreach.models import Issue, Subscription
    from outreach.render import render_issue

    engine = create_db_engine(settings.database_url)
    with Session(engine) as s:
        issue = s.get(Issue, issue_id)
        sub = s.scalar(select(Subscription).where(Subscription.subscriber_id == 1))
        assert issue is not None and sub is not None
        messages = IssueMessages(
            settings,
            config,
            city_slug="vantaa",
            campaign_slug=SLUG,
            issue_id=issue_id,
            lang="fi",
            rendered=render_issue(settings, config, issue, "fi"),
            mail_url=settings.mail_url,
        )
        m = messages.build(
            email="user0@example.fi",
            subscriber_id=1,
            subscription_id=sub.id,
            token_salt=sub.token_salt,
            contact_name="Yhteyshenkilö 0",
        )
    engine.dispose()
    return m.envelope_from, m.data


# -- the two senders -----------------------------------------------------------------


def over_connections(n: int, send: Callable[[int, int], None]) -> float:
    """Messages per second of ``send(count, k)`` run on CONNECTIONS threads at once,
    thread ``k`` sending its ``count`` of the ``n`` messages over a connection of its own."""
    from outreach.delivery.workers import quick_switching

    per = [n // CONNECTIONS + (i < n % CONNECTIONS) for i in range(CONNECTIONS)]
    threads = [threading.Thread(target=send, args=(c, k)) for k, c in enumerate(per)]
    # The same thread switch interval as the product's send runs with.
    with quick_switching():
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return n / (time.perf_counter() - started)


def raw_smtplib(port: int, n: int, sender: str, data: bytes) -> float:
    """Messages per second: the same bytes n times over CONNECTIONS connections."""

    def send(count: int, k: int) -> None:
        conn = smtplib.SMTP("127.0.0.1", port)
        for i in range(count):
            conn.sendmail(sender, [f"user{k}-{i}@example.fi"], data)
        conn.quit()

    return over_connections(n, send)


def offers_pipelining(port: int) -> bool:
    conn = smtplib.SMTP("127.0.0.1", port)
    try:
        conn.ehlo()
        return conn.has_extn("pipelining")
    finally:
        conn.quit()


def raw_pipelined(port: int, n: int, sender: str, data: bytes) -> float:
    """As :func:`raw_smtplib`, pipelined as the product pipelines (RFC 2920): each
    envelope in one write, its three replies read after it; each body and final
    dot in one write with the next message's envelope, its reply read before
    the next envelope's."""
    body = re.sub(rb"(?m)^\.", b"..", data)
    body += b".\r\n" if body.endswith(b"\r\n") else b"\r\n.\r\n"

    def send(count: int, k: int) -> None:
        conn = smtplib.SMTP("127.0.0.1", port)
        conn.ehlo()
        size = f" SIZE={len(data)}" if conn.has_extn("size") else ""

        def envelope(i: int) -> bytes:
            rcpt = f"user{k}-{i}@example.fi"
            return f"MAIL FROM:<{sender}>{size}\r\nRCPT TO:<{rcpt}>\r\nDATA\r\n".encode()

        if count:
            conn.send(envelope(0))
        for i in range(count):
            replies = [conn.getreply()[0] for _ in range(3)]
            assert replies == [250, 250, 354], replies
            conn.send(body + envelope(i + 1) if i + 1 < count else body)
            code = conn.getreply()[0]
            assert code == 250, code
        conn.quit()

    return over_connections(n, send)


def product(settings: Any, config: Any, issue_id: int, n: int) -> float:
    from outreach import db
    from outreach.delivery import send_issue

    started = time.perf_counter()
    report = send_issue(settings, config, issue_id, workers=CONNECTIONS)
    elapsed = time.perf_counter() - started
    db.dispose_engines()
    assert report.sent == n and report.status == "sent", report
    return n / elapsed


def measure(
    cell: Cell, sink: Sink, url: str, issue_id: int, config: Any, n: int, tmp: Path, rounds: int
) -> None:
    """``rounds`` raw runs and ``rounds`` product runs, interleaved (raw, product;
    product, raw; …) so that a change in the machine's load hits both alike."""
    settings = settings_for(url, f"smtp://127.0.0.1:{sink.port}?starttls=false", tmp)
    sender, data = product_message(settings, config, issue_id)
    cell.message_kb = len(data) / 1024
    cell.load = (os.getloadavg()[0], 0.0)

    def sink_at() -> tuple[float, float | None]:
        return sink.cpu_seconds(), sink.cpu_wait_seconds()

    def sink_use(
        before: tuple[float, float | None], rate: float
    ) -> tuple[float, float, float | None]:
        """The sink's CPU ms a message, and its CPU and its run-queue wait over the
        run's time, since ``before`` (:func:`sink_at`)."""
        (cpu, waited), seconds = sink_at(), n / rate
        used = cpu - before[0]
        share = None if waited is None or before[1] is None else (waited - before[1]) / seconds
        return used / n * 1000, used / seconds, share

    # The readings from /proc are taken outside the window of this process's own CPU.
    def raw_run() -> None:
        at_sink = sink_at()
        before = cpu_seconds()
        cell.raw.append(raw_smtplib(sink.port, n, sender, data))
        cell.raw_cpu.append((cpu_seconds() - before) / n * 1000)
        cell.raw_sink.append(sink_use(at_sink, cell.raw[-1]))

    def product_run() -> None:
        reset(url, issue_id)
        backends_ended(url)
        server, at_sink = database_server_cpu_seconds(), sink_at()
        before = cpu_seconds()
        cell.product.append(product(settings, config, issue_id, n))
        cell.product_cpu.append((cpu_seconds() - before) / n * 1000)
        cell.product_sink.append(sink_use(at_sink, cell.product[-1]))
        backends_ended(url)
        if server is not None and (after := database_server_cpu_seconds()) is not None:
            cell.server_cpu.append((after - server) / n * 1000)

    def raw_pipelined_run() -> None:
        cell.raw_pipelined.append(raw_pipelined(sink.port, n, sender, data))

    runs = [raw_run, product_run]
    if offers_pipelining(sink.port):
        runs.insert(1, raw_pipelined_run)
    for r in range(rounds):
        for run in runs if r % 2 == 0 else runs[::-1]:
            run()
            sink.drain()
    cell.load = (cell.load[0], os.getloadavg()[0])


def cpu_seconds() -> float:
    """CPU time of this process (every thread), user and system."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def backends_ended(database_url: str, timeout: float = 3.0) -> None:
    """Wait until no server process on this host serves ``database_url``'s database.

    The run's engines are disposed as it ends, and their backends end a moment
    later. One that ends while /proc is read (after its postmaster, before its own
    entry) would be counted neither as itself nor in its parent's time: read
    right away, two runs of four showed 0.03 and 0.09 ms a message where the
    others, and every run read after the backends had ended, showed 0.28-0.39."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() != "postgresql" or not url.database:
        return
    title = f" {url.database} ".encode()  # "postgres: USER DATABASE HOST(PORT) STATE"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        serving = False
        for pid, (name, _, _) in processes().items():
            if name == "postgres":
                with contextlib.suppress(OSError):
                    serving |= title in Path(f"/proc/{pid}/cmdline").read_bytes()
        if not serving:
            return
        time.sleep(0.01)


def database_server_cpu_seconds() -> float | None:
    """CPU time of every PostgreSQL server on this host: each postmaster and every
    process under it (backends, WAL writer, checkpointer, autovacuum), the backends
    that have ended included; None where none is readable."""
    table = processes()
    postmasters = [
        pid
        for pid, (name, parent, _) in table.items()
        if name == "postgres" and table.get(parent, ("",))[0] != "postgres"
    ]
    return tree_cpu_seconds(postmasters, table) if postmasters else None


# -- the extras: writing the outbox, peak memory --------------------------------------


def write_deliveries(database_url: str, n: int, tmp: Path) -> float:
    from sqlalchemy import delete
    from sqlalchemy.orm import Session

    from outreach.db import create_db_engine
    from outreach.delivery.outbox import enqueue_issue
    from outreach.models import Delivery, Issue

    config = config_for(SIZES["3 items"])
    issue_id = prepare(database_url, config, n, tmp)
    engine = create_db_engine(database_url)
    with Session(engine) as s:
        s.execute(delete(Delivery))
        issue = s.get(Issue, issue_id)
        assert issue is not None
        started = time.perf_counter()
        added = enqueue_issue(s, settings_for(database_url, "memory:", tmp), config, issue)
        s.commit()
        elapsed = time.perf_counter() - started
    engine.dispose()
    assert added == n
    return elapsed


def memory_child(database_url: str, n: int, tmp: Path) -> None:
    """Send the prepared issue through the whole outbox path with a discarding
    backend; prints this process's peak RSS."""
    from outreach.delivery import backends, send_issue
    from outreach.delivery.backends.base import MailBackend, OutgoingMessage, SendResult

    class Discard(MailBackend):
        scheme = "discard"

        def send_messages(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
            return [SendResult("sent", "discarded") for _ in messages]

    backends.BUILTIN["discard"] = f"{__name__}:Discard"
    globals()["Discard"] = Discard
    config = config_for(SIZES["20 items"])
    baseline = memory_mb("VmRSS")
    report = send_issue(settings_for(database_url, "discard:", tmp), config, 1)
    assert report.sent == n, report
    print(json.dumps({"peak_mb": memory_mb(), "before_send_mb": baseline}))


def extras(databases: list[tuple[str, str]], tmp: Path) -> None:
    n = 100_000
    for label, url in databases:
        seconds = write_deliveries(url, n, tmp)
        print(f"write {n} deliveries on {label}: {seconds:.2f} s (one INSERT … SELECT)")
    relay(tmp)
    url = f"sqlite:///{tmp}/memory.db"
    prepare(url, config_for(SIZES["20 items"]), n, tmp)
    out = subprocess.run(
        [sys.executable, __file__, "--memory", url, str(n), str(tmp)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    figures = json.loads(out.strip().splitlines()[-1])
    peak = figures["peak_mb"]
    verdict = "OK" if peak < 150 else "ABOVE GOAL"
    print(
        f"peak memory sending to {n} on sqlite: {peak:.0f} MB (goal < 150 MB) {verdict} "
        f"({figures['before_send_mb']:.0f} MB before the send)"
    )


def relay(tmp: Path, delay: float = RELAY_DELAY, n: int = RELAY_N) -> None:
    """Through a relay ``2 * delay`` away (a provider's SMTP relay across the
    internet; aiosmtpd offering PIPELINING behind a proxy that delays each way):
    the raw clients and the product, the short message, on SQLite, 4 connections
    each, once each. Bound by round trips, not CPU."""
    sink = AiosmtpdSink(Path(__file__), relay_delay=delay)
    try:
        url = f"sqlite:///{tmp}/relay.db"
        config = config_for(SIZES["3 items"])
        issue_id = prepare(url, config, n, tmp)
        settings = settings_for(url, f"smtp://127.0.0.1:{sink.port}?starttls=false", tmp)
        sender, data = product_message(settings, config, issue_id)
        raw = raw_smtplib(sink.port, n, sender, data)
        piped = raw_pipelined(sink.port, n, sender, data)
        reset(url, issue_id)
        made = product(settings, config, issue_id, n)
    finally:
        sink.stop()
    print(
        f"through a relay {2 * delay * 1000:.0f} ms away (round trip), {n} short messages on "
        f"sqlite, {CONNECTIONS} connections: raw smtplib {raw:.0f} msg/s, raw pipelined "
        f"{piped:.0f}, product {made:.0f}; ratio {made / raw:.2f}, vs pipelined {made / piped:.2f}"
    )


# -- the table ------------------------------------------------------------------------


def _waits(uses: list[tuple[float, float, float | None]]) -> str:
    """The median of the runs' run-queue wait shares, or "-" where one is unknown."""
    shares = [u[2] for u in uses if u[2] is not None]
    return f"{statistics.median(shares):.2f}" if shares and len(shares) == len(uses) else "-"


def table(cells: list[Cell], n: int, rounds: int) -> None:
    print(machine_speed())
    print(
        f"\n{n} messages per run, {CONNECTIONS} connections, {rounds} raw and {rounds} product "
        "runs per cell, interleaved; raw = smtplib sending the product's own message bytes; "
        "ratio = the median over the rounds of product / raw in the same round; goal: "
        "ratio >= 0.9; pg ms/msg: the "
        "PostgreSQL server's CPU per message in the product runs (every server process); "
        "sink ms/msg: the sink's CPU per message (aiosmtpd's process; Postfix's master "
        "and every daemon under it), in the raw and the product runs; sink busy: that CPU "
        "over the run's time (aiosmtpd runs on one core: below 1.0 it waited for its "
        "client or for a CPU); sink waits cpu: the share of the run's time the sink "
        "was ready to run but waited for a CPU (the kernel's run-queue wait; aiosmtpd "
        "only); "
        "vs pipelined: the same ratio over a raw client that pipelines each envelope "
        "as the product does, where the sink offers PIPELINING"
    )
    head = (
        f"{'sink':<9} {'database':<11} {'size':<9} {'KB':>5} {'raw msg/s (runs)':>18} "
        f"{'product msg/s (runs)':>21} {'cpu ms/msg raw/prod':>19} {'pg ms/msg':>9} "
        f"{'sink ms/msg raw/prod':>20} {'sink busy raw/prod':>18} "
        f"{'sink waits cpu raw/prod':>23} {'ratio':>6} {'vs pipelined':>12}  "
        f"{'load start→end':<15} verdict"
    )
    print(head)
    print("-" * len(head))
    for c in cells:
        if c.skipped:
            print(f"{c.sink:<9} {c.database:<11} {c.size:<9} skipped: {c.skipped}")
            continue
        raw = "/".join(f"{v:.0f}" for v in c.raw)
        prod = "/".join(f"{v:.0f}" for v in c.product)
        cpu = f"{statistics.median(c.raw_cpu):.2f}/{statistics.median(c.product_cpu):.2f}"
        server = f"{statistics.median(c.server_cpu):.2f}" if c.server_cpu else "-"
        sink_ms = "/".join(
            f"{statistics.median(u[0] for u in uses):.2f}" for uses in (c.raw_sink, c.product_sink)
        )
        busy = "/".join(
            f"{statistics.median(u[1] for u in uses):.2f}" for uses in (c.raw_sink, c.product_sink)
        )
        waits = "/".join(_waits(uses) for uses in (c.raw_sink, c.product_sink))
        piped = c.ratio_pipelined
        versus = "-" if piped is None else f"{piped:.2f}"
        verdict = "OK" if c.ratio >= 0.9 else "BELOW GOAL"
        print(
            f"{c.sink:<9} {c.database:<11} {c.size:<9} {c.message_kb:>5.1f} {raw:>18} "
            f"{prod:>21} {cpu:>19} {server:>9} {sink_ms:>20} {busy:>18} "
            f"{waits:>23} {c.ratio:>6.2f} {versus:>12}  "
            f"{c.load[0]:>5.2f} → {c.load[1]:<5.2f}   {verdict}"
        )


def pg_database(base_url: str) -> tuple[str, Any]:
    """A database of our own on the server of ``base_url``, and a function that drops it."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = make_url(base_url)
    name = f"outreach_bench_{os.getpid()}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return base.set(database=name).render_as_string(hide_password=False), drop


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--sink":
        run_aiosmtpd(int(sys.argv[2]))
        return
    if len(sys.argv) == 4 and sys.argv[1] == "--relay-sink":
        run_relay(int(sys.argv[2]), float(sys.argv[3]))
        return
    if len(sys.argv) == 5 and sys.argv[1] == "--memory":
        memory_child(sys.argv[2], int(sys.argv[3]), Path(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", default=os.environ.get("OUTREACH_TEST_DATABASE_URL"))
    parser.add_argument("--n", type=int, default=int(os.environ.get("BENCH_N", "4000")))
    parser.add_argument("--rounds", type=int, default=5, help="raw and product runs per cell")
    parser.add_argument("--no-extras", action="store_true")
    parser.add_argument("--sinks", default=",".join(SINKS))
    parser.add_argument("--databases", default=",".join(DATABASES))
    parser.add_argument("--sizes", default=",".join(SIZES), help="of: " + ", ".join(SIZES))
    args = parser.parse_args()
    choices = {"--sinks": SINKS, "--databases": DATABASES, "--sizes": tuple(SIZES)}
    for option, known in choices.items():
        value = getattr(args, option[2:])
        if unknown := set(value.split(",")) - set(known):
            parser.error(f"{option}: unknown {', '.join(sorted(unknown))} (of: {', '.join(known)})")
    print(machine_speed(), flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-send-") as name:
        tmp = Path(name)
        sinks: list[Sink | tuple[str, str]] = []
        wanted = args.sinks.split(",")
        if "aiosmtpd" in wanted:
            sinks.append(AiosmtpdSink(Path(__file__)))
        if "postfix" in wanted:
            started = start_postfix()
            sinks.append(started if isinstance(started, Sink) else ("postfix", started))
        wanted_databases = args.databases.split(",")
        databases = []
        if "sqlite" in wanted_databases:
            databases.append(("sqlite", f"sqlite:///{tmp}/bench.db"))
        drop = None
        if "postgresql" in wanted_databases:
            if args.pg:
                pg_url, drop = pg_database(args.pg)
                databases.append(("postgresql", pg_url))
            else:
                print("PostgreSQL skipped: no --pg URL and no OUTREACH_TEST_DATABASE_URL")
        sizes = {size: items for size, items in SIZES.items() if size in args.sizes.split(",")}
        cells: list[Cell] = []
        try:
            for label, url in databases:
                for size, items in sizes.items():
                    config = config_for(items)
                    issue_id = prepare(url, config, args.n, tmp)
                    for sink in sinks:
                        if isinstance(sink, tuple):
                            cells.append(Cell(sink[0], label, size, skipped=sink[1]))
                            continue
                        cell = Cell(sink.name, label, size)
                        reset(url, issue_id)
                        measure(cell, sink, url, issue_id, config, args.n, tmp, args.rounds)
                        cells.append(cell)
                        piped = cell.ratio_pipelined
                        extra = "" if piped is None else f", vs pipelined raw {piped:.2f}"
                        print(
                            f"{cell.sink} {label} {size}: ratio {cell.ratio:.2f}{extra}", flush=True
                        )
            table(cells, args.n, args.rounds)
            if not args.no_extras:
                print()
                extras(databases, tmp)
        finally:
            for sink in sinks:
                if not isinstance(sink, tuple):
                    sink.stop()
            if drop is not None:
                from outreach import db

                db.dispose_engines()
                drop()


if __name__ == "__main__":
    main()
