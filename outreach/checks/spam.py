"""Spam score with SpamAssassin: a running spamd, else ``spamassassin`` or ``spamc``.

The message is the one the send path builds (a test copy); SpamAssassin runs
with local tests only (``-L``: no DNS or network lookups), so the score is
about the message itself. 5 points or more is an error (SpamAssassin's own
spam threshold), 2 or more a warning. Without SpamAssassin the report says the
check was skipped.

With ``OUTREACH_SPAMD`` (``host:port``) the message goes to that spamd over
the SPAMC protocol (``REPORT``): its rules are loaded once, where
``spamassassin`` loads and compiles them for every message (1-3 s of CPU).
spamd's own options decide its tests (run it with ``-L`` for local tests only).
When it does not answer, the check starts ``spamassassin`` as without it.
"""

from __future__ import annotations

import logging
import re
import shutil
import socket
import subprocess
from dataclasses import dataclass

from outreach.checks.report import ERROR, WARNING, Finding, finding
from outreach.l10n import LANGUAGES, format_decimal

ERROR_SCORE = 5.0
WARNING_SCORE = 2.0
TIMEOUT = 60.0
#: Seconds to wait for a spamd to accept the connection before falling back.
CONNECT_TIMEOUT = 5.0

log = logging.getLogger(__name__)

_SCORE = re.compile(r"\((-?\d+(?:\.\d+)?) points?, (-?\d+(?:\.\d+)?) required\)")
_SPAMC_SCORE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)/(-?\d+(?:\.\d+)?)\s*$", re.M)
_RULE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s+([A-Z][A-Z0-9_]+)\s", re.M)


class SpamUnavailable(Exception):
    """SpamAssassin is not installed or did not answer; the message says which."""


class SpamMissing(SpamUnavailable):
    """Neither ``spamassassin`` nor ``spamc`` is on PATH."""


@dataclass(frozen=True)
class SpamScore:
    score: float
    rules: list[tuple[str, float]]  # the rules that fired with points, highest first


def command() -> list[str] | None:
    """How to run SpamAssassin here, or None when it is not installed."""
    if shutil.which("spamassassin"):
        # -L local tests only, -t the report, -x no per-user preferences file
        return ["spamassassin", "-L", "-t", "-x"]
    if shutil.which("spamc"):
        return ["spamc", "-R"]
    return None


def parse(output: str) -> SpamScore:
    """The score and the rules of a ``spamassassin -t`` or ``spamc -R`` report."""
    match = _SCORE.search(output) or _SPAMC_SCORE.search(output)
    if match is None:
        raise SpamUnavailable("SpamAssassin gave no score")
    table = output.split("---- ----", 1)[1] if "---- ----" in output else ""
    rules = [(name, float(points)) for points, name in _RULE.findall(table)]
    rules.sort(key=lambda r: -r[1])
    return SpamScore(float(match.group(1)), rules)


def _address(spamd: str) -> tuple[str, int]:
    host, _, port = spamd.rpartition(":")
    return host.strip("[]"), int(port)


def spamd_report(message: bytes, spamd: str) -> str:
    """spamd's answer to ``REPORT`` (the SPAMC protocol): the report of ``spamassassin -t``.

    Raises :class:`OSError` when spamd cannot be reached or breaks off, and
    :class:`SpamUnavailable` when it answers with an error.
    """
    request = b"REPORT SPAMC/1.5\r\nContent-length: %d\r\n\r\n" % len(message)
    with socket.create_connection(_address(spamd), timeout=CONNECT_TIMEOUT) as sock:
        sock.settimeout(TIMEOUT)
        sock.sendall(request + message)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    answer = b"".join(chunks).decode("utf-8", "replace")
    head, _, body = answer.replace("\r\n", "\n").partition("\n\n")
    status = head.split("\n", 1)[0].split(None, 2)
    if len(status) < 3 or not status[0].startswith("SPAMD/") or status[1] != "0":
        raise SpamUnavailable(f"spamd answered {head.splitlines()[0] if head else 'nothing'!r}")
    # "Spam: True ; 6.1 / 5.0" first, as ``spamc -R`` prints it: the score even when
    # the report template is the site's own
    verdict = re.search(r"^Spam:[^;]*;\s*(\S+)\s*/\s*(\S+)\s*$", head, re.M)
    return f"{verdict.group(1)}/{verdict.group(2)}\n{body}" if verdict else body


def score(message: bytes, spamd: str = "") -> SpamScore:
    """The score of ``message``: by ``spamd`` (``host:port``) if given and answering,
    else by ``spamassassin`` or ``spamc`` started for it."""
    cmd = command()
    if spamd:
        try:
            return parse(spamd_report(message, spamd))
        except OSError as exc:
            if cmd is None:
                raise SpamUnavailable(
                    f"spamd at {spamd} did not answer: {exc.__class__.__name__}"
                ) from exc
            log.warning(
                "spamd at %s did not answer (%s); starting %s instead",
                spamd,
                exc.__class__.__name__,
                cmd[0],
            )
    if cmd is None:
        raise SpamMissing("SpamAssassin (spamassassin or spamc) is not installed")
    try:
        done = subprocess.run(  # noqa: S603 (a fixed command; the message goes to stdin)
            cmd, input=message, capture_output=True, timeout=TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SpamUnavailable(f"{cmd[0]} failed: {exc.__class__.__name__}") from exc
    result = parse(done.stdout.decode("utf-8", "replace"))
    if cmd[0] == "spamc" and result.score == 0 and "0/0" in done.stdout.decode(errors="replace"):
        raise SpamUnavailable("spamc got no answer from spamd")
    return result


def spam_findings(result: SpamScore, lang: str) -> list[Finding]:
    if result.score < WARNING_SCORE:
        return []
    level = ERROR if result.score >= ERROR_SCORE else WARNING
    fired = {
        ui: ", ".join(
            f"{name} {format_decimal(points, ui, None)}"
            for name, points in result.rules
            if points > 0
        )
        for ui in LANGUAGES
    }
    return [
        finding(
            level,
            "spam.score",
            lang,
            "SpamAssassin gives {score} points (spam from {limit})",
            detail=fired,
            score={ui: format_decimal(result.score, ui, None) for ui in LANGUAGES},
            limit={ui: format_decimal(ERROR_SCORE, ui, None) for ui in LANGUAGES},
        )
    ]
