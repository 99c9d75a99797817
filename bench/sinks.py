"""SMTP sinks for bench_send.py: aiosmtpd in its own process, and a private Postfix.

The Postfix sink is Debian's ``postfix`` package started as its own instance
(``postfix -c DIR start``): configuration, queue and data directories under a
temporary directory, one ``smtpd`` on 127.0.0.1 on a free port, every
recipient relayed to the ``discard`` transport. It needs root (Postfix's
master runs as root and drops to ``mail_owner``); when it cannot start,
:func:`start_postfix` says why and the benchmark skips that sink.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from common import processes, tree_cpu_seconds

POSTFIX = "/usr/sbin/postfix"

MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = sink.localdomain
mydestination =
relay_domains =
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
default_transport = discard:benchmark sink
relay_transport = discard:benchmark sink
local_transport = discard:benchmark sink
virtual_transport = discard:benchmark sink
alias_maps =
alias_database =
local_recipient_maps =
smtpd_peername_lookup = no
smtputf8_enable = no
maillog_file = {root}/maillog
maillog_file_prefixes = {root}
"""

# Only the services a discarding relay needs; nothing is chrooted.
MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup     unix  n - n 60 1 pickup
cleanup    unix  n - n -  0 cleanup
qmgr       unix  n - n 300 1 qmgr
rewrite    unix  - - n -  - trivial-rewrite
bounce     unix  - - n -  0 bounce
defer      unix  - - n -  0 bounce
trace      unix  - - n -  0 bounce
verify     unix  - - n -  1 verify
flush      unix  n - n 1000? 0 flush
proxymap   unix  - - n -  - proxymap
proxywrite unix  - - n -  1 proxymap
showq      unix  n - n -  - showq
error      unix  - - n -  - error
retry      unix  - - n -  - error
discard    unix  - - n -  - discard
anvil      unix  - - n -  1 anvil
scache     unix  - - n -  1 scache
postlog    unix-dgram n - n - 1 postlogd
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


class Sink:
    name = ""
    port = 0

    def drain(self) -> None:
        """Wait until the sink has finished the work of the messages it accepted."""

    def cpu_seconds(self) -> float:
        """The CPU time the sink's processes have used so far."""
        raise NotImplementedError

    def cpu_wait_seconds(self) -> float | None:
        """The time the sink has spent ready to run but waiting for a CPU so far
        (the kernel's run-queue wait), where it can be read; None elsewhere."""
        return None

    def stop(self) -> None:
        raise NotImplementedError


def run_aiosmtpd(port: int) -> None:
    """The body of the aiosmtpd sink process: accept everything, keep nothing."""
    from aiosmtpd.controller import Controller

    class Accept:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            return "250 OK"

    controller = Controller(Accept(), hostname="127.0.0.1", port=port, data_size_limit=0)
    controller.start()
    threading.Event().wait()


def run_relay(port: int, delay: float) -> None:
    """The body of the relay sink process: an aiosmtpd sink that offers PIPELINING,
    as a provider's relay does, behind a proxy on ``port`` that delays every
    byte by ``delay`` seconds each way (a relay across the internet)."""
    import asyncio

    from aiosmtpd.controller import Controller

    class Accept:
        async def handle_EHLO(
            self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
        ) -> list[str]:
            session.host_name = hostname
            responses.insert(-1, "250-PIPELINING")
            return responses

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            return "250 OK"

    inner = free_port()
    controller = Controller(Accept(), hostname="127.0.0.1", port=inner, data_size_limit=0)
    controller.start()

    async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        try:
            while data := await reader.read(65536):
                loop.call_later(delay, writer.write, data)  # in order: the same delay
        finally:
            loop.call_later(delay, writer.close)

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        to_reader, to_writer = await asyncio.open_connection("127.0.0.1", inner)
        await asyncio.gather(pump(reader, to_writer), pump(to_reader, writer))

    async def serve() -> None:
        server = await asyncio.start_server(connection, "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


class AiosmtpdSink(Sink):
    name = "aiosmtpd"

    def __init__(self, script: Path, relay_delay: float | None = None) -> None:
        self.port = free_port()
        mode = ["--sink", str(self.port)]
        if relay_delay is not None:
            mode = ["--relay-sink", str(self.port), str(relay_delay)]
        self.proc = subprocess.Popen([sys.executable, str(script), *mode])
        if not wait_for_port(self.port):
            self.stop()
            raise RuntimeError("the aiosmtpd sink did not start")

    def cpu_seconds(self) -> float:
        return tree_cpu_seconds([self.proc.pid], processes())

    def cpu_wait_seconds(self) -> float | None:
        # /proc/<pid>/task/<tid>/schedstat: time on a CPU, time waiting on a run
        # queue (ns), time slices. Aiosmtpd's threads live as long as the sink.
        try:
            tasks = list(Path(f"/proc/{self.proc.pid}/task").iterdir())
            waited = sum(int((t / "schedstat").read_text().split()[1]) for t in tasks)
        except (OSError, IndexError, ValueError):  # no schedstat here, or the sink ended
            return None
        return waited / 1e9

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait()


class PostfixSink(Sink):
    name = "postfix"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.conf = root / "conf"
        for sub in ("conf", "queue", "data"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        root.chmod(0o755)  # Postfix's daemons run as mail_owner and must reach the queue
        shutil.chown(root / "data", "postfix")
        (self.conf / "main.cf").write_text(MAIN_CF.format(root=root))
        (self.conf / "master.cf").write_text(MASTER_CF.format(port=self.port))
        self._postfix("check")
        self._postfix("start")
        if not wait_for_port(self.port):
            self.stop()
            raise RuntimeError(f"postfix did not listen on 127.0.0.1:{self.port}")

    def _postfix(self, command: str) -> None:
        done = subprocess.run(
            [POSTFIX, "-c", str(self.conf), command], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            log = self.root / "maillog"
            tail = log.read_text()[-500:] if log.exists() else ""
            lines = (done.stderr + tail).strip().splitlines() or ["no message"]
            raise RuntimeError(f"postfix {command} failed: {lines[-1][-200:]}")

    def queued(self) -> int:
        return sum(
            len(files)
            for sub in ("maildrop", "incoming", "active", "deferred")
            for _, _, files in os.walk(self.root / "queue" / sub)
        )

    def cpu_seconds(self) -> float:
        """Postfix's master and the daemons it runs (smtpd, cleanup, qmgr, …)."""
        master = (self.root / "queue" / "pid" / "master.pid").read_text().split()[0]
        return tree_cpu_seconds([int(master)], processes())

    def drain(self) -> None:
        deadline = time.monotonic() + 300
        while self.queued() and time.monotonic() < deadline:
            time.sleep(0.2)

    def stop(self) -> None:
        subprocess.run([POSTFIX, "-c", str(self.conf), "stop"], capture_output=True, check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def start_postfix() -> PostfixSink | str:
    """A running Postfix sink in a temporary directory of its own, or why there is none."""
    if not Path(POSTFIX).exists():
        return "Debian's postfix package is not installed (apt-get install postfix)"
    if os.geteuid() != 0:
        return "starting a Postfix instance needs root"
    try:
        return PostfixSink(Path(tempfile.mkdtemp(prefix="bench-postfix-")))
    except (RuntimeError, OSError, LookupError) as exc:
        return str(exc)
