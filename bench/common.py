"""What the benchmarks share: the repository on the path, their settings, a database
to fill (a SQLite file, or a database of their own on a PostgreSQL server, dropped
afterwards), and timing helpers.

Import it before ``outreach``: ``from common import ROOT, bench_settings, ...``
(a benchmark runs as ``python bench/bench_x.py``, so this folder is on the path).
"""

from __future__ import annotations

import os
import statistics
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from outreach.settings import Settings  # noqa: E402

SECRET_KEY = "bench-secret-key-0123456789abcdef0123456789"
#: The server a benchmark that always tries PostgreSQL uses when none is named.
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def bench_settings(database_url: str, var_dir: Path) -> Settings:
    """The settings of a benchmark: the repository's campaigns and templates, mail
    kept in memory, a fixed secret key."""
    return Settings(
        database_url=database_url,
        mail_url="memory:",
        base_url="https://outreach.example.fi",
        secret_key=SECRET_KEY,
        campaigns_dir=ROOT / "campaigns",
        templates_dir=ROOT / "templates",
        var_dir=var_dir,
    )


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def env_postgres(*names: str) -> str | None:
    """The first of the environment variables ``names`` that is set."""
    return next((os.environ[name] for name in names if os.environ.get(name)), None)


@contextmanager
def scratch_postgres(server: str, prefix: str) -> Iterator[str | None]:
    """A new database ``{prefix}_{pid}`` on the server of ``server`` (any database URL
    on it), dropped afterwards, so that nothing of the server's other databases is
    touched. Yields None, after a line saying so, when the server does not answer."""
    name = f"{prefix}_{os.getpid()}"
    admin = create_engine(make_url(server).set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # no server: say so and skip
        print(f"PostgreSQL: skipped ({exc.__class__.__name__}: {str(exc).splitlines()[0]})")
        admin.dispose()
        yield None
        return
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def median(values: Iterable[float]) -> float:
    return float(statistics.median(list(values)))


def load_average() -> str:
    """The load averages over 1, 5 and 15 minutes, and the cores they are shared by."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def print_load(when: str) -> None:
    print(f"{when}: {load_average()}")


def server_cpu(engine: Engine) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend serving the bench's database (those the
    figures open for their own writes included), or nothing where that cannot be read."""
    if engine.dialect.name != "postgresql":
        return {}
    with engine.connect() as conn:
        pids = conn.execute(
            text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        ).scalars()
        found = {}
        for pid in pids:
            used = own_cpu_seconds(pid)
            if used is not None:  # else gone, or a server on another machine
                found[int(pid)] = used
        return found


def _stat(path: Path) -> tuple[str, list[str]] | None:
    """A /proc ``stat`` file: the process's name and the fields after it (state, ppid,
    …; utime, stime, cutime, cstime at 11-14, in clock ticks); None once it ended."""
    try:
        text = path.read_text()
    except OSError:
        return None
    name, rest = text[text.index("(") + 1 :].rsplit(") ", 1)
    return name, rest.split()


def own_cpu_seconds(pid: int) -> float | None:
    """The user and system CPU seconds of process ``pid`` itself, from /proc; None
    where it is not on this host (or has ended)."""
    stat = _stat(Path(f"/proc/{pid}/stat"))
    if stat is None:
        return None
    fields = stat[1]
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def processes() -> dict[int, tuple[str, int, float]]:
    """Every process on this host, from /proc: pid → (name, parent's pid, CPU seconds,
    user and system, its own and its ended children's that it waited for)."""
    tick = os.sysconf("SC_CLK_TCK")
    found = {}
    for path in Path("/proc").glob("[0-9]*/stat"):
        stat = _stat(path)
        if stat is None:
            continue  # ended meanwhile: its time is its parent's now
        name, fields = stat
        found[int(path.parent.name)] = (name, int(fields[1]), sum(map(int, fields[11:15])) / tick)
    return found


def tree_cpu_seconds(roots: Iterable[int], table: dict[int, tuple[str, int, float]]) -> float:
    """CPU seconds of the processes ``roots`` of ``table`` (:func:`processes`) and of
    every process below them, the ended ones their parents waited for included."""
    children: dict[int, list[int]] = {}
    for pid, (_, parent, _) in table.items():
        children.setdefault(parent, []).append(pid)
    total, todo = 0.0, list(roots)
    while todo:
        pid = todo.pop()
        total += table[pid][2] if pid in table else 0.0
        todo += children.get(pid, [])
    return total


def memory_mb(field: str = "VmHWM") -> float:
    """A memory figure of this process from /proc/self/status, in MB: ``VmHWM`` its
    peak resident size, ``VmRSS`` its current one.

    Not ``ru_maxrss``: a child started by :mod:`subprocess` (vfork, then exec)
    keeps its parent's high-water mark in it, so a child measured the
    benchmark's own peak. ``VmHWM`` covers this process's memory since its exec.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"no {field} in /proc/self/status")


def machine_speed() -> str:
    """One line on how fast this machine runs Python now: the CPU time of a pure-Python
    loop of 20 million additions, in a function. A shared machine's speed changes
    from hour to hour (by half, here), and an absolute goal (rows per second)
    moves with it: compare runs by this figure, lower is faster."""
    import time

    started = time.process_time()
    total = 0
    for i in range(20_000_000):
        total += i
    seconds = time.process_time() - started
    return f"machine speed: a loop of 20 million additions took {seconds:.2f} CPU s"
