"""CSV import from a city's CRM.

The import streams the file (constant memory apart from one hash per address
seen), finds columns by Finnish, Swedish or English header names (or ``--map
col=field``), reads the values as staff type them (:mod:`.import_values`); what
the file is (UTF-8, UTF-8 with BOM, cp1252 or UTF-16; ``,``, ``;`` or a tab; a
quotation mark left open) is found before anything is written
(:mod:`.import_file`). A row is skipped only for a bad or missing e-mail
address, a missing consent, or an address that must not be (re)subscribed
(suppressed, erased, unsubscribed, bounced); a bad optional field is left out
with a warning and the contact is imported. Rows are written in batches, each
committed, so an error half-way (a field over the CSV limit) keeps the rows
before it; running the same file again changes nothing that was saved.
``dry_run`` reads and checks everything and writes nothing.
"""

from __future__ import annotations

import csv
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Protocol

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from outreach.campaigns import Config
from outreach.settings import Settings
from outreach.subscriptions.bulk import fewer_collections
from outreach.subscriptions.import_file import (
    check_quotes,
    resolve_columns,
    scan_file,
    sniff_delimiter,
    swallowed,
)
from outreach.subscriptions.import_report import (
    PROBLEMS,
    ImportAborted,
    ImportRefused,
    ImportReport,
    Note,
)
from outreach.subscriptions.import_values import Vocabulary
from outreach.subscriptions.import_writer import BatchWriter, Row
from outreach.subscriptions.mail import Mailer, mail_batch

#: Rows per batch (each committed). SQLite writes larger ones: a batch's fixed cost
#: (look-ups, mailbox claims, the commit) is on its one writer's path, and 5,000
#: rows a batch imported about 5 % faster than 2,500 there (at 8 MB more). On
#: PostgreSQL, with two batches in flight, 5,000 was no faster and 13 MB larger.
BATCH = 2500
SQLITE_BATCH = 5000
READ_BUFFER = 1 << 20


def import_csv(
    bind: Engine | Session,
    settings: Settings,
    config: Config,
    path: Path,
    city: str,
    *,
    mapping: dict[str, str] | None = None,
    confirmed: bool = False,
    consent_note: str | None = None,
    mailer: Mailer | None = None,
    dry_run: bool = False,
    name: str | None = None,
) -> ImportReport:
    """Import one CRM export into ``city``.

    Given an Engine, the import commits every few hundred rows in its own
    session; given a Session, it only flushes and the caller commits. Without a
    ``mailer`` no confirmation mail is sent (the rows stay pending). With
    ``dry_run`` nothing is written and no mail is sent; the report says what
    would have been done. The whole import mails through one batch of
    ``mailer`` (:func:`mail_batch`: one connection, closed at the end).
    Raises :class:`ImportAborted` (with the report so far) when the file
    cannot be read past a line. ``name`` is the file's name as the report and
    the messages give it (default: the path's; the console keeps an upload
    under a name of its own).
    """
    city_slug = city
    if city_slug not in config.cities:
        raise ImportRefused("city", city=city_slug[:40], known=", ".join(sorted(config.cities)))
    note = " ".join((consent_note or "").split())
    if confirmed and not note:
        raise ImportRefused("consent_note")
    if not path.is_file():
        raise ImportRefused("no_file", file=name or str(path))
    name = name or path.name
    scan = scan_file(path, name)
    encoding = scan.encoding
    report = ImportReport(file=name, encoding=encoding, dry_run=dry_run)
    with fewer_collections(), mail_batch(None if dry_run else mailer) as mailer:
        batch = BatchWriter(
            settings=settings,
            config=config,
            city_slug=city_slug,
            report=report,
            confirmed=confirmed,
            detail=f"{name}: {note}" if note else name,
            mailer=mailer,
            now=datetime.now(UTC),
            dry_run=dry_run,
        )
        # A large buffer: every read from the disk lets the writer thread take the
        # interpreter for up to its switch interval, so the reader reads rarely.
        with path.open(encoding=encoding, newline="", buffering=READ_BUFFER) as fh:
            first = fh.readline()
            report.delimiter = sniff_delimiter(first)
            header = next(csv.reader([first], delimiter=report.delimiter), [])
            columns = resolve_columns(header, mapping or {}, name)
            if scan.quotes:
                check_quotes(path, encoding, report.delimiter, columns, len(header), name)
            vocabulary = Vocabulary.build(config, city_slug, columns.fields, columns.extra)
            report.warnings.extend(columns.notes)
            over_lines = partial(
                swallowed, email=columns.email, width=len(header), delimiter=report.delimiter
            )
            sessions = _sessions(bind, dry_run)
            owned = isinstance(bind, Engine)
            writes = _Writes(sessions, threaded=owned)
            try:
                batch.start(sessions[0])
                if owned and not dry_run:
                    sessions[0].commit()  # the city's row, before any batch (and if none)
                reader = csv.reader(fh, delimiter=report.delimiter)
                size = SQLITE_BATCH if sessions[0].get_bind().dialect.name == "sqlite" else BATCH
                _read(reader, vocabulary, batch, owned, writes, size, over_lines)
                writes.wait()
            except BaseException:
                writes.drain()
                if owned:
                    for session in sessions:
                        session.rollback()
                raise
            finally:
                writes.shutdown()
                report.skipped.sort(key=lambda note: note.line)
                if owned:
                    for session in sessions:
                        session.close()
    return report


