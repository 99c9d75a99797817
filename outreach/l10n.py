"""Localisation: gettext catalogs per domain and Finnish / Swedish / English dates.

Catalogs are the ``.po`` files under ``outreach/locale/<lang>/LC_MESSAGES/``,
one per domain (``email``, ``web``, ``cli``, ``checks``, ``stats``, ``fetch``),
compiled in memory with Babel on first use. Dates follow each language's own
conventions as used in Finland: ``ti 9.12.2026 klo 9.00–11.00`` and
``tis 9.12.2026 kl. 9.00–11.00``; numbers with decimals take a comma in
Finnish and Swedish (``4,8 kt``, ``4,8 kB``: :func:`format_decimal`).
"""

from __future__ import annotations

import gettext
import io
import os
from collections.abc import Iterable
from datetime import date, datetime, time
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LANGUAGES: tuple[str, ...] = ("fi", "sv", "en")
DEFAULT_LANGUAGE = "fi"
#: Each language's name as a ``web`` msgid, to name it inside a sentence or a label
#: in the reader's language ("Finnish", "finska", "suomi").
LANGUAGE_MSGIDS: dict[str, str] = {"fi": "Finnish", "sv": "Swedish", "en": "English"}
#: A language version as the object of a sentence ("its readers get the Swedish
#: version": "ruotsinkielisen version", "den svenska versionen"), a msgid of the
#: ``cli`` and ``checks`` catalogs.
VERSION_MSGIDS: dict[str, str] = {
    "fi": "the Finnish version",
    "sv": "the Swedish version",
    "en": "the English version",
}
LOCALE_DIR = Path(__file__).parent / "locale"

WEEKDAYS = {
    "fi": ("ma", "ti", "ke", "to", "pe", "la", "su"),
    "sv": ("mån", "tis", "ons", "tors", "fre", "lör", "sön"),
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
}
MONTHS = {
    "fi": (
        "tammikuu", "helmikuu", "maaliskuu", "huhtikuu", "toukokuu", "kesäkuu",
        "heinäkuu", "elokuu", "syyskuu", "lokakuu", "marraskuu", "joulukuu",
    ),
    "sv": (
        "januari", "februari", "mars", "april", "maj", "juni",
        "juli", "augusti", "september", "oktober", "november", "december",
    ),
    "en": (
        "January", "February", "March", "April", "May", "June",
        "July", "August", "September", "October", "November", "December",
    ),
}  # fmt: skip
CLOCK_WORD = {"fi": "klo", "sv": "kl.", "en": "at"}


def check_language(lang: str) -> str:
    if lang not in LANGUAGES:
        raise ValueError(f"unsupported language {lang!r} (expected one of {LANGUAGES})")
    return lang


@cache
def translations(lang: str, domain: str) -> gettext.NullTranslations:
    """The catalog of ``domain`` in ``lang``; English and missing files fall back to msgids."""
    path = LOCALE_DIR / lang / "LC_MESSAGES" / f"{domain}.po"
    if not path.exists():
        return gettext.NullTranslations()
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=lang, domain=domain)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


def gettext_for(lang: str, domain: str, message: str) -> str:
    return translations(lang, domain).gettext(message)


def ngettext_for(lang: str, domain: str, singular: str, plural: str, n: int) -> str:
    """The form of a message that fits the count ``n`` (``1 kaupunki``, ``2 kaupunkia``).

    The catalog's entry has ``msgid_plural`` and a ``msgstr[i]`` for each form its
    ``Plural-Forms`` header declares; without one, the English ``singular`` or ``plural``.
    """
    return translations(lang, domain).ngettext(singular, plural, n)


#: A place that uses the product is a city or a municipality (``kind`` in
#: ``cities.yaml``); a page offering several speaks of their mix.
PLACE_KINDS: tuple[str, ...] = ("city", "municipality")
#: The message context of a text about several places of both kinds.
MIXED_PLACES = "mixed"


def places_kind(kinds: Iterable[str]) -> str:
    """The kind to word a list of places by: ``city`` when all are cities (or there
    are none), ``municipality`` when all are municipalities, else ``mixed``."""
    found = set(kinds)
    if found == {"municipality"}:
        return "municipality"
    return MIXED_PLACES if "municipality" in found else "city"


def place_gettext(lang: str, domain: str, kind: str, message: str) -> str:
    """``message`` worded for a place of ``kind`` (``city``, ``municipality``) or for
    several (``mixed``): the catalog's entry with ``kind`` as its message context
    (``msgctxt "municipality"``: "Kunnan työntekijät…"), else its plain entry, which
    is the city's wording ("Kaupungin työntekijät…")."""
    catalog = translations(lang, domain)
    if kind != "city" and f"{kind}\x04{message}" in getattr(catalog, "_catalog", {}):
        return catalog.pgettext(kind, message)
    return catalog.gettext(message)


