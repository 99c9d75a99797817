"""The contract every source type fulfils.

A source type is a :class:`Source` subclass with a ``type_name``, a pydantic
``options_model`` (the keys allowed next to ``type:`` in a campaign file) and a
``fetch`` that turns the outside world into :class:`RawItem` values. Storing
them as ContentItem rows, dedupe and source state are the ingest step's job.

A source's identity is :meth:`Source.state_key`: its type and options, plus the
city for a ``per_city`` type (one that reads per-city data, such as stories).
Campaign files build each source once, when they load (:class:`SourceUse` says
where a campaign uses it); the ingest step and the issue builder read those
through the small protocols at the end of this module, so this package never
imports the campaigns package.
"""

from __future__ import annotations

import hashlib
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Protocol
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict

from outreach.models import SourceStatus

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from outreach.settings import Settings
    from outreach.sources.fetch import Fetcher


class SourceOptions(BaseModel):
    """Options of a source type; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass
class RawItem:
    """One item as a source type produced it, before storage.

    ``external_id`` is the item's identity across fetches (a calendar's UID and
    RECURRENCE-ID, a Linked Events id, a feed's guid or link). ``title``,
    ``location``, ``price`` and the categories are plain text (the source decodes
    HTML titles itself); ``summary_html`` is HTML, sanitised by the ingest step,
    its relative links resolved against ``base_url``.
    """

    external_id: str
    title: str
    url: str | None = None
    summary_html: str = ""  # sanitised by the ingest step
    language: str | None = None
    #: Per language: ``title``, ``summary_html`` and, where the source has them in
    #: that language, ``location``, ``price`` and ``url``.
    translations: dict[str, dict[str, str]] = field(default_factory=dict)
    categories: list[str] = field(default_factory=list)
    published_at: datetime | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    all_day: bool = False
    location: str | None = None
    online_url: str | None = None
    is_online: bool = False
    price: str | None = None
    event_status: str | None = None
    image_url: str | None = None
    #: The end is a day, not a time: ``ends_at`` is the start of the day after it.
    ends_date_only: bool = False
    #: What relative links in ``summary_html`` are relative to (xml:base,
    #: Content-Location or the document's URL); the item's URL when None.
    base_url: str | None = None
    #: Overrides the source type's ``item_kind`` (e.g. a ``file`` listing's events).
    kind: str | None = None
    #: The recurring series this event is an occurrence of, as the source names it
    #: (a calendar's UID, a Linked Events super event's id); None for a one-off.
    series: str | None = None


@dataclass
class FetchContext:
    """What a source may use while fetching."""

    settings: Settings
    fetcher: Fetcher
    now: datetime
    timezone: str
    languages: list[str]
    city: str
    horizon_days: int = 60
    etag: str | None = None
    last_modified: str | None = None
    session: Session | None = None
    #: The campaigns folder; ``file`` sources read paths relative to it, never outside.
    root: Path | None = None
    #: The language of items that do not say theirs (the campaign's first language).
    language: str = "fi"
    #: The document kept from the last processed answer (``FetchResult.cache``).
    cached_body: bytes | None = None


@dataclass
class FetchResult:
    """What one fetch gave.

    ``current``: ``items`` are everything the source offers now (inside
    ``window`` for events), so stored items missing from them are retired; an
    event missing although it would start inside ``window`` was cancelled at
    the source. A 304 may come with ``current`` items too (a calendar expanded
    again from ``cache`` for a moved clock). ``cache`` is the document to keep
    for that.
    """

    status: SourceStatus
    items: list[RawItem] = field(default_factory=list)
    etag: str | None = None
    last_modified: str | None = None
    warning: str | None = None
    error: str | None = None
    current: bool = False
    window: tuple[datetime, datetime] | None = None
    cache: bytes | None = None


class Source(ABC):
    type_name: ClassVar[str]
    options_model: ClassVar[type[SourceOptions]] = SourceOptions
    #: The ContentItem.kind of what this type yields (news, event, story, link).
    item_kind: ClassVar[str] = "news"
    #: Whether the source is read over HTTP with the shared fetcher.
    remote: ClassVar[bool] = True
    #: Whether the same definition reads different data in each city (its state
    #: and items are then kept per city; :meth:`state_key` needs the city).
    per_city: ClassVar[bool] = False

    def __init__(self, options: SourceOptions) -> None:
        self.options = options

    @property
    def key(self) -> str:
        """Stable identity of this source definition (its type and options)."""
        blob = json.dumps(
            {"type": self.type_name, **self.options.model_dump(mode="json")}, sort_keys=True
        )
        return hashlib.sha256(blob.encode()).hexdigest()

    def state_key(self, city: str | None) -> str:
        """The key of this source's SourceState row; per city for a ``per_city`` type."""
        if not self.per_city:
            return self.key
        return hashlib.sha256(f"{self.key}:{city}".encode()).hexdigest()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Source) and (self.type_name, self.key) == (
            other.type_name,
            other.key,
        )

    def __hash__(self) -> int:
        return hash((self.type_name, self.key))

    def location(self) -> str | None:
        """Where the source reads from (its ``url`` or ``path`` option), kept on its state row."""
        where: Any = getattr(self.options, "url", None) or getattr(self.options, "path", None)
        return str(where) if where else None

    def describe(self) -> str:
        """The source in a report line: its type and where it reads from."""
        where = self.location()
        return f"{self.type_name} {where}" if where else self.type_name

    @abstractmethod
    def fetch(self, ctx: FetchContext) -> FetchResult:
        """Fetch and parse; errors come back as a result, never as an exception."""


_WEB_URL = re.compile(r"^https?://[^\s<>\"'\\`{}|^]+$", re.IGNORECASE)


def lang_code(value: object) -> str | None:
    """``fi-FI`` / ``sv_SE`` / ``EN`` → ``fi`` / ``sv`` / ``en``; None when empty."""
    if not isinstance(value, str):
        return None
    code = value.strip().replace("_", "-").split("-")[0].lower()
    return code if 2 <= len(code) <= 3 and code.isalpha() else None


def web_url(value: object) -> str | None:
    """``value`` if it is an absolute http(s) URL, else None."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not _WEB_URL.match(value):
        return None
    try:
        host = urlsplit(value).hostname
    except ValueError:
        return None
    return value if host else None


def content_hash(*parts: object) -> str:
    """A stable id from content when a source gives none."""
    blob = "\x1f".join("" if p is None else str(p) for p in parts)
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()


def _check_url(value: str) -> str:
    if web_url(value) is None:
        raise ValueError(f"expected an http(s) URL, got {value!r}")
    return value.strip()


#: An option holding an absolute http(s) URL.
HttpURL = Annotated[str, AfterValidator(_check_url)]


@dataclass(frozen=True)
class SourceUse:
    """One source as one section of one newsletter campaign uses it."""

    source: Source
    campaign: str
    section: str
    city: str
    timezone: str
    languages: tuple[str, ...]
    horizon_days: int


class SourcePlan(Protocol):
    """What the ingest step reads from the loaded campaigns."""

    @property
    def root(self) -> Path: ...

    def source_uses(self, slugs: list[str] | None = None) -> list[SourceUse]:
        """Every source of the chosen newsletter campaigns (all if None)."""
        ...


class ConfiguredSource(Protocol):
    """A source entry of a campaign file, its options validated when it loaded."""

    @property
    def source(self) -> Source: ...


class SourceSection(Protocol):
    """A section of a campaign file: an id and its sources."""

    @property
    def id(self) -> str: ...

    @property
    def sources(self) -> Sequence[ConfiguredSource]: ...
