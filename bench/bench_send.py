"""Issue 6's benchmark: how close ``send_issue`` comes to the SMTP limit.

In one run, against one aiosmtpd sink in its own process and with the same
number of connections:

(a) the limit: raw smtplib sending a pre-built ~50 KB message;
(b) ``send_issue`` to BENCH_N (20,000) subscribers on SQLite, and on
    PostgreSQL when OUTREACH_TEST_DATABASE_URL is set.

It prints b/a (goal >= 0.8), the time to write 100,000 deliveries (one
INSERT … SELECT) and the peak memory of a process sending to 100,000
subscribers through the whole outbox path with a discarding backend (goal
< 150 MB). The message content is a fixed 50 KB newsletter standing in for
the render stage, which runs once per language and is not what is measured.

    .venv/bin/python bench/bench_send.py            # BENCH_N, BENCH_CONNECTIONS, BENCH_MEMORY_N
"""

from __future__ import annotations

import json
import os
import resource
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

N = int(os.environ.get("BENCH_N", "20000"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "4"))
MEMORY_N = int(os.environ.get("BENCH_MEMORY_N", "100000"))
WRITE_N = 100_000
PG_URL = os.environ.get("OUTREACH_TEST_DATABASE_URL")
SECRET = "bench-secret-key-0123456789abcdef0123456789"


@dataclass(frozen=True)
class Rendered:
    lang: str
    subject: str
    preheader: str
    html: str
    text: str
    web_url: str | None = None


PARAGRAPH = (
    "Vantaan kaupunki kutsuu yritykset mukaan hiilineutraaliin Vantaaseen 2030: "
    "energiatehokkuus, kiertotalous ja päästöttömät kuljetukset ä ö å. "
)


STYLE = "font-family:Arial;color:#333"


def fake_render(_s: Any, _c: Any, issue: Any, lang: str) -> Rendered:
    html = (
        "<html><body><p>Hei@@CONTACT_NAME@@,</p>"
        + f'<table width="600"><tr><td style="{STYLE}">{PARAGRAPH}</td></tr></table>\n' * 200
        + '<a href="@@UNSUBSCRIBE_URL@@">Peru</a> <a href="@@PREFERENCES_URL@@">Asetukset</a>'
        "</body></html>"
    )
    text = "Hei@@CONTACT_NAME@@,\n\n" + (PARAGRAPH + "\n") * 60 + "@@UNSUBSCRIBE_URL@@\n"
    return Rendered(lang, f"Ilmastouutiset {issue.period}", "", html, text)


CAMPAIGN = """\
slug: bench-monthly
kind: announcement
city: vantaa
languages: [fi, sv]
send_at: 2026-12-01T09:00:00
subject: {fi: "Ilmastouutiset", sv: "Klimatnytt"}
body: {fi: body.md, sv: body.md}
audience: {topics: [climate]}
"""


def campaigns_dir(tmp: Path) -> Path:
    root = tmp / "campaigns"
    root.mkdir(parents=True, exist_ok=True)
    (root / "cities.yaml").write_text((ROOT / "campaigns" / "cities.yaml").read_text())
    (root / "bench-monthly.yaml").write_text(CAMPAIGN)
    (root / "body.md").write_text("x")
    return root


# -- the sink -------------------------------------------------------------------


def run_sink(port: int) -> None:
    from aiosmtpd.controller import Controller

    class Sink:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            return "250 OK"

    controller = Controller(Sink(), hostname="127.0.0.1", port=port, data_size_limit=0)
    controller.start()
    threading.Event().wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_sink() -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--sink", str(port)])
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


# -- (a) raw smtplib --------------------------------------------------------------


