"""The runtime's security floor: Python and expat releases with fixes outreach relies on.

outreach writes e-mail headers (``email`` package) and parses feeds and
calendars (XML through expat), so it warns when the interpreter or expat
predates these fixes:

- CVE-2023-27043, ``email.utils`` parsing the wrong part of an address as the
  addr-spec: fixed in 3.11.10 and 3.12.6 (and 3.13.0);
- CVE-2024-6923, newlines not quoted when ``email`` serialises headers
  (header injection): fixed in 3.11.10 and 3.12.5 (and 3.13.0);
- expat 2.6.0: the entity-expansion and large-token fixes (CVE-2023-52425,
  CVE-2023-52426). Python links its own copy or the system's library
  (Debian's images do), so ``pyexpat.EXPAT_VERSION`` is what counts.

``outreach status`` and ``/healthz`` report what :func:`outdated` returns;
the Dockerfile pins a base image that passes.
"""

from __future__ import annotations

import pyexpat
import re
import sys
from dataclasses import dataclass

#: Per minor version, the first release with both e-mail fixes; 3.13.0 on has them.
PYTHON_FIXED: dict[tuple[int, int], tuple[int, int, int]] = {
    (3, 11): (3, 11, 10),
    (3, 12): (3, 12, 6),
}
PYTHON_FIXES = "CVE-2023-27043, CVE-2024-6923"  # e-mail address parsing, header injection
EXPAT_FIXED = (2, 6, 0)
EXPAT_FIXES = "CVE-2023-52425, CVE-2023-52426"  # large tokens, entity expansion


@dataclass(frozen=True)
class Outdated:
    """One component older than the release that fixes known flaws."""

    component: str  # "Python" or "expat"
    running: str
    fixed: str
    fixes: str

    def __str__(self) -> str:
        return (
            f"{self.component} {self.running} is older than {self.fixed}, which fixes "
            f"{self.fixes}; update the runtime"
        )


def _dotted(version: tuple[int, ...]) -> str:
    return ".".join(str(part) for part in version)


def expat_version(text: str) -> tuple[int, int, int] | None:
    """``(2, 5, 0)`` from pyexpat's ``"expat_2.5.0"``; None when unreadable."""
    found = re.search(r"(\d+)\.(\d+)\.(\d+)", text)
    if found is None:
        return None
    return (int(found[1]), int(found[2]), int(found[3]))


def outdated(
    python: tuple[int, int, int] | None = None, expat: str | None = None
) -> list[Outdated]:
    """What is too old in this process (or in the versions given, for tests)."""
    running: tuple[int, ...] = python if python is not None else tuple(sys.version_info[:3])
    found: list[Outdated] = []
    fixed = PYTHON_FIXED.get((running[0], running[1]))
    if fixed is not None and running < fixed:
        found.append(Outdated("Python", _dotted(running), _dotted(fixed), PYTHON_FIXES))
    expat_text = expat if expat is not None else pyexpat.EXPAT_VERSION
    version = expat_version(expat_text)
    if version is not None and version < EXPAT_FIXED:
        found.append(Outdated("expat", _dotted(version), _dotted(EXPAT_FIXED), EXPAT_FIXES))
    return found
