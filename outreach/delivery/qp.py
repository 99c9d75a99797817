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


def qp(text: str) -> bytes:
    """Quoted-printable with CRLF line ends and every line (soft break included) <= 76."""
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
    side of them, so every encoded line stays within 76 characters.
    """

    __slots__ = ("pieces",)

    def __init__(self, text: str, placeholder: re.Pattern[str]) -> None:
        parts = placeholder.split(normalise_lines(text))
        self.pieces: list[bytes | str] = [
            part if i % 2 else qp(part) for i, part in enumerate(parts)
        ]
        last = self.pieces[-1]
        assert isinstance(last, bytes) and last.endswith(b"\r\n")
        self.pieces[-1] = last[:-2]  # the skeleton supplies the final line end

    def fill(self, values: dict[str, str]) -> bytes:
        out: list[bytes] = []
        for piece in self.pieces:
            if isinstance(piece, bytes):
                out.append(piece)
            else:
                out += (SOFT_BREAK, qp(values[piece]), SOFT_BREAK)
        return b"".join(out)