def raw_smtplib(port: int, n: int, connections: int) -> float:
    """Messages per second for pre-built messages over ``connections`` connections."""
    from outreach.campaigns import Sender
    from outreach.delivery.message import MessageTemplate, Recipient

    template = MessageTemplate(
        Sender(name={"fi": "Vantaan kaupunki"}, address="ilmasto@vantaa.fi"),
        "fi",
        fake_render(None, None, type("I", (), {"period": "2026-11"})(), "fi"),
        list_id="<bench.vantaa.outreach>",
    )
    data = template.fill(
        Recipient("a@example.fi", "<1@vantaa.fi>", "https://x/unsubscribe/t", "https://x/p/t")
    ).data
    per = [n // connections + (i < n % connections) for i in range(connections)]

    def send(count: int, k: int) -> None:
        conn = smtplib.SMTP("127.0.0.1", port)
        for i in range(count):
            conn.sendmail("ilmasto@vantaa.fi", [f"user{k}-{i}@example.fi"], data)
        conn.quit()

    threads = [threading.Thread(target=send, args=(c, k)) for k, c in enumerate(per)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return n / (time.perf_counter() - started)


# -- (b) send_issue ----------------------------------------------------------------


def populate(database_url: str, n: int) -> int:
    """n confirmed subscribers of Vantaa and one approved issue; returns the issue id."""
    from sqlalchemy import insert
    from sqlalchemy.orm import Session

    from outreach.db import create_db_engine
    from outreach.models import (
        Base,
        Campaign,
        City,
        Issue,
        IssueStatus,
        Subscriber,
        Subscription,
        utcnow,
    )

    engine = create_db_engine(database_url)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    now = utcnow()
    with Session(engine) as s:
        city = City(slug="vantaa", names={"fi": "Vantaa"}, languages=["fi", "sv"])
        s.add(city)
        s.flush()
        campaign = Campaign(slug="bench-monthly", city_id=city.id, kind="announcement")
        s.add(campaign)
        s.flush()
        step = 10_000
        for start in range(0, n, step):
            rows = range(start, min(n, start + step))
            s.execute(
                insert(Subscriber),
                [
                    {
                        "id": i + 1,
                        "email": f"user{i}@example.fi",
                        "language": "sv" if i % 4 == 0 else "fi",
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
                        "city_id": city.id,
                        "topics": ["climate"],
                        "status": "confirmed",
                        "channel": "import",
                        "token_salt": f"{i:032x}",
                        "created_at": now,
                    }
                    for i in rows
                ],
            )
        issue = Issue(campaign_id=campaign.id, period="2026-11", status=IssueStatus.APPROVED)
        s.add(issue)
        s.commit()
        issue_id = issue.id
    engine.dispose()
    return issue_id


def settings_for(database_url: str, mail_url: str, tmp: Path) -> Any:
    from outreach.settings import Settings

    return Settings(
        database_url=database_url,
        mail_url=mail_url,
        base_url="https://outreach.example.fi",
        secret_key=SECRET,
        var_dir=tmp / "var",
        send_workers=CONNECTIONS,
        send_batch_size=200,
    )


def send_issue_rate(database_url: str, port: int, n: int, tmp: Path) -> float:
    from outreach.campaigns import load
    from outreach.delivery import worker

    issue_id = populate(database_url, n)
    worker.render = fake_render  # type: ignore[assignment]
    config = load(campaigns_dir(tmp))
    settings = settings_for(database_url, f"smtp://127.0.0.1:{port}?starttls=false", tmp)
    started = time.perf_counter()
    report = worker.send_issue(settings, config, issue_id, workers=CONNECTIONS)
    elapsed = time.perf_counter() - started
    assert report.sent == n and report.status == "sent", report
    return n / elapsed


def write_deliveries(database_url: str, n: int, tmp: Path) -> float:
    from sqlalchemy.orm import Session

    from outreach.campaigns import load
    from outreach.db import create_db_engine
    from outreach.delivery.outbox import enqueue_issue
    from outreach.models import Issue

    issue_id = populate(database_url, n)
    config = load(campaigns_dir(tmp))
    engine = create_db_engine(database_url)
    with Session(engine) as s:
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
    """Send to the n subscribers already in the database through the full outbox
    path with a discarding backend; prints this process's peak RSS."""
    from outreach.campaigns import load
    from outreach.delivery import backends, worker
    from outreach.delivery.backends.base import MailBackend, OutgoingMessage, SendResult

    class Discard(MailBackend):
        scheme = "discard"

        def send_messages(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
            return [SendResult("sent", "discarded") for _ in messages]

    backends.BUILTIN["discard"] = f"{__name__}:Discard"
    globals()["Discard"] = Discard
    issue_id = 1
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    worker.render = fake_render  # type: ignore[assignment]
    config = load(campaigns_dir(tmp))
    report = worker.send_issue(
        settings_for(database_url, "discard:", tmp), config, issue_id, workers=CONNECTIONS
    )
    assert report.sent == n, report
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"peak_mb": peak, "before_send_mb": baseline}))


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--sink":
        run_sink(int(sys.argv[2]))
        return
    if len(sys.argv) == 5 and sys.argv[1] == "--memory":
        memory_child(sys.argv[2], int(sys.argv[3]), Path(sys.argv[4]))
        return
    with tempfile.TemporaryDirectory(prefix="bench-send-") as name:
        tmp = Path(name)
        sink, port = start_sink()
        try:
            raws = [raw_smtplib(port, N, CONNECTIONS)]
            print(f"raw smtplib, {CONNECTIONS} connections: {raws[0]:.0f} messages/s")
            dbs = [("sqlite", f"sqlite:///{tmp}/bench.db")]
            if PG_URL:
                dbs.append(("postgresql", PG_URL))
            rates = [(label, send_issue_rate(url, port, N, tmp)) for label, url in dbs]
            # The limit is measured again afterwards: the sink's speed drifts with the
            # machine's load, and the mean of both runs brackets the sends in between.
            raws.append(raw_smtplib(port, N, CONNECTIONS))
            raw = sum(raws) / len(raws)
            print(f"raw smtplib again: {raws[1]:.0f} messages/s; the limit (mean): {raw:.0f}/s")
            for label, rate in rates:
                ratio = rate / raw
                verdict = "OK" if ratio >= 0.8 else "BELOW GOAL"
                print(
                    f"send {N} on {label}: {ratio:.2f} of raw smtplib (goal >= 0.8) {verdict} "
                    f"({rate:.0f} messages/s)"
                )
        finally:
            sink.terminate()
            sink.wait()
        for label, url in [("sqlite", f"sqlite:///{tmp}/write.db")] + (
            [("postgresql", PG_URL)] if PG_URL else []
        ):
            seconds = write_deliveries(url, WRITE_N, tmp)
            print(f"write {WRITE_N} deliveries on {label}: {seconds:.2f} s (one INSERT … SELECT)")
        populate(f"sqlite:///{tmp}/mem.db", MEMORY_N)
        out = subprocess.run(
            [sys.executable, __file__, "--memory", f"sqlite:///{tmp}/mem.db", str(MEMORY_N), name],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        figures = json.loads(out.strip().splitlines()[-1])
        peak = figures["peak_mb"]
        verdict = "OK" if peak < 150 else "ABOVE GOAL"
        print(
            f"peak memory sending to {MEMORY_N} on sqlite: {peak:.0f} MB (goal < 150 MB) "
            f"{verdict} ({figures['before_send_mb']:.0f} MB before the send)"
        )


if __name__ == "__main__":
    main()