def _sessions(bind: Engine | Session, dry_run: bool) -> list[Session]:
    """The import's sessions: the caller's; one of its own on SQLite (one writer) and
    for a dry run; two on PostgreSQL (see :class:`_Writes`)."""
    if isinstance(bind, Session):
        return [bind]
    count = 2 if bind.dialect.name == "postgresql" and not dry_run else 1
    return [Session(bind, expire_on_commit=False) for _ in range(count)]


Work = Callable[[Session, Callable[[], None]], None]


class _Writes:
    """The sessions' work, a batch at a time, on threads while the next batch is read.

    With one session, one batch is in flight at most. With two (PostgreSQL), two
    are, each on its own connection and thread, taking turns: a batch's look-ups
    and inserts of new rows run beside the batch before it, so the server
    writes one batch while this process prepares the next, and the rest of the
    batch waits until the one before it is committed (``work``'s second
    argument; :meth:`BatchWriter.flush`). Either way batches are committed in
    file order, a batch after a failed one is not committed, and a session is
    only ever used by one thread at a time. With a caller's Session everything
    runs inline.
    """

    def __init__(self, sessions: list[Session], *, threaded: bool) -> None:
        self._sessions = sessions
        self._pool = (
            ThreadPoolExecutor(len(sessions), thread_name_prefix="outreach-import")
            if threaded
            else None
        )
        self._flight: deque[Future[None]] = deque()
        self._turn = 0

    def run(self, work: Work) -> None:
        session = self._sessions[self._turn % len(self._sessions)]
        self._turn += 1
        if len(self._flight) >= len(self._sessions):
            self._flight.popleft().result()  # the batch before on this session
        previous = self._flight[-1] if self._flight else None

        def after() -> None:
            if previous is not None:
                previous.result()

        if self._pool is None:
            work(session, after)
        else:
            self._flight.append(self._pool.submit(work, session, after))

    def wait(self) -> None:
        """Until every batch in flight is written; the first error is raised here."""
        while self._flight:
            self._flight.popleft().result()

    def drain(self) -> None:
        """Wait for the batches in flight while already failing; their errors are dropped."""
        while self._flight:
            with suppress(BaseException):
                self._flight.popleft().result()

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()


def _read(
    reader: _Reader,
    vocabulary: Vocabulary,
    batch: BatchWriter,
    owned: bool,
    writes: _Writes,
    size: int,
    over_lines: Callable[[list[str]], tuple[int, int] | None],
) -> None:
    """Every row of ``reader`` into ``batch``, ``size`` rows a batch; a row the CSV
    reader refuses ends the import, and so does a field that runs over lines and
    takes in rows (``over_lines``, :func:`swallowed`: a quotation mark left open that
    :func:`check_quotes` did not look for)."""
    report = batch.report
    seen: dict[str, int] = {}  # a prefix of each address's hash: the line it was first on
    rows: list[Row] = []

    def flush() -> None:
        nonlocal rows
        if not rows:
            return
        taken, rows = rows, []

        def write(session: Session, after: Callable[[], None]) -> None:
            batch.flush(session, taken, after)
            if owned and not batch.dry_run:
                session.commit()

        writes.run(write)

    while True:
        line = reader.line_num + 2  # the header was line 1; a record may span lines
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            flush()
            writes.wait()
            if "field larger than field limit" in str(exc):
                limit = str(csv.field_size_limit())
                raise ImportAborted(report, line, PROBLEMS["field_limit"], limit=limit) from exc
            raise ImportAborted(report, line, PROBLEMS["csv"], error=str(exc)) from exc
        if reader.line_num + 1 != line and (found := over_lines(row)) is not None:
            flush()
            writes.wait()
            first, inside, end = line + found[0], line + found[1], reader.line_num + 1
            raise ImportAborted(
                report, first, PROBLEMS["quote"], first=str(first), row=str(inside), end=str(end)
            )
        if not any(cell.strip() for cell in row):
            continue
        report.rows += 1
        signup, notes = vocabulary.row(row, line)
        if signup is None:
            report.skipped.extend(notes)
            continue
        report.warnings.extend(notes)
        prepared = batch.row(line, signup)
        first = seen.setdefault(prepared.digest[:24], line)
        if first != line:
            report.warnings.append(Note.warn(line, "duplicate", first=str(first)))
            continue
        rows.append(prepared)
        if len(rows) >= size:
            flush()
    flush()


class _Reader(Protocol):
    """What :func:`_read` needs of ``csv.reader``."""

    @property
    def line_num(self) -> int: ...

    def __next__(self) -> list[str]: ...
