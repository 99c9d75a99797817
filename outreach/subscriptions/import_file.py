"""What an import file is before its rows are read: encoding, delimiter, columns.

Everything here runs before anything is written, and a file it refuses is one
:class:`ImportRefused` line in the staff's language: an empty file, a byte
that is no text, a header without an e-mail column, a ``--map`` column the
file does not have. Excel writes CSV as UTF-8 (with or without BOM), as
cp1252 ("CSV" on Finnish Windows) or as UTF-16 with BOM and tabs ("Unicode
text"); the delimiter is ``,``, ``;`` or a tab, sniffed from the header.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from outreach.errors import SubscriptionError
from outreach.subscriptions.import_report import ImportRefused, Note
from outreach.subscriptions.import_values import ALIAS_INDEX, FIELDS, header_key
from outreach.validation import normalise_email

CHUNK = 1 << 20
_UNDEFINED_BYTES = (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d")  # cp1252 has no character
_UNDEFINED_CP1252 = re.compile(rb"[\x81\x8d\x8f\x90\x9d]")
#: What a UTF-8 line of a CRM export holds that is not ASCII: Latin letters, dashes,
#: quotation marks, the euro sign.
_LETTERS = re.compile("[\u00a0-\u024f\u2013-\u2026\u20ac]")
_SHOWN_LINES = 5
#: Every byte but the quotation mark and the line feed (``bytes.translate`` deletes them),
#: and a line of what is left that holds an odd number of quotation marks.
_NOT_QUOTES = bytes(b for b in range(256) if b not in b'"\n')
_ODD_LINE = re.compile(rb'^"(?:"")*$', re.MULTILINE)
_SHOWN_COLUMNS = 12


@dataclass(frozen=True)
class FileScan:
    """What one read of the whole file found. ``quotes``: some line holds an odd number
    of quotation marks, so a quoted field may run over lines (:func:`check_quotes`)."""

    encoding: str
    quotes: bool = False


def scan_file(path: Path, name: str | None = None) -> FileScan:
    """The file's encoding: ``utf-16`` (BOM), ``utf-8-sig`` (BOM), ``utf-8`` when the
    whole file decodes, else ``cp1252``.

    Raises :class:`ImportRefused` for an empty file, for lines that are not UTF-8
    in a file that otherwise is (naming them), and for a byte that is neither
    UTF-8 nor cp1252 (naming its line). Reads a UTF-8 file once and any other
    twice, at C speed; a look at each line runs only when a file that is not all
    UTF-8 holds some UTF-8. Messages name the file ``name`` (default: the path's).
    """
    name = name or path.name
    with path.open("rb") as fh:
        head = fh.read(3)
        if head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
            fh.seek(0)
            return _scan_utf16(fh.read, name)
        bom = head == codecs.BOM_UTF8
        start = 3 if bom else 0
        fh.seek(start)
        decoder = codecs.getincrementaldecoder("utf-8")()
        utf8 = True
        content = quotes = False
        marks = b""  # the quotation marks of the line read last, so far
        while chunk := fh.read(CHUNK):
            content = content or not chunk.isspace()
            if not quotes:
                lines, _, marks = (marks + chunk.translate(None, _NOT_QUOTES)).rpartition(b"\n")
                quotes = _ODD_LINE.search(lines) is not None
            if utf8:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    utf8 = False
        if utf8:
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                utf8 = False
        quotes = quotes or _ODD_LINE.search(marks) is not None
        if not content:
            raise ImportRefused("empty", file=name)
        if utf8:
            return FileScan("utf-8-sig" if bom else "utf-8", quotes)
        fh.seek(start)
        # a byte that is not UTF-8 becomes one lone surrogate, a UTF-8 sequence of n
        # bytes one character: the bytes minus the characters count what was UTF-8
        decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
        size = chars = 0
        undefined = -1  # where the first byte cp1252 has no character for is
        while chunk := fh.read(CHUNK):
            chars += len(decoder.decode(chunk))
            if undefined < 0 and any(byte in chunk for byte in _UNDEFINED_BYTES):
                found = _UNDEFINED_CP1252.search(chunk)
                undefined = -1 if found is None else size + found.start()
            size += len(chunk)
        chars += len(decoder.decode(b"", final=True))
    if bom or size > chars:  # UTF-8 by its BOM, or some UTF-8 in it: which lines are not?
        _refuse_lines_not_utf8(path, name, bom)
    if undefined >= 0:
        with path.open("rb") as fh:
            fh.seek(start)
            before = fh.read(undefined + 1)
        line = str(before.count(b"\n") + 1)
        raise ImportRefused("byte", file=name, line=line, byte=f"{before[-1]:02x}")
    return FileScan("cp1252", quotes)


def _refuse_lines_not_utf8(path: Path, name: str, bom: bool) -> None:
    """Raise :class:`ImportRefused` naming the lines that are not UTF-8, when the file is
    UTF-8 by its BOM or by lines with UTF-8 letters on them. A cp1252 file whose bytes
    happen to make a UTF-8 sequence here and there (``Ö`` before ``”``) has no such
    line: what those sequences are is no Finnish, Swedish or English letter."""
    bad: list[int] = []
    count = letters = 0
    with path.open("rb") as fh:
        fh.seek(3 if bom else 0)
        for number, raw in enumerate(fh, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                count += 1
                if len(bad) < _SHOWN_LINES:
                    bad.append(number)
                continue
            letters += not text.isascii() and _LETTERS.search(text) is not None
    if not bom and not letters:
        return
    if count == 1:
        raise ImportRefused("not_utf8_line", file=name, line=str(bad[0]))
    shown = ", ".join(map(str, bad)) + (", …" if count > len(bad) else "")
    raise ImportRefused("not_utf8_lines", file=name, count=str(count), lines=shown)


def _scan_utf16(read: Callable[[int], bytes], name: str) -> FileScan:
    decoder = codecs.getincrementaldecoder("utf-16")()
    content = quotes = False
    try:
        while chunk := read(CHUNK):
            text = decoder.decode(chunk)
            content = content or (text != "" and not text.isspace())
            quotes = quotes or '"' in text  # rare files: any quotation mark has them checked
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise ImportRefused("utf16", file=name) from None
    if not content:
        raise ImportRefused("empty", file=name)
    return FileScan("utf-16", quotes)


def check_quotes(
    path: Path, encoding: str, delimiter: str, columns: Columns, width: int, name: str = ""
) -> None:
    """Raise :class:`ImportRefused` when a quoted field runs over lines and takes in what
    look like rows of their own (a quotation mark left open), before anything is written.

    A field over lines is no error in itself: Excel writes a line break typed in a
    cell (Alt+Enter) so. It is one when a line inside it reads as a row with an
    address in the e-mail column (:func:`swallowed`). A record that runs past the
    CSV field limit is refused here too. Run only when :func:`scan_file` found a
    line with an odd number of quotation marks: this reads every row once more.
    Messages name the file ``name`` (default: the path's).
    """
    name = name or path.name
    with path.open(encoding=encoding, newline="", buffering=CHUNK) as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        start = 1
        try:
            for row in reader:
                end = reader.line_num
                if end != start:
                    found = swallowed(row, columns.email, width, delimiter)
                    if found is not None:
                        first, inside = start + found[0], start + found[1]
                        raise ImportRefused(
                            "quote", file=name, line=str(first), row=str(inside), end=str(end)
                        )
                start = end + 1
        except csv.Error as exc:
            if "field larger than field limit" in str(exc):
                limit = str(csv.field_size_limit())
                raise ImportRefused("field_limit", file=name, line=str(start), limit=limit) from exc
            raise ImportRefused("csv", file=name, line=str(start), error=str(exc)) from exc


def swallowed(row: list[str], email: int, width: int, delimiter: str) -> tuple[int, int] | None:
    """Where a field of ``row`` that runs over lines holds a line that reads as a row of
    its own, one with an address in the e-mail column (and, but in a file of one
    column, more than one cell): the line the field starts on and that line, counted
    from the row's first line (0); None when no field does."""
    before = 0  # line breaks in the fields before
    for cell in row:
        if "\n" not in cell:
            continue
        lines = cell.split("\n")
        for offset, text in enumerate(lines[1:], start=1):
            cells = next(csv.reader([text.rstrip("\r")], delimiter=delimiter), [])
            if len(cells) > max(email, 0 if width == 1 else 1) and _is_address(cells[email]):
                return before, before + offset
        before += len(lines) - 1
    return None


def _is_address(text: str) -> bool:
    if "@" not in text:
        return False
    try:
        normalise_email(text)
    except SubscriptionError:
        return False
    return True


def sniff_delimiter(first_line: str) -> str:
    """``;``, a tab or ``,``: the one the header line holds most of (``,`` on a tie)."""
    best = ","
    for delimiter in (";", "\t"):
        if first_line.count(delimiter) > first_line.count(best):
            best = delimiter
    return best


def parse_mapping(pairs: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``["Sposti=email"]`` → ``{"Sposti": "email"}`` (the column as written → field)."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        column, eq, name = pair.partition("=")
        if not eq or not column.strip() or name.strip() not in FIELDS:
            raise ImportRefused("map_form", pair=repr(pair), fields=", ".join(FIELDS))
        mapping[column.strip()] = name.strip()
    return mapping


@dataclass
class Columns:
    """Which column holds which field; ``extra`` are further columns of a field already
    held by another, read where that one is empty; ``notes`` say so on line 1."""

    fields: dict[int, str]
    extra: dict[str, list[int]] = field(default_factory=dict)
    notes: list[Note] = field(default_factory=list)

    @property
    def email(self) -> int:
        return next(i for i, name in self.fields.items() if name == "email")


def resolve_columns(header: list[str], mapping: dict[str, str], file: str = "") -> Columns:
    """The columns of ``header``: those ``mapping`` names first, then those with a known
    header. Raises :class:`ImportRefused` when a mapped column is not in the file or no
    column holds the e-mail address."""
    keys = [header_key(name) for name in header]
    wanted: dict[str, str] = {}
    for column, target in mapping.items():
        key = header_key(column)
        if key not in keys:
            pair = f"{column}={target}"
            raise ImportRefused("map_column", pair=pair, column=column, columns=_listed(header))
        wanted[key] = target
    fields: dict[int, str] = {}
    for index in (wanted, ALIAS_INDEX):  # a column named by --map before a known header
        for i, key in enumerate(keys):
            found = index.get(key)
            if i not in fields and found is not None and found not in fields.values():
                fields[i] = found
    if "email" not in fields.values():
        raise ImportRefused("no_email", file=file, columns=_listed(header))
    columns = Columns(dict(sorted(fields.items())))
    first = {name: i for i, name in columns.fields.items()}
    for i, key in enumerate(keys):
        found = wanted.get(key) or ALIAS_INDEX.get(key)
        if i in fields or found is None:
            continue
        columns.extra.setdefault(found, []).append(i)
        columns.notes.append(
            Note.warn(1, "duplicate_column", column=header[i].strip(), number=str(i + 1),
                      first=header[first[found]].strip(), first_number=str(first[found] + 1))
        )  # fmt: skip
    return columns


def _listed(header: list[str]) -> str:
    """``"Sähköposti", "Yritys"``: the header's columns as a message names them."""
    shown = ", ".join(f'"{name.strip()[:40]}"' for name in header[:_SHOWN_COLUMNS])
    more = ", …" if len(header) > _SHOWN_COLUMNS else ""
    return shown + more if header else '""'
