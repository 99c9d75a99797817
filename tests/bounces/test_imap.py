"""The IMAP poller against Debian's Dovecot, started here on 127.0.0.1 with TLS.

Processed reports move to the done folder; a message that is no report stays
in the inbox, flagged, and is reported; auto-replies move and count nothing.
Skipped with the reason when Dovecot is not installed or does not start.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient
from pydantic import SecretStr

from outreach.bounces.imap import poll
from outreach.delivery import send_issue
from outreach.scheduler.daemon import periodic_job
from outreach.scheduler.runs import PeriodicIntervals, RunContext, run_periodic
from outreach.suppression import is_suppressed
from tests.bounces.reports import dsn
from tests.delivery.conftest import SMTPServer, free_port
from tests.scheduler.helpers import FakePipeline

CORPUS = Path(__file__).parents[1] / "data" / "bounces"
DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
CONF = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
{dh}
auth_mechanisms = plain
disable_plaintext_auth = yes
first_valid_uid = 1
mail_location = maildir:{root}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    port = {port}
    ssl = yes
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""


def _wait(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    for _ in range(100):
        if proc.poll() is not None:
            break
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    text = log.read_text()[-500:] if log.exists() else ""
    proc.kill()
    pytest.skip(f"dovecot did not start: {text or 'no log'}")


@pytest.fixture
def dovecot() -> Iterator[dict[str, Any]]:
    if not os.path.exists(DOVECOT):
        pytest.skip("dovecot is not installed (apt-get install dovecot-imapd)")
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    root = Path(tempfile.mkdtemp(prefix="outreach-dovecot-"))
    root.chmod(0o755)
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
            *("-keyout", str(root / "key.pem"), "-out", str(root / "cert.pem")),
        ],
        check=True,
        capture_output=True,
    )
    uid, gid = os.getuid(), os.getgid()
    if uid == 0:  # Dovecot does not run mail processes as root
        uid = gid = 65534
    for sub in ("mail", "home"):
        (root / sub).mkdir()
        if os.getuid() == 0:
            os.chown(root / sub, uid, gid)
    (root / "passwd").write_text("bounces:{PLAIN}secret-pass\n")
    port = free_port()
    dh = "/usr/share/dovecot/dh.pem"
    conf = root / "dovecot.conf"
    conf.write_text(
        CONF.format(
            root=root,
            cert=root / "cert.pem",
            key=root / "key.pem",
            dh=f"ssl_dh = <{dh}" if os.path.exists(dh) else "",
            uid=uid,
            gid=gid,
            port=port,
        )
    )
    proc = subprocess.Popen([DOVECOT, "-F", "-c", str(conf)], stderr=subprocess.DEVNULL)
    _wait(port, proc, root / "dovecot.log")
    try:
        yield {"port": port, "cafile": root / "cert.pem"}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)


def test_poll_moves_reports_and_keeps_what_it_cannot_read(
    dovecot: dict[str, Any], world_factory: Any, smtp_server: SMTPServer
) -> None:
    w = world_factory(2, mail_url=smtp_server.url())
    settings = w.settings.model_copy(
        update={
            "bounce_address": "bounces@news.example.fi",
            "bounce_imap_host": "127.0.0.1",
            "bounce_imap_port": dovecot["port"],
            "bounce_imap_user": "bounces",
            "bounce_imap_password": SecretStr("secret-pass"),
            "bounce_imap_cafile": dovecot["cafile"],
        }
    )
    send_issue(settings, w.config, w.issue_id)
    h = smtp_server.handler
    envelope, data = next(
        (env, d)
        for (rcpt, d), env in zip(h.received, h.envelopes, strict=True)
        if rcpt == "user0@example.fi"
    )
    mid = next(x for x in data.split(b"\r\n") if x.lower().startswith(b"message-id:"))
    report = (
        b"Delivered-To: "
        + envelope.encode()
        + b"\r\n"
        + dsn("user0@example.fi", mid.split(b":", 1)[1].strip().decode())
    )
    person = b"From: someone@example.org\r\nSubject: Hello there\r\n\r\nCan you help me?\r\n"
    ooo = (CORPUS / "out-of-office-fi.eml").read_bytes()
    ctx = ssl.create_default_context(cafile=str(dovecot["cafile"]))
    with IMAPClient("127.0.0.1", port=dovecot["port"], ssl=True, ssl_context=ctx) as c:
        c.login("bounces", "secret-pass")
        for message in (report, person, ooo):
            c.append("INBOX", message)

    result = poll(settings)
    assert result.processed == 2  # the report and the auto-reply
    assert result.outcome.suppressed == 1
    assert len(result.failed) == 1 and "Hello there" in result.failed[0]
    with w.session() as s:
        assert is_suppressed(s, settings, "user0@example.fi") == "bounce"

    with IMAPClient("127.0.0.1", port=dovecot["port"], ssl=True, ssl_context=ctx) as c:
        c.login("bounces", "secret-pass")
        c.select_folder("INBOX")
        [uid] = c.search(["ALL"])
        assert b"\\Flagged" in c.get_flags([uid])[uid]
        c.select_folder("Processed")
        assert len(c.search(["ALL"])) == 2

    # The flagged message is not tried again; nothing is lost.
    again = poll(settings)
    assert (again.processed, again.failed) == (0, [])


def test_soft_bounces_in_servers_auto_submitted_dsns_suppress_at_the_threshold(
    dovecot: dict[str, Any], world_factory: Any, smtp_server: SMTPServer
) -> None:
    """Postfix, Gmail and Exchange mark their DSNs ``Auto-Submitted: auto-replied``;
    their soft bounces still count, and the threshold suppresses the address."""
    w = world_factory(2, mail_url=smtp_server.url())
    settings = w.settings.model_copy(
        update={
            "bounce_address": "bounces@news.example.fi",
            "bounce_imap_host": "127.0.0.1",
            "bounce_imap_port": dovecot["port"],
            "bounce_imap_user": "bounces",
            "bounce_imap_password": SecretStr("secret-pass"),
            "bounce_imap_cafile": dovecot["cafile"],
            "bounce_soft_threshold": 3,
        }
    )
    send_issue(settings, w.config, w.issue_id)
    h = smtp_server.handler
    envelope, data = next(
        (env, d)
        for (rcpt, d), env in zip(h.received, h.envelopes, strict=True)
        if rcpt == "user0@example.fi"
    )
    mid = next(x for x in data.split(b"\r\n") if x.lower().startswith(b"message-id:"))
    reports = [
        b"Delivered-To: "
        + envelope.encode()
        + b"\r\n"
        + dsn(
            "user0@example.fi",
            mid.split(b":", 1)[1].strip().decode(),
            status="4.2.2",
            attempt=n,
            auto_submitted=True,
        )
        for n in range(3)
    ]
    ctx = ssl.create_default_context(cafile=str(dovecot["cafile"]))

    def deliver(message: bytes) -> None:
        with IMAPClient("127.0.0.1", port=dovecot["port"], ssl=True, ssl_context=ctx) as c:
            c.login("bounces", "secret-pass")
            c.append("INBOX", message)

    for report in reports[:2]:
        deliver(report)
    first = poll(settings)
    assert (first.processed, first.failed) == (2, [])
    assert (first.outcome.events, first.outcome.counted, first.outcome.suppressed) == (2, 2, 0)
    with w.session() as s:
        assert is_suppressed(s, settings, "user0@example.fi") is None

    deliver(reports[2])
    third = poll(settings)
    assert (third.outcome.events, third.outcome.suppressed) == (1, 1)
    with w.session() as s:
        assert is_suppressed(s, settings, "user0@example.fi") == "bounce"
        assert is_suppressed(s, settings, "user1@example.fi") is None


def test_the_daemon_job_polls_the_mailbox(
    dovecot: dict[str, Any], world_factory: Any, smtp_server: SMTPServer, tmp_path: Path
) -> None:
    """The daemon's periodic job ``bounces`` (what APScheduler calls every
    ``OUTREACH_BOUNCE_IMAP_INTERVAL_MINUTES``) processes the mailbox."""
    w = world_factory(1, mail_url=smtp_server.url())
    settings = w.settings.model_copy(
        update={
            "bounce_address": "bounces@news.example.fi",
            "bounce_imap_host": "127.0.0.1",
            "bounce_imap_port": dovecot["port"],
            "bounce_imap_user": "bounces",
            "bounce_imap_password": SecretStr("secret-pass"),
            "bounce_imap_cafile": dovecot["cafile"],
        }
    )
    send_issue(settings, w.config, w.issue_id)
    h = smtp_server.handler
    [(envelope, data)] = [(env, d) for (_, d), env in zip(h.received, h.envelopes, strict=True)]
    mid = next(x for x in data.split(b"\r\n") if x.lower().startswith(b"message-id:"))
    report = dsn("user0@example.fi", mid.split(b":", 1)[1].strip().decode())
    ctx = ssl.create_default_context(cafile=str(dovecot["cafile"]))
    with IMAPClient("127.0.0.1", port=dovecot["port"], ssl=True, ssl_context=ctx) as c:
        c.login("bounces", "secret-pass")
        c.append("INBOX", b"Delivered-To: " + envelope.encode() + b"\r\n" + report)

    run = RunContext(settings, w.config, FakePipeline(tmp_path / "calls.log"))
    [outcome] = run_periodic(run, "bounces")
    assert (outcome.name, outcome.status) == ("bounces", "ok")
    assert "messages processed 1, addresses suppressed 1" in outcome.lines("en")[0]
    with w.session() as s:
        assert is_suppressed(s, settings, "user0@example.fi") == "bounce"
    [again] = run_periodic(run, "bounces")  # the mailbox is empty now
    assert "messages processed 0," in again.lines("en")[0]


def test_the_daemon_has_a_bounce_job_only_with_a_mailbox(settings: Any, engine: Any) -> None:
    from outreach.campaigns import load
    from outreach.scheduler.jobs import make_scheduler, sync_jobs

    config = load(settings.campaigns_path, settings.templates_path)
    mailbox = settings.model_copy(
        update={
            "bounce_imap_host": "imap.example.fi",
            "bounce_imap_user": "bounces",
            "bounce_imap_interval_minutes": 2,
        }
    )
    sched = make_scheduler(engine, lambda _event: None)
    sched.start(paused=True)
    try:
        for current, expected in ((mailbox, True), (settings, False)):
            intervals = PeriodicIntervals.from_settings(current)
            sync_jobs(
                sched, config, campaign_func=print, periodic_func=periodic_job,
                periodic=intervals.periodic(), now=datetime.now(UTC), replace_all=False,
            )  # fmt: skip
            job = sched.get_job("periodic:bounces")
            assert (job is not None) is expected
            if job is not None:
                assert job.trigger.interval == timedelta(minutes=2)
                assert job.args == ("bounces",) or job.args == ["bounces"]
    finally:
        sched.shutdown(wait=False)
