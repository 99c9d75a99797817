"""The database schema as SQLAlchemy 2 typed models.

Stages talk through these rows (ContentItem, Issue, Delivery), never through
in-memory hand-offs, so every stage can be re-run, resumed or run elsewhere.
Schema changes go through alembic migrations only.

Why one module of over 400 lines: it is the one ``Base.metadata`` that the
migrations are checked against (a test runs autogenerate and expects no
difference), and a table's relationships name each other; split by area, the
files would import each other in a circle. It holds declarations only, no logic.
"""

from __future__ import annotations

import enum
import unicodedata
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    DDL,
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    event,
    false,
    text,
    true,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes stored as UTC on every engine (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {  # noqa: RUF012 (SQLAlchemy reads it as a class attribute)
        datetime: UTCDateTime(),
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


def _enum(cls: type[enum.Enum]) -> Enum:
    return Enum(
        cls,
        name=cls.__name__.lower(),
        native_enum=False,
        length=20,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


class SubscriptionStatus(enum.StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"


class IssueStatus(enum.StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"
    #: Approved, but an item was cancelled at its source before the send; staff decide.
    HELD = "held"
    SENDING = "sending"
    PAUSED = "paused"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"
    DISCARDED = "discarded"  # a draft thrown away; its items went back to the pool


#: The statuses after which an issue's deliveries never change again.
ISSUE_FINISHED = (IssueStatus.SENT, IssueStatus.FAILED, IssueStatus.CANCELLED)


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"  # waiting to be claimed (or retried after next_attempt_at)
    SENDING = "sending"  # claimed by a worker, handed or about to be handed to the backend
    SENT = "sent"
    FAILED = "failed"  # permanent failure, or temporary past the retry lifetime
    SKIPPED = "skipped"  # unsubscribed / suppressed before it was handed over
    CANCELLED = "cancelled"


#: The condition of ``ix_deliveries_active`` (a partial index): a row still to be sent.
#: A query uses the index only when its text holds this condition as it is, with
#: the values written out (not as parameters).
ACTIVE_DELIVERY = f"status IN ('{DeliveryStatus.PENDING.value}', '{DeliveryStatus.SENDING.value}')"


class StoryStatus(enum.StrEnum):
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"


class SourceStatus(enum.StrEnum):
    NEW = "new"
    OK = "ok"
    NOT_MODIFIED = "not_modified"
    ERROR = "error"
    DISABLED = "disabled"


class City(Base):
    """A tenant; the row mirrors ``campaigns/cities.yaml``."""

    __tablename__ = "cities"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    names: Mapped[dict[str, Any]] = mapped_column(default=dict)
    languages: Mapped[list[Any]] = mapped_column(default=list)
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Helsinki")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


def search_fold(text: str | None) -> str:
    """``" Järvenpään  Yritys Oy"`` → ``"jarvenpaan yritys oy"``: case and accents
    folded (ä → a, å → a, ß → ss), spaces collapsed; what the console's search compares."""
    if not text:
        return ""
    folded = text.casefold()
    if not folded.isascii():  # ASCII has nothing to decompose (most names and addresses)
        folded = unicodedata.normalize("NFKD", folded).translate(_NO_MARKS)
    return " ".join(folded.split())


class _Marks(dict[int, int | None]):
    """``str.translate`` table that drops combining marks, filled per character as met."""

    def __missing__(self, code: int) -> int | None:
        kept = None if unicodedata.combining(chr(code)) else code
        self[code] = kept
        return kept


_NO_MARKS = _Marks()


def search_text_of(*fields: str | None) -> str | None:
    """The folded ``fields``, one a line (a search term, having no spaces, never spans two)."""
    return "\n".join(f for f in (search_fold(x) for x in fields) if f) or None


class Subscriber(Base):
    """A person at a company, known by email; subscribes to one or more cities."""

    __tablename__ = "subscribers"
    __table_args__ = (
        # The statistics' leads: the few subscribers who welcome a visit (the predicate
        # as each dialect writes the bare column, so that the query's matches it).
        Index(
            "ix_subscribers_visit",
            "id",
            sqlite_where=text("interested_in_visit = 1"),
            postgresql_where=text("interested_in_visit"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    company_name: Mapped[str | None] = mapped_column(String(200))
    business_id: Mapped[str | None] = mapped_column(String(9), index=True)
    contact_name: Mapped[str | None] = mapped_column(String(200))
    size_class: Mapped[str | None] = mapped_column(String(20))
    industry_code: Mapped[str | None] = mapped_column(String(10))
    language: Mapped[str] = mapped_column(String(5), default="fi")
    interested_in_visit: Mapped[bool] = mapped_column(Boolean, default=False)
    # When the company said it welcomes a visit / wants climate cooperation (leads).
    visit_interest_at: Mapped[datetime | None]
    wants_cooperation: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    cooperation_interest_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # The console's search: the address, company, business ID and name as
    # search_text_of() gives them, kept by the flush hook below (and the import's
    # bulk writes); a search term matches anywhere in it.
    search_text: Mapped[str | None] = mapped_column(Text)

    subscriptions: Mapped[list[Subscription]] = relationship(
        back_populates="subscriber", cascade="all, delete-orphan"
    )


@event.listens_for(Subscriber, "before_insert")
@event.listens_for(Subscriber, "before_update")
def _keep_search_text(_mapper: Any, _connection: Any, target: Subscriber) -> None:
    target.search_text = search_text_of(
        target.email, target.company_name, target.business_id, target.contact_name
    )


class Subscription(Base):
    """One subscriber's membership of one city's mailings."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        UniqueConstraint("subscriber_id", "city_id"),
        # The console's list: a city's subscriptions, newest first, a page at a time.
        Index("ix_subscriptions_city_id_id", "city_id", "id"),
        # Its counts per status, from the index alone.
        Index("ix_subscriptions_city_id_status", "city_id", "status"),
        # The statistics: the subscriptions that joined in a month, from the index alone.
        Index("ix_subscriptions_joined", "city_id", "confirmed_at", "status"),
        # The statistics' leads contacted in a period (few rows have the time).
        Index(
            "ix_subscriptions_lead_contacted",
            "city_id",
            "lead_contacted_at",
            sqlite_where=text("lead_contacted_at IS NOT NULL"),
            postgresql_where=text("lead_contacted_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id", ondelete="CASCADE"), index=True)
    topics: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[SubscriptionStatus] = mapped_column(
        _enum(SubscriptionStatus), default=SubscriptionStatus.PENDING, index=True
    )
    channel: Mapped[str] = mapped_column(String(20), default="web")
    # Random per subscription: every token names it, so re-creating a subscription
    # (or rotating the salt) makes all older tokens invalid.
    token_salt: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[datetime | None]
    unsubscribed_at: Mapped[datetime | None]
    confirmation_sent_at: Mapped[datetime | None]
    # A lead (visit or cooperation) the city has contacted, and who marked it.
    lead_contacted_at: Mapped[datetime | None]
    lead_contacted_by: Mapped[str | None] = mapped_column(String(100))

    subscriber: Mapped[Subscriber] = relationship(back_populates="subscriptions")
    city: Mapped[City] = relationship()


class ConsentRecord(Base):
    """Append-only log of consent given, confirmed and withdrawn."""

    __tablename__ = "consent_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(String(20))  # given | confirmed | withdrawn
    channel: Mapped[str] = mapped_column(String(20))  # web | import | api | cli | email
    consent_version: Mapped[str | None] = mapped_column(String(40))
    consent_text: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[str | None] = mapped_column(Text)  # form URL, import file + note, API key
    #: ``confirmed`` by link: SHA-256 of the confirmation token used (never the token).
    token_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Campaign(Base):
    """A campaign as last loaded from ``campaigns/<slug>.yaml``, plus its run state."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    config_hash: Mapped[str | None] = mapped_column(String(64))
    last_run_at: Mapped[datetime | None]
    last_run_status: Mapped[str | None] = mapped_column(String(20))
    last_run_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: ``file``: loaded from ``campaigns/<slug>.yaml``; ``console``: the campaign
    #: document below, written in the staff console (or ``outreach campaigns import``).
    origin: Mapped[str] = mapped_column(String(10), default="file", server_default="file")
    #: A console campaign's document: the mapping a campaign file holds, same schema.
    document: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: A console announcement's Markdown per language (the document names the files).
    bodies: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: ``active``, ``paused`` (not scheduled) or ``archived`` (console campaigns).
    state: Mapped[str] = mapped_column(String(10), default="active", server_default="active")
    #: Bumped on every console change; running daemons poll it (no SIGHUP needed).
    revision: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    updated_at: Mapped[datetime | None]
    updated_by: Mapped[str | None] = mapped_column(String(100))

    city: Mapped[City] = relationship()


class Issue(Base):
    """One edition of a campaign; its content is snapshotted when built."""

    __tablename__ = "issues"
    __table_args__ = (UniqueConstraint("campaign_id", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    period: Mapped[str] = mapped_column(String(20))
    status: Mapped[IssueStatus] = mapped_column(
        _enum(IssueStatus), default=IssueStatus.DRAFT, index=True
    )
    snapshot: Mapped[dict[str, Any]] = mapped_column(default=dict)
    built_at: Mapped[datetime] = mapped_column(default=utcnow)
    approved_at: Mapped[datetime | None]
    approved_by: Mapped[str | None] = mapped_column(String(100))
    send_started_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    status_message: Mapped[str | None] = mapped_column(Text)
    #: An approved issue goes out at this moment (the periodic send waits until then).
    scheduled_at: Mapped[datetime | None]
    scheduled_by: Mapped[str | None] = mapped_column(String(100))
    #: Approved, but kept from the periodic send: its schedule was cancelled.
    kept_back: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: False while a send is still filling the outbox in slices (PostgreSQL): the
    #: issue is not ``sent`` until every slice is in (outreach.delivery.outbox.enqueue).
    outbox_complete: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())

    campaign: Mapped[Campaign] = relationship()


class IssueEvent(Base):
    """Append-only history of an issue: built, approved, discarded, send started…"""

    __tablename__ = "issue_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(20))  # built | rebuilt | approved | discarded | send
    actor: Mapped[str] = mapped_column(String(100))  # a person, "scheduler" or "auto"
    #: ``manual`` for a send started with ``outreach issue send``, ``scheduled`` for one the
    #: scheduler started; free text (a reason) for other actions.
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SourceState(Base):
    """Fetch state of one source, keyed by a stable hash of its definition."""

    __tablename__ = "source_states"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    type: Mapped[str] = mapped_column(String(30))
    url: Mapped[str | None] = mapped_column(Text)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[SourceStatus] = mapped_column(_enum(SourceStatus), default=SourceStatus.NEW)
    error: Mapped[str | None] = mapped_column(Text)
    warning: Mapped[str | None] = mapped_column(Text)
    items_seen: Mapped[int] = mapped_column(Integer, default=0)
    last_fetched_at: Mapped[datetime | None]
    last_ok_at: Mapped[datetime | None]
    #: The last fetch's HTTP status as far as it is known (200, 304, 410, 404 …).
    last_http_status: Mapped[int | None] = mapped_column(Integer)
    #: Items new to the database in the last fetch.
    last_new: Mapped[int | None] = mapped_column(Integer)
    #: Failed fetches in a row; the source is disabled at ``sources.MAX_FAILURES``.
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: The last document processed, for sources that re-read it after a 304 with
    #: a moved clock (a calendar's occurrence window moves forward every day).
    cached_body: Mapped[bytes | None] = mapped_column(LargeBinary)


class ContentItem(Base):
    """One news item, event, story or link, as last seen at its source."""

    __tablename__ = "content_items"
    __table_args__ = (
        UniqueConstraint("source_id", "external_id"),
        Index("ix_content_items_fingerprint", "fingerprint"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(
        ForeignKey("source_states.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20))  # news | event | story | link
    external_id: Mapped[str] = mapped_column(String(500))
    url: Mapped[str | None] = mapped_column(Text, index=False)
    title: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text, default="")  # plain text
    summary_html: Mapped[str] = mapped_column(Text, default="")  # sanitised HTML
    language: Mapped[str | None] = mapped_column(String(5))
    # Per-language variants {"sv": {"title": ..., "summary": ...}} (Linked Events)
    translations: Mapped[dict[str, Any]] = mapped_column(default=dict)
    categories: Mapped[list[Any]] = mapped_column(default=list)
    published_at: Mapped[datetime | None]
    starts_at: Mapped[datetime | None]
    ends_at: Mapped[datetime | None]
    all_day: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The end is a day without a time (the event ends that day): ``ends_at`` is
    #: the start of the following day in the city's timezone, as for all-day events.
    ends_date_only: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    location: Mapped[str | None] = mapped_column(Text)
    online_url: Mapped[str | None] = mapped_column(Text)
    is_online: Mapped[bool] = mapped_column(Boolean, default=False)
    price: Mapped[str | None] = mapped_column(Text)  # None unknown, "" free, else text
    event_status: Mapped[str | None] = mapped_column(String(20))  # cancelled | postponed
    image_url: Mapped[str | None] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(64))
    #: The recurring series the source says this event is an occurrence of (a
    #: calendar's UID, a Linked Events "recurring" super event); None otherwise.
    series: Mapped[str | None] = mapped_column(String(500))
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    #: The last fetch whose answer held this item.
    last_seen_at: Mapped[datetime | None]
    #: Set when the item left its source's current view (removed, cancelled, or
    #: past the window); cleared when it comes back. Retired items are never chosen.
    retired_at: Mapped[datetime | None] = mapped_column(index=True)

    source: Mapped[SourceState] = relationship()


class IssueItem(Base):
    """An item an issue holds: the claim within its campaign, and what went out.

    ``lead`` rows are the entries of the issue; the later dates of a recurring
    event shown beside its first one ("also on") are rows with ``lead`` False,
    which never use the occurrence up.
    """

    __tablename__ = "issue_items"
    __table_args__ = (UniqueConstraint("issue_id", "item_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(
        ForeignKey("content_items.id", ondelete="CASCADE"), index=True
    )
    section: Mapped[str] = mapped_column(String(64), default="")
    lead: Mapped[bool] = mapped_column(Boolean, default=True)


class Story(Base):
    """A company's climate success story, submitted and approved by staff."""

    __tablename__ = "stories"

    id: Mapped[int] = mapped_column(primary_key=True)
    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id"), index=True)
    company_name: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)  # Markdown
    language: Mapped[str] = mapped_column(String(5), default="fi")
    link: Mapped[str | None] = mapped_column(Text)
    image_url: Mapped[str | None] = mapped_column(Text)
    contact_email: Mapped[str | None] = mapped_column(String(254))
    consent_to_publish: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[StoryStatus] = mapped_column(
        _enum(StoryStatus), default=StoryStatus.SUBMITTED, index=True
    )
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: When and by whom the story was moderated (approved or rejected).
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(100))
    #: Shown first among the city's stories.
    featured: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: Why it was rejected, as mailed to the submitter.
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    #: When the city's editors were told of it (the hourly digest); None: not yet.
    editors_told_at: Mapped[datetime | None]
    #: The latest issue that sent it, kept when staff feature it again (which gives its
    #: items back to the pool): a story that went out is never rejected. None: not
    #: recorded (what an issue's items say is asked then: ``sources.story_went_out``).
    issue_id: Mapped[int | None] = mapped_column(ForeignKey("issues.id", ondelete="SET NULL"))
    # What the public pages show besides the text (docs/public.md).
    business_id: Mapped[str | None] = mapped_column(String(9), index=True)
    industry: Mapped[str | None] = mapped_column(String(32))
    theme: Mapped[str | None] = mapped_column(String(32))
    figures: Mapped[str | None] = mapped_column(Text)  # the figures the company gave
    image_alt: Mapped[str | None] = mapped_column(String(300))
    commitment: Mapped[str | None] = mapped_column(Text)  # a public climate commitment
    #: A request to be listed in the company directory, with no story to tell.
    listing_only: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Staff translations: ``{lang: {"title", "body", "figures"?, "image_alt"?}}``.
    translations: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: The last change of the row (an edit, a translation, a decision): part of the
    #: version stamp that keys the public pages' caches and ETags. None: before 0021.
    updated_at: Mapped[datetime | None] = mapped_column(default=utcnow, onupdate=utcnow)

    city: Mapped[City] = relationship()


class StoryImage(Base):
    """A story's image as uploaded, re-encoded (no metadata): served at
    ``/<city>/stories/<id>/image``."""

    __tablename__ = "story_images"

    story_id: Mapped[int] = mapped_column(
        ForeignKey("stories.id", ondelete="CASCADE"), primary_key=True
    )
    content_type: Mapped[str] = mapped_column(String(20))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))


class StoryUpload(Base):
    """An image sent with the story form while another field was wrong, kept
    re-encoded for a short time so the corrected form needs no new upload
    (``outreach.publish.kept``). The form carries a random token; the row holds
    only keyed hashes of it and of the browser's form cookie. Deleted when the
    story is sent, replaced or removed, and by retention once expired."""

    __tablename__ = "story_uploads"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    holder_hash: Mapped[str] = mapped_column(String(64), index=True)
    file_name: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(20))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class Delivery(Base):
    """One recipient of one issue: the outbox row a worker claims and sends."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("issue_id", "subscriber_id"),
        #: The rows a claim looks at, in id order: only those still to be sent, so a
        #: claim reads about the rows it takes, not every row of the issue.
        Index(
            "ix_deliveries_active",
            "issue_id",
            "id",
            sqlite_where=text(ACTIVE_DELIVERY),
            postgresql_where=text(ACTIVE_DELIVERY),
        ),
        #: The statistics: who an issue reached, and when a language went out.
        Index("ix_deliveries_reached", "issue_id", "status", "subscriber_id"),
        Index("ix_deliveries_sent", "issue_id", "sent_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(254))
    language: Mapped[str] = mapped_column(String(5))
    status: Mapped[DeliveryStatus] = mapped_column(
        _enum(DeliveryStatus), default=DeliveryStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Suppression(Base):
    """Addresses that must never be mailed again, as a keyed hash (``validation.email_hash``).

    ``city_id`` NULL: no city mails the address (a hard bounce, an erasure);
    else only that city does not (a complaint about its mail). An address has
    at most one row everywhere and one per city.
    """

    __tablename__ = "suppressions"
    __table_args__ = (
        UniqueConstraint("email_hash", "city_id", name="uq_suppressions_email_hash_city_id"),
        Index(
            "uq_suppressions_email_hash_everywhere",
            "email_hash",
            unique=True,
            sqlite_where=text("city_id IS NULL"),
            postgresql_where=text("city_id IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email_hash: Mapped[str] = mapped_column(String(64))
    city_id: Mapped[int | None] = mapped_column(ForeignKey("cities.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(String(20))  # bounce | complaint | erased | manual
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BounceEvent(Base):
    """One bounce, complaint or delivery report about one delivery, counted once.

    ``report_hash`` names the report (the DSN's or provider event's identity)
    so that the same report processed twice is stored, and acted on, once.
    The address is kept only as the suppression list's keyed hash.
    """

    __tablename__ = "bounce_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: bounced | deferred | complained | unsubscribed | delivered
    kind: Mapped[str] = mapped_column(String(20))
    hard: Mapped[bool] = mapped_column(Boolean, default=False)
    email_hash: Mapped[str] = mapped_column(String(64), index=True)
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="SET NULL")
    )
    issue_id: Mapped[int | None] = mapped_column(
        ForeignKey("issues.id", ondelete="CASCADE"), index=True
    )
    city_id: Mapped[int | None] = mapped_column(
        ForeignKey("cities.id", ondelete="CASCADE"), index=True
    )
    source: Mapped[str] = mapped_column(String(20))  # smtp | imap | mailgun | ...
    status_code: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    """A key for the JSON API; only its SHA-256 hash is stored."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(12), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    #: City slugs the key may act for; empty: every city (and GDPR erasure).
    cities: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class MailboxLimit(Base):
    """Confirmation mails to one mailbox, across cities and address variants.

    Keyed by the keyed hash of the canonical mailbox
    (:func:`outreach.validation.canonical_mailbox`), so ``a+x@gmail.com`` and
    ``A.@googlemail.com`` share a row; updated by one atomic statement, so the
    cap holds across processes. Data-export links are counted in rows of their
    own, keyed by the hash of ``export:`` and the mailbox.
    """

    __tablename__ = "mailbox_limits"

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox_hash: Mapped[str] = mapped_column(String(64), unique=True)
    window_start: Mapped[datetime | None]
    window_count: Mapped[int] = mapped_column(Integer, default=0)
    last_sent_at: Mapped[datetime | None]


class UsedToken(Base):
    """Single-use tokens already spent (embedded sign-up forms), until they expire."""

    __tablename__ = "used_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class AuditEvent(Base):
    """Who did what, when, from where, to which issue or subscriber: append-only.

    Written by :mod:`outreach.staff.audit` (every staff action) and by
    ``subscribers export``; a row is never changed or deleted (a trigger refuses it
    on PostgreSQL and SQLite, and :mod:`outreach.staff.audit` refuses it in the ORM).
    """

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    action: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(100))
    city: Mapped[str | None] = mapped_column(String(64), index=True)
    purpose: Mapped[str | None] = mapped_column(String(40))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    #: The client address of a console action; None from the command line.
    ip: Mapped[str | None] = mapped_column(String(45))
    issue_id: Mapped[int | None] = mapped_column(Integer)
    subscriber_id: Mapped[int | None] = mapped_column(Integer)


class StaffUser(Base):
    """A member of a city's communications staff (or an admin) who uses the console.

    Signs in with a password (argon2id) and, where required, a TOTP code, or through
    an OpenID Connect provider (``oidc_provider`` and ``oidc_subject`` set, no password).
    """

    __tablename__ = "staff_users"
    __table_args__ = (UniqueConstraint("oidc_provider", "oidc_subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    #: Base32 TOTP secret; set but not confirmed while the person is enrolling.
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_confirmed_at: Mapped[datetime | None]
    #: The last time step whose code was accepted: a code works once.
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    #: A second factor even without the admin role.
    totp_required: Mapped[bool] = mapped_column(Boolean, default=False)
    oidc_provider: Mapped[str | None] = mapped_column(String(64))
    oidc_subject: Mapped[str | None] = mapped_column(String(255))
    disabled_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_sign_in_at: Mapped[datetime | None]

    grants: Mapped[list[StaffGrant]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )


class StaffGrant(Base):
    """One role of one person in one city; ``city`` ``*`` with the admin role: every city."""

    __tablename__ = "staff_grants"
    __table_args__ = (UniqueConstraint("user_id", "city"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"))
    city: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(20))  # editor | approver | admin
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[StaffUser] = relationship(back_populates="grants")


class StaffSession(Base):
    """A console session, server-side: the cookie holds a random id, the row its hash.

    ``stage`` is ``full`` once signed in; ``totp`` and ``enrol`` are the short-lived
    steps between the password and the second factor.
    """

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), index=True
    )
    stage: Mapped[str] = mapped_column(String(10))
    ip: Mapped[str | None] = mapped_column(String(45))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class StaffSignInFailure(Base):
    """Failed sign-ins per account and client address (a keyed hash of both)."""

    __tablename__ = "staff_sign_in_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime]
    blocked_until: Mapped[datetime | None]


class StaffTestAddress(Base):
    """An address of a city's test list: the console's "send a test" mails it too."""

    __tablename__ = "staff_test_addresses"
    __table_args__ = (UniqueConstraint("city", "address"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    city: Mapped[str] = mapped_column(String(64), index=True)
    address: Mapped[str] = mapped_column(String(254))
    added_by: Mapped[str] = mapped_column(String(100))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)


#: The database refuses to change or delete an audit event (the same statements are
#: in migration 0011; these cover a schema made with ``create_all``).
AUDIT_APPEND_ONLY_DDL = {
    "postgresql": [
        "CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN "
        "RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP; END $$",
        "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
        "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()",
        "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()",
    ],
    "sqlite": [
        "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
        "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: UPDATE refused'); END",
        "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
        "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: DELETE refused'); END",
    ],
}
for _dialect, _statements in AUDIT_APPEND_ONLY_DDL.items():
    for _statement in _statements:
        event.listen(
            AuditEvent.__table__,
            "after_create",
            DDL(_statement.replace("%", "%%")).execute_if(dialect=_dialect),  # type: ignore[no-untyped-call]
        )


@event.listens_for(Session, "before_flush")
def _audit_append_only(session: Session, _context: Any, _instances: Any) -> None:
    """The ORM refuses to change or delete an audit event, whatever the database."""
    for obj in session.deleted:
        if isinstance(obj, AuditEvent):
            raise PermissionError("audit_events is append-only: DELETE refused")
    for obj in session.dirty:
        if isinstance(obj, AuditEvent) and session.is_modified(obj):
            raise PermissionError("audit_events is append-only: UPDATE refused")


class IssueCheck(Base):
    """The last pre-flight check of an issue (``outreach.checks``): one row per issue.

    Kept beside the issue, never in its snapshot, so an approved issue's
    snapshot stays as it was approved. ``snapshot_digest`` says which content
    the report is about: a changed snapshot makes the report stale.
    """

    __tablename__ = "issue_checks"

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"), unique=True)
    checked_at: Mapped[datetime] = mapped_column(default=utcnow)
    snapshot_digest: Mapped[str] = mapped_column(String(64))
    errors: Mapped[int] = mapped_column(Integer, default=0)
    warnings: Mapped[int] = mapped_column(Integer, default=0)
    report: Mapped[dict[str, Any]] = mapped_column(default=dict)


class LinkCheck(Base):
    """What a link answered when last checked; shared by every process for an hour.

    No unique key on purpose: two processes checking the same URL at once both
    insert, and readers take the newest row.
    """

    __tablename__ = "link_checks"

    id: Mapped[int] = mapped_column(primary_key=True)
    url_hash: Mapped[str] = mapped_column(String(64), index=True)
    url: Mapped[str] = mapped_column(Text)
    checked_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    outcome: Mapped[dict[str, Any]] = mapped_column(default=dict)


class IssueLink(Base):
    """A link of one language version of an issue, as the counted ``/l/<id>`` names it.

    Made when the issue is built (:mod:`outreach.issues.links`); the redirect goes
    only to ``url``. Nothing here names a recipient: the id names the issue, the
    language, the item (None: a link of an announcement's body) and its number.
    """

    __tablename__ = "issue_links"
    __table_args__ = (UniqueConstraint("issue_id", "lang", "n"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"))
    lang: Mapped[str] = mapped_column(String(5))
    n: Mapped[int] = mapped_column(Integer)
    item_id: Mapped[int | None] = mapped_column(Integer)
    section: Mapped[str] = mapped_column(String(64), default="")
    #: The audience variant of the campaign (e.g. ``medium``), "" for everyone.
    variant: Mapped[str] = mapped_column(String(64), default="")
    title: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str] = mapped_column(Text)


class LinkClick(Base):
    """One request of a counted link; ``counted`` False when the filter took it for a bot.

    ``net`` is a keyed hash of the client's network (/24 or /48), never the
    address, kept only for the filter's few seconds and blanked after a day.
    """

    __tablename__ = "link_clicks"
    __table_args__ = (
        Index("ix_link_clicks_issue", "issue_id", "counted", "link_id"),
        Index("ix_link_clicks_net", "issue_id", "net", "created_at"),
        # The clicks whose network hash is still kept: the sweep that blanks them
        # after a day reads only these (outreach.stats.clicks).
        Index(
            "ix_link_clicks_net_kept",
            "created_at",
            sqlite_where=text("net IS NOT NULL"),
            postgresql_where=text("net IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    link_id: Mapped[int] = mapped_column(
        ForeignKey("issue_links.id", ondelete="CASCADE"), index=True
    )
    issue_id: Mapped[int] = mapped_column(Integer)
    counted: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Why it was not counted: head | prefetch | agent | burst | early | repeat | before_send
    reason: Mapped[str | None] = mapped_column(String(20))
    net: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class IssueReach(Base):
    """An issue whose deliveries handed over are folded into ``reach_marks``: the
    statistics read who it reached from there instead of from its delivery rows.

    Only a settled issue is folded (sent, failed or cancelled, no row pending or
    sending: its deliveries never change again); ``bit`` is its bit in the masks
    of group ``grp`` (the groups hold a city's issues of one year, at most 62
    each). The purge of an issue's deliveries deletes this row, so the figures
    go back to reading the rows (:mod:`outreach.stats.marks`).
    """

    __tablename__ = "issue_reach"
    __table_args__ = (UniqueConstraint("grp", "bit"),)

    issue_id: Mapped[int] = mapped_column(
        ForeignKey("issues.id", ondelete="CASCADE"), primary_key=True
    )
    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id", ondelete="CASCADE"))
    year: Mapped[int] = mapped_column(Integer)
    grp: Mapped[int] = mapped_column(Integer)
    bit: Mapped[int] = mapped_column(Integer)
    folded_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReachMark(Base):
    """Per group of issues (``IssueReach.grp``) and subscriber: the bits of the issues
    that were delivered to the subscriber. A tenth of the delivery rows of a year
    of monthly issues, read in the order of the key."""

    __tablename__ = "reach_marks"
    __table_args__ = {"sqlite_with_rowid": False}  # noqa: RUF012 (SQLAlchemy reads it)

    grp: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    mask: Mapped[int] = mapped_column(BigInteger)


class ReachStamp(Base):
    """One row (``id`` 1) whose ``n`` the database raises whenever a subscriber is
    deleted or their business ID, company name or size class changes, and whenever
    an issue is unfolded (an ``issue_reach`` row deleted): the triggers of
    :data:`REACH_STAMP_DDL`, whatever wrote the change. A :class:`ReachSummary`
    made at one ``n`` holds while ``n`` stays (``outreach.stats.summaries``)."""

    __tablename__ = "reach_stamp"

    id: Mapped[int] = mapped_column(primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger, default=0)


class ReachSummary(Base):
    """Who a set of folded issues reached, as the statistics count it (companies per
    period, by size class, deliveries per issue), kept under ``key`` (the issues,
    their places in the marks and their periods) and the :class:`ReachStamp` it was
    made at: the figures of settled issues are counted once, not on every page."""

    __tablename__ = "reach_summaries"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    stamp: Mapped[int] = mapped_column(BigInteger)
    figures: Mapped[dict[str, Any]] = mapped_column(JSON)
    made_at: Mapped[datetime] = mapped_column(default=utcnow)


#: The triggers that raise ``reach_stamp.n``, per table (the same statements are in
#: migration 0024; these cover a schema made with ``create_all``). A deleted
#: subscriber's marks go by their foreign key; a changed company moves them to
#: another company; an unfolded issue's bit is cleared (``outreach.retention``).
REACH_STAMP_TRIGGERS = (
    "subscribers_reach_deleted", "subscribers_reach_changed", "issue_reach_deleted",
)  # fmt: skip
_STAMP_FUNCTION = (
    "CREATE OR REPLACE FUNCTION reach_stamp_raise() RETURNS trigger "
    "LANGUAGE plpgsql AS $$ BEGIN "
    "IF TG_OP = 'UPDATE' THEN UPDATE reach_stamp SET n = n + 1; "
    "ELSIF EXISTS (SELECT FROM gone) THEN UPDATE reach_stamp SET n = n + 1; END IF; "
    "RETURN NULL; END $$"
)
REACH_STAMP_DDL: dict[str, dict[str, list[str]]] = {
    "subscribers": {
        "postgresql": [
            _STAMP_FUNCTION,
            "CREATE TRIGGER subscribers_reach_deleted AFTER DELETE ON subscribers "
            "REFERENCING OLD TABLE AS gone "
            "FOR EACH STATEMENT EXECUTE FUNCTION reach_stamp_raise()",
            "CREATE TRIGGER subscribers_reach_changed "
            "AFTER UPDATE OF business_id, company_name, size_class ON subscribers "
            "FOR EACH ROW WHEN (OLD.business_id IS DISTINCT FROM NEW.business_id "
            "OR OLD.company_name IS DISTINCT FROM NEW.company_name "
            "OR OLD.size_class IS DISTINCT FROM NEW.size_class) "
            "EXECUTE FUNCTION reach_stamp_raise()",
        ],
        "sqlite": [
            "CREATE TRIGGER subscribers_reach_deleted AFTER DELETE ON subscribers "
            "BEGIN UPDATE reach_stamp SET n = n + 1; END",
            "CREATE TRIGGER subscribers_reach_changed "
            "AFTER UPDATE OF business_id, company_name, size_class ON subscribers "
            "WHEN OLD.business_id IS NOT NEW.business_id "
            "OR OLD.company_name IS NOT NEW.company_name "
            "OR OLD.size_class IS NOT NEW.size_class "
            "BEGIN UPDATE reach_stamp SET n = n + 1; END",
        ],
    },
    "issue_reach": {
        "postgresql": [
            _STAMP_FUNCTION,
            "CREATE TRIGGER issue_reach_deleted AFTER DELETE ON issue_reach "
            "REFERENCING OLD TABLE AS gone "
            "FOR EACH STATEMENT EXECUTE FUNCTION reach_stamp_raise()",
        ],
        "sqlite": [
            "CREATE TRIGGER issue_reach_deleted AFTER DELETE ON issue_reach "
            "BEGIN UPDATE reach_stamp SET n = n + 1; END",
        ],
    },
}
#: The stamp's one row.
REACH_STAMP_ROW = "INSERT INTO reach_stamp (id, n) VALUES (1, 0)"
event.listen(ReachStamp.__table__, "after_create", DDL(REACH_STAMP_ROW))  # type: ignore[no-untyped-call]
for _table, _by_dialect in REACH_STAMP_DDL.items():
    for _dialect, _statements in _by_dialect.items():
        for _statement in _statements:
            # (a trigger's body may name a table made later: it is resolved when it runs)
            event.listen(
                Base.metadata.tables[_table],
                "after_create",
                DDL(_statement.replace("%", "%%")).execute_if(dialect=_dialect),  # type: ignore[no-untyped-call]
            )
