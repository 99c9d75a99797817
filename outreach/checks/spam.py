"""Spam score with SpamAssassin, when it is installed (``spamassassin`` or ``spamc``).

The message is the one the send path builds (a test copy); SpamAssassin runs
with local tests only (``-L``: no DNS or network lookups), so the score is
about the message itself. 5 points or more is an error (SpamAssassin's own
spam threshold), 2 or more a warning. Without SpamAssassin the report says the
check was skipped.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

from outreach.checks.report import ERROR, WARNING, Finding, finding

ERROR_SCORE = 5.0
WARNING_SCORE = 2.0
TIMEOUT = 60.0

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


def score(message: bytes) -> SpamScore:
    cmd = command()
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
    fired = ", ".join(f"{name} {points:g}" for name, points in result.rules if points > 0)
    return [
        finding(
            level,
            "spam.score",
            lang,
            "SpamAssassin gives {score} points (spam from {limit})",
            detail=fired,
            score=f"{result.score:g}",
            limit=f"{ERROR_SCORE:g}",
        )
    ]
