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
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from outreach.subscriptions.import_report import ImportRefused, Note
from outreach.subscriptions.import_values import ALIAS_INDEX, FIELDS, header_key

CHUNK = 1 << 20
_UNDEFINED_CP1252 = re.compile(rb"[\x81\x8d\x8f\x90\x9d]")  # bytes cp1252 has no character for
_SHOWN_COLUMNS = 12


@dataclass(frozen=True)
class FileScan:
    """What one read of the whole file found."""

    encoding: str


def scan_file(path: Path) -> FileScan:
    """The file's encoding: ``utf-16`` (BOM), ``utf-8-sig`` (BOM), ``utf-8`` when the
    whole file decodes, else ``cp1252``.

    Raises :class:`ImportRefused` for an empty file and for a byte that is
    neither UTF-8 nor cp1252 (naming its line).
    """
    name = path.name
    with path.open("rb") as fh:
        head = fh.read(3)
        if head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
            fh.seek(0)
            return _scan_utf16(fh.read, name)
        bom = head == codecs.BOM_UTF8
        fh.seek(3 if bom else 0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        utf8 = True
        content = False
        while chunk := fh.read(CHUNK):
            content = content or not chunk.isspace()
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
        if not content:
            raise ImportRefused("empty", file=name)
        if utf8:
            return FileScan("utf-8-sig" if bom else "utf-8")
        fh.seek(0)
        line = 1
        while chunk := fh.read(CHUNK):
            found = _UNDEFINED_CP1252.search(chunk)
            if found is not None:
                bad = found.start()
                line += chunk.count(b"\n", 0, bad)
                raise ImportRefused("byte", file=name, line=str(line), byte=f"{chunk[bad]:02x}")
            line += chunk.count(b"\n")
    return FileScan("cp1252")


def _scan_utf16(read: Callable[[int], bytes], name: str) -> FileScan:
    decoder = codecs.getincrementaldecoder("utf-16")()
    content = False
    try:
        while chunk := read(CHUNK):
            text = decoder.decode(chunk)
            content = content or (text != "" and not text.isspace())
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise ImportRefused("utf16", file=name) from None
    if not content:
        raise ImportRefused("empty", file=name)
    return FileScan("utf-16")


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
    return Columns(dict(sorted(fields.items())))


def _listed(header: list[str]) -> str:
    """``"Sähköposti", "Yritys"``: the header's columns as a message names them."""
    shown = ", ".join(f'"{name.strip()[:40]}"' for name in header[:_SHOWN_COLUMNS])
    more = ", …" if len(header) > _SHOWN_COLUMNS else ""
    return shown + more if header else '""'
