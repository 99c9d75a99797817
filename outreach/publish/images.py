"""Images uploaded with a story: checked, re-encoded with Pillow, metadata dropped.

Only JPEG and PNG are taken, recognised by their first bytes (never by the
name or the declared type). SVG (markup that can carry script) and
polyglots (a file that is also HTML, a script or an archive: markup inside,
or bytes after the image's end) are refused. What is kept is a fresh
encoding of the pixels, at most :data:`MAX_SIDE` pixels a side, so EXIF (GPS
positions, camera serials), comments and any trailing payload are gone.
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps

from outreach.errors import StoryError

MAX_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 40_000_000
MAX_SIDE = 1600
_MARKUP = re.compile(
    rb"<\s*(svg|script|html|body|iframe|object|!doctype|\?php|\?xml)|PK\x03\x04", re.IGNORECASE
)


@dataclass(frozen=True)
class CleanImage:
    content_type: str
    data: bytes
    width: int
    height: int


def _kind(data: bytes) -> str | None:
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    return None


def _trailing(data: bytes, kind: str) -> bool:
    """Whether bytes follow the image's end marker (a polyglot's usual hiding place)."""
    if kind == "PNG":
        end = data.rfind(b"IEND")
        return end < 0 or len(data.rstrip(b"\x00")) > end + 8
    return not data.rstrip(b"\x00").endswith(b"\xff\xd9")


def clean_image(data: bytes) -> CleanImage:
    """The upload re-encoded; StoryError (an English msgid for the form) when refused."""
    if len(data) > MAX_BYTES:
        raise StoryError("The image is too large: send one of at most 5 MB.")
    kind = _kind(data)
    if kind is None:
        raise StoryError("Send the image as a JPEG or PNG file.")
    if _MARKUP.search(data) or _trailing(data, kind):
        raise StoryError("The image file holds something else than an image: save it again.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[kind]) as img:
                if img.width * img.height > MAX_PIXELS:
                    raise StoryError("The image is too large: send one of at most 5 MB.")
                img.load()
                upright = ImageOps.exif_transpose(img)
    except StoryError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, Warning) as exc:
        raise StoryError("The image could not be read: send a JPEG or PNG file.") from exc
    upright.thumbnail((MAX_SIDE, MAX_SIDE))
    out = io.BytesIO()
    if kind == "JPEG":
        upright.convert("RGB").save(out, "JPEG", quality=85, optimize=True)
        content_type = "image/jpeg"
    else:
        mode = "RGBA" if upright.mode in ("RGBA", "LA", "P") else "RGB"
        upright.convert(mode).save(out, "PNG", optimize=True)
        content_type = "image/png"
    return CleanImage(content_type, out.getvalue(), upright.width, upright.height)


def thumbnail(image: CleanImage, side: int = 160) -> CleanImage:
    """A small copy of an already cleaned image (the form shows it as kept)."""
    with Image.open(io.BytesIO(image.data)) as img:
        img.load()
        small = img.copy()
    small.thumbnail((side, side))
    out = io.BytesIO()
    if image.content_type == "image/jpeg":
        small.convert("RGB").save(out, "JPEG", quality=80)
    else:
        small.save(out, "PNG", optimize=True)
    return CleanImage(image.content_type, out.getvalue(), small.width, small.height)
