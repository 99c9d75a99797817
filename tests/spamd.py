"""One spamd per test process on 127.0.0.1, so that the pre-flight spam check of
every test scores its messages through spamd (``OUTREACH_SPAMD``) instead of
starting ``spamassassin``, which loads and compiles its rules for each message
(1-3 s of CPU, a few dozen times in the suite). Without spamd (Debian: ``spamd``)
the checks start ``spamassassin`` as in production without ``OUTREACH_SPAMD``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

#: Where Debian puts it (``/usr/sbin`` is not on every PATH).
CANDIDATES = ("/usr/sbin/spamd", "/usr/bin/spamd")
START_TIMEOUT = 90.0


def spamd_binary() -> str | None:
    found = shutil.which("spamd")
    if found:
        return found
    return next((p for p in CANDIDATES if os.access(p, os.X_OK)), None)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ping(address: tuple[str, int]) -> bool:
    """Whether a spamd answers ``PING`` at ``address``."""
    try:
        with socket.create_connection(address, timeout=2) as sock:
            sock.sendall(b"PING SPAMC/1.5\r\n\r\n")
            return b"PONG" in sock.recv(256)
    except OSError:
        return False


def start(binary: str, folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    """spamd on a free port of 127.0.0.1 with local tests only; returns it when it answers."""
    port = _free_port()
    cmd = [
        binary,
        "--local",  # no DNS or network tests, as ``spamassassin -L``
        "--nouser-config",
        f"--listen=127.0.0.1:{port}",
        "--allowed-ips=127.0.0.1",
        "--min-children=1",
        "--max-children=2",
        "--syslog=stderr",
        f"--pidfile={folder / 'spamd.pid'}",
    ]
    if os.geteuid() == 0:
        cmd.append("--username=nobody")  # spamd will not serve as root
    with open(folder / "spamd.log", "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if ping(("127.0.0.1", port)):
            return proc, f"127.0.0.1:{port}"
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    stop(proc)
    tail = (folder / "spamd.log").read_text(errors="replace")[-2000:]
    raise RuntimeError(f"spamd did not start on 127.0.0.1:{port}:\n{tail}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM: spamd stops its children and exits."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
