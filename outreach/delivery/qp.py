"""Quoted-printable bodies for messages filled per recipient.

A body template is encoded once per issue language, piece by piece between
its placeholders; per recipient only the substituted values are encoded
(:class:`BodyTemplate`). Every encoded line stays within 76 characters and
uses CRLF line ends, so the pieces can be joined as bytes.
"""

from __future__ import annotations

import binascii
import re


def normalise_lines(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.rstrip("\n").replace("\n", "\r\n") + "\r\n"


SOFT_BREAK = b"=\r\n"  # a quoted-printable line break that decodes to nothing


def fold(line: bytes) -> bytes:
    """An encoded line cut by soft breaks into lines of at most 76, never inside an escape."""
    parts = []
    while len(line) > 76:
        cut = 75
        while line[cut - 2 : cut - 1] == b"=" or line[cut - 1 : cut] == b"=":
            cut -= 1
        parts.append(line[:cut] + b"=")
        line = line[cut:]
    parts.append(line)
    return b"\r\n".join(parts)


#: Characters quoted-printable leaves as they are anywhere: printable ASCII but "="
#: and the space (a link, a token).
_VERBATIM = re.compile(r"[!-<>-~]+")
_LINE = 75  # characters on a line before a soft break


def qp(text: str) -> bytes:
    """Quoted-printable with CRLF line ends and every line (soft break included) <= 76."""
    lone_dot = len(text) % _LINE == 1 and text.endswith(".")  # alone on the last line
    if not lone_dot and _VERBATIM.fullmatch(text):
        # Nothing to encode: only cut into lines of 75 with soft breaks, as b2a_qp
        # does (which encodes a "." alone on the last line).
        data = text.encode("ascii")
        if len(data) <= _LINE:
            return data
        if len(data) <= 2 * _LINE:
            return data[:_LINE] + SOFT_BREAK + data[_LINE:]
        return SOFT_BREAK.join([data[i : i + _LINE] for i in range(0, len(data), _LINE)])
    return encode(text)


def encode(text: str) -> bytes:
    """:func:`qp` without its shortcut for text that needs no encoding."""
    encoded = binascii.b2a_qp(text.encode("utf-8"))
    if "\n" not in text:  # b2a_qp picks its soft-break style from the first line end
        encoded = encoded.replace(b"=\n", SOFT_BREAK)
    if b"\r\n" in encoded and any(len(line) > 76 for line in encoded.split(b"\r\n")):
        # b2a_qp lets a line reach 77 when an escaped trailing space ends it
        encoded = b"\r\n".join(fold(line) for line in encoded.split(b"\r\n"))
    last = encoded.rfind(b"\n") + 1
    if len(encoded) - last > 75:  # leave room for the soft break that follows
        cut = last + 75
        while encoded[cut - 2 : cut - 1] == b"=" or encoded[cut - 1 : cut] == b"=":
            cut -= 1
        encoded = encoded[:cut] + SOFT_BREAK + encoded[cut:]
    return encoded


class BodyTemplate:
    """A body template, quoted-printable encoded once, piece by piece.

    The text is split at its placeholders (``placeholder``, one capturing
    group) and each literal piece is encoded
    once. Per recipient only the short substituted values are encoded, and
    a soft line break (``=`` CRLF, which decodes to nothing) goes on each
    side of them, so every encoded line stays within 76 characters. The soft
    breaks are joined to the literal pieces here, so a fill only puts the
    encoded values into their slots.
    """

    __slots__ = ("names", "pieces", "slots")

    def __init__(self, text: str, placeholder: re.Pattern[str]) -> None:
        parts = placeholder.split(normalise_lines(text))
        last = len(parts) - 1
        self.pieces: list[bytes] = []
        self.slots: list[tuple[int, str]] = []  # (index in pieces, placeholder)
        for i, part in enumerate(parts):
            if i % 2:
                self.slots.append((len(self.pieces), part))
                self.pieces.append(b"")
                continue
            encoded = qp(part)
            if i == last:
                assert encoded.endswith(b"\r\n")
                encoded = encoded[:-2]  # the skeleton supplies the final line end
            before = SOFT_BREAK if i else b""
            after = SOFT_BREAK if i < last else b""
            self.pieces.append(before + encoded + after)
        self.names = frozenset(name for _, name in self.slots)  # the placeholders it has

    def fill(self, values: dict[str, str]) -> bytes:
        """The body with ``values`` (placeholder → text) encoded into their slots."""
        return self.fill_encoded({name: qp(values[name]) for _, name in self.slots})

    def fill_encoded(self, encoded: dict[str, bytes]) -> bytes:
        """The body with each placeholder's value, already encoded with :func:`qp`."""
        out = self.pieces.copy()
        for index, name in self.slots:
            out[index] = encoded[name]
        return b"".join(out)