def version_name(code: str, lang: str) -> str:
    """The version in language ``code`` as the object of a ``cli`` sentence in ``lang``
    ("ruotsinkielisen version"); an unknown code as it is."""
    msgid = VERSION_MSGIDS.get(code)
    return gettext_for(lang, "cli", msgid) if msgid else code


def staff_language(setting: str = "") -> str:
    """The language of command-line messages: the setting, else the locale's, else English."""
    chosen = setting
    if not chosen:
        env = os.environ.get("LC_ALL") or os.environ.get("LC_MESSAGES") or os.environ.get("LANG")
        chosen = (env or "en")[:2].lower()
    return chosen if chosen in LANGUAGES else "en"


def negotiate(accept_language: str | None, supported: tuple[str, ...] | list[str]) -> str:
    """Pick the best of ``supported`` for an Accept-Language header value."""
    choices: list[tuple[float, int, str]] = []
    for i, part in enumerate((accept_language or "").split(",")):
        bits = part.strip().split(";")
        tag = bits[0].strip().lower()
        q = 1.0
        for b in bits[1:]:
            name, _, value = b.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        primary = tag.split("-")[0]
        if primary in supported and q > 0:
            choices.append((-q, i, primary))
    if choices:
        return min(choices)[2]
    return supported[0] if supported else DEFAULT_LANGUAGE


def _time(t: time, lang: str) -> str:
    sep = ":" if lang == "en" else "."
    return f"{t.hour}{sep}{t.minute:02d}"


def format_date(d: date, lang: str, *, weekday: bool = True, year: bool = True) -> str:
    """``ti 9.12.2026`` / ``tis 9.12.2026`` / ``Tue 9.12.2026``."""
    text = f"{d.day}.{d.month}.{d.year}" if year else f"{d.day}.{d.month}."
    if weekday:
        text = f"{WEEKDAYS[lang][d.weekday()]} {text}"
    return text


def format_datetime(dt: datetime, lang: str, tz: str | ZoneInfo = "Europe/Helsinki") -> str:
    local = dt.astimezone(ZoneInfo(tz) if isinstance(tz, str) else tz)
    return f"{format_date(local.date(), lang)} {CLOCK_WORD[lang]} {_time(local.time(), lang)}"


def format_event_time(
    start: datetime,
    end: datetime | None,
    lang: str,
    tz: str | ZoneInfo = "Europe/Helsinki",
    *,
    all_day: bool = False,
    end_date_only: bool = False,
) -> str:
    """An event's time in the reader's conventions, in the city's timezone.

    ``ti 9.12.2026 klo 9.00–11.00``; spanning days ``ti 9.12.2026 klo 9.00 – ke
    10.12.2026 klo 16.00``; all day ``ti 9.12.2026`` or ``ti 9.12. – to 11.12.2026``.
    An end equal to the start is no end (``klo 9.00``, never ``9.00–9.00``); an
    end that is a day (``end_date_only``: the start of the day after the last)
    shows no time: ``ti 9.12.2026 klo 9.00 – to 11.12.2026``.
    """
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    if all_day:
        first = start.date() if start.tzinfo is None else start.astimezone(zone).date()
        last = None
        if end is not None:
            last = end.date() if end.tzinfo is None else end.astimezone(zone).date()
            # iCalendar DTEND of an all-day event is exclusive
            last = date.fromordinal(last.toordinal() - 1) if last > first else first
        if last is None or last == first:
            return format_date(first, lang)
        head = format_date(first, lang, year=first.year != last.year)
        return f"{head} – {format_date(last, lang)}"
    s = start.astimezone(zone)
    head = f"{format_date(s.date(), lang)} {CLOCK_WORD[lang]} {_time(s.time(), lang)}"
    if end is None or end <= start:
        return head
    e = end.astimezone(zone)
    if end_date_only:
        last = date.fromordinal(e.date().toordinal() - 1)
        return head if last <= s.date() else f"{head} – {format_date(last, lang)}"
    if e.date() == s.date():
        return f"{head}–{_time(e.time(), lang)}"
    return f"{head} – {format_date(e.date(), lang)} {CLOCK_WORD[lang]} {_time(e.time(), lang)}"


def period_label(period: str, lang: str) -> str:
    """``2026-12`` → ``joulukuu 2026`` / ``december 2026`` / ``December 2026``."""
    year, _, month = period.partition("-")
    if month.isdigit() and 1 <= int(month) <= 12:
        return f"{MONTHS[lang][int(month) - 1]} {year}"
    return period


def format_percent(value: float, lang: str) -> str:
    """A share as a percentage with two decimals: ``0,15 %`` (fi, sv), ``0.15 %`` (en)."""
    return f"{format_decimal(value * 100, lang, 2)} %"


def format_decimal(value: float, lang: str, digits: int | None = 1) -> str:
    """A number with ``digits`` decimals as the reader writes it: ``4,8`` (fi, sv),
    ``4.8`` (en); ``digits`` None: as few as it needs (``4,5``, ``3``)."""
    text = f"{value:.{digits}f}" if digits is not None else f"{value:g}"
    return text if lang == "en" else text.replace(".", ",")
