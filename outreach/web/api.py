"""The JSON API for a city's CRM: ``/api/v1``, authenticated by API key.

Send the key as ``Authorization: Bearer ok_...`` (or ``X-API-Key``). The
same validation and consent rules as the web form apply: a new subscription
is pending and gets a confirmation mail unless ``confirmed`` is true, which
needs a ``consent_note`` stating the legal basis. ``DELETE`` of a subscriber
is the GDPR erasure: the address is suppressed so it cannot be re-added.

Why just over 400 lines: the request and answer schemas of every endpoint sit
beside their route, so the OpenAPI document and the code read together.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.errors import SubscriptionError
from outreach.models import City, Subscriber, Subscription, SubscriptionStatus
from outreach.subscriptions import (
    DETAIL_FIELDS,
    SignUp,
    add_subscriber,
    forget,
    note_interest,
    offered_language,
    suppressed_in,
    verify_api_key,
    withdraw,
)
from outreach.validation import normalise_email
from outreach.web.common import WebState, client_ip, state

MAX_OFFSET = 1_000_000_000  # SQLite and PostgreSQL take 64-bit offsets; no list is this long
DETAILS = DETAIL_FIELDS


class FieldError(BaseModel):
    """One invalid field of a request that did not match the schema."""

    loc: list[str | int]
    msg: str
    type: str


class ErrorOut(BaseModel):
    """Every error answer: a sentence, or the invalid fields of a malformed request."""

    detail: str | list[FieldError]


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorOut, "description": description}


# Declared once for the whole router, so /openapi.json lists every answer the API gives.
ERRORS: dict[int | str, dict[str, Any]] = {
    400: _error("The body is not valid JSON"),
    401: _error("No valid API key"),
    404: _error("No such subscriber or subscription"),
    409: _error("The address is on the suppression list"),
    403: _error("The API key does not act for that city"),
    422: _error("Invalid input: a field that does not validate, or a malformed request"),
    413: _error("The request body is larger than the service takes"),
    429: _error("Too many requests from this address"),
}
router = APIRouter(prefix="/api/v1", tags=["subscribers"], responses=ERRORS)


class Principal(BaseModel):
    name: str
    prefix: str
    cities: list[str] = []  # empty: every city

    @property
    def detail(self) -> str:
        return f"API key {self.prefix} ({self.name})"

    @property
    def all_cities(self) -> bool:
        """The key acts for every city: it may read and change the person's shared details."""
        return not self.cities

    def may(self, city: str) -> bool:
        return not self.cities or city in self.cities

    def require(self, city: str) -> None:
        if not self.may(city):
            raise HTTPException(403, f"this API key does not act for {city!r}")

    def sees(self, subscriber: Subscriber) -> bool:
        """A city's key sees only the subscribers of its own cities."""
        return not self.cities or any(self.may(s.city.slug) for s in subscriber.subscriptions)


def api_key(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> Principal:
    st = state(request)
    if not st.limiter.allow("api", client_ip(request)):
        raise HTTPException(429, "too many requests; slow down")
    key = x_api_key
    if authorization and authorization.lower().startswith("bearer "):
        key = authorization[7:].strip()
    if key:
        with st.session() as session:
            row = verify_api_key(session, key)
            if row is not None:
                return Principal(name=row.name, prefix=row.prefix, cities=list(row.cities or []))
    raise HTTPException(401, "a valid API key is required", {"WWW-Authenticate": "Bearer"})


Auth = Annotated[Principal, Depends(api_key)]
# ``format``/``examples`` tell clients (and schemathesis) what a valid value looks like.
EMAIL_SCHEMA: dict[str, Any] = {"format": "email", "examples": ["info@yritys.fi"]}
Email = Annotated[str, Path(max_length=320, json_schema_extra=EMAIL_SCHEMA)]
CitySlug = Annotated[str, Path(max_length=64, examples=["vantaa"])]


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    city: str = Field(max_length=64, examples=["vantaa"])
    topics: list[str] = Field(default_factory=list, max_length=20, examples=[["climate"]])
    confirmed: bool = False
    consent_note: str | None = Field(default=None, max_length=1000)


class SubscriberFields(BaseModel):
    model_config = ConfigDict(extra="forbid")
    company_name: str | None = Field(default=None, max_length=200)
    business_id: str | None = Field(default=None, max_length=20)
    contact_name: str | None = Field(default=None, max_length=200)
    size_class: str | None = Field(default=None, max_length=20)
    industry_code: str | None = Field(default=None, max_length=10)
    language: str | None = Field(default=None, max_length=5)
    interested_in_visit: bool | None = None


class SubscriberIn(SubscriberFields):
    email: str = Field(max_length=320, json_schema_extra=EMAIL_SCHEMA)
    subscriptions: list[SubscriptionIn] = Field(default_factory=list, max_length=10)


class SubscriptionOut(BaseModel):
    city: str
    status: str
    topics: list[str]
    channel: str
    created_at: str
    confirmed_at: str | None
    unsubscribed_at: str | None


class SubscriberOut(BaseModel):
    """A subscriber as a key may see them.

    The person's details (``id`` to ``interested_in_visit``) are shared by every
    city, so only a key for every city sees them; a city's key gets ``null``
    there, whoever else holds the person, and only its own cities' subscriptions.
    """

    id: int | None
    email: str
    company_name: str | None
    business_id: str | None
    contact_name: str | None
    size_class: str | None
    industry_code: str | None
    language: str | None
    interested_in_visit: bool | None
    subscriptions: list[SubscriptionOut]


def _out(subscriber: Subscriber, who: Principal) -> SubscriberOut:
    def iso(v: Any) -> str | None:
        return v.isoformat() if v is not None else None

    shared: dict[str, Any] = dict.fromkeys(("id", *DETAILS, "interested_in_visit"))
    if who.all_cities:
        shared = {name: getattr(subscriber, name) for name in shared}
    return SubscriberOut(
        email=subscriber.email,
        **shared,
        subscriptions=[
            SubscriptionOut(
                city=s.city.slug,
                status=s.status.value,
                topics=list(s.topics),
                channel=s.channel,
                created_at=s.created_at.isoformat(),
                confirmed_at=iso(s.confirmed_at),
                unsubscribed_at=iso(s.unsubscribed_at),
            )
            for s in subscriber.subscriptions
            if who.may(s.city.slug)
        ],
    )


def _invalid(exc: SubscriptionError) -> HTTPException:
    return HTTPException(422, str(exc))


def _find(session: Session, email: str, who: Principal) -> Subscriber:
    try:
        address = normalise_email(email)
    except SubscriptionError as exc:
        raise _invalid(exc) from exc
    subscriber = session.scalar(select(Subscriber).where(Subscriber.email == address))
    if subscriber is None or not who.sees(subscriber):  # another city's: the same answer
        raise HTTPException(404, "no such subscriber")
    return subscriber


def _check_city(st: WebState, who: Principal, city: str) -> None:
    if city not in st.config.cities:
        raise HTTPException(422, f"unknown city {city!r}")
    who.require(city)


def _add(
    st: WebState, session: Session, who: Principal, email: str, fields: SubscriberFields,
    item: SubscriptionIn,
) -> None:  # fmt: skip
    _check_city(st, who, item.city)
    try:
        signup = SignUp.clean(
            st.config, item.city, email=email, topics=item.topics, language=fields.language,
            company_name=fields.company_name, business_id=fields.business_id,
            contact_name=fields.contact_name, size_class=fields.size_class,
            industry_code=fields.industry_code,
        )  # fmt: skip
        add_subscriber(
            session, st.settings, st.config, item.city, signup, st.mailer,
            confirmed=item.confirmed, consent_note=item.consent_note,
            channel="api", detail=who.detail,
        )  # fmt: skip
    except SubscriptionError as exc:
        raise _invalid(exc) from exc


@router.post("/subscribers", status_code=201, response_model=SubscriberOut)
def create_subscriber(request: Request, who: Auth, body: SubscriberIn) -> SubscriberOut:
    """Create (or add to) a subscriber; suppressed addresses answer 409."""
    st = state(request)
    for item in body.subscriptions:
        _check_city(st, who, item.city)
    with st.session() as session:
        try:
            email = normalise_email(body.email)
        except SubscriptionError as exc:
            raise _invalid(exc) from exc
        if any(
            suppressed_in(session, st.settings, st.config, item.city, email)
            for item in body.subscriptions
        ):
            raise HTTPException(409, "the address is on the suppression list")
        if not body.subscriptions:
            raise HTTPException(422, "give at least one subscription (city and topics)")
        if body.language is not None:
            for item in body.subscriptions:
                try:  # a newsletter language the city does not send in
                    offered_language(st.config, item.city, body.language)
                except SubscriptionError as exc:
                    raise _invalid(exc) from exc
        known = session.scalar(select(Subscriber).where(Subscriber.email == email))
        fields: SubscriberFields = body
        if known is not None and not who.all_cities:
            # A person another city may hold: a city's key changes nothing of theirs
            # and learns nothing of it; its details are the person's, not the city's.
            fields = SubscriberFields(language=known.language)
        for item in body.subscriptions:
            _add(st, session, who, email, fields, item)
        subscriber = _find(session, email, who)
        if body.interested_in_visit is not None and (known is None or who.all_cities):
            note_interest(subscriber, visit=body.interested_in_visit, now=datetime.now(UTC))
        session.flush()
        return _out(subscriber, who)


@router.get("/subscribers", response_model=list[SubscriberOut])
def list_subscribers(
    request: Request,
    who: Auth,
    city: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[SubscriptionStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> list[SubscriberOut]:
    st = state(request)
    with st.session() as session:
        stmt = select(Subscriber).order_by(Subscriber.id).limit(limit).offset(offset)
        if city is not None:
            who.require(city)
        if who.cities:
            own = select(Subscription.subscriber_id).join(City, Subscription.city_id == City.id)
            stmt = stmt.where(Subscriber.id.in_(own.where(City.slug.in_(who.cities))))
        if city is not None or status is not None:
            sub_q = select(Subscription.subscriber_id).join(City, Subscription.city_id == City.id)
            if who.cities:  # a status in another city is that city's business
                sub_q = sub_q.where(City.slug.in_(who.cities))
            if city is not None:
                sub_q = sub_q.where(City.slug == city)
            if status is not None:
                sub_q = sub_q.where(Subscription.status == status)
            stmt = stmt.where(Subscriber.id.in_(sub_q))
        return [_out(s, who) for s in session.scalars(stmt)]


@router.get("/subscribers/{email}", response_model=SubscriberOut)
def read_subscriber(request: Request, who: Auth, email: Email) -> SubscriberOut:
    with state(request).session() as session:
        return _out(_find(session, email, who), who)


@router.patch("/subscribers/{email}", response_model=SubscriberOut)
def update_subscriber(
    request: Request, who: Auth, email: Email, body: SubscriberFields
) -> SubscriberOut:
    """Change the person's details; they are shared by every city, so this needs a key
    for every city (or the person's own preferences link)."""
    if not who.all_cities:
        raise HTTPException(
            403, "a subscriber's details are shared by every city; changing them needs a key "
            "for every city, or the person's own preferences link",
        )  # fmt: skip
    st = state(request)
    with st.session() as session:
        subscriber = _find(session, email, who)
        merged = {name: getattr(subscriber, name) for name in DETAILS}
        merged.update({k: getattr(body, k) for k in body.model_fields_set if k in DETAILS})
        try:  # the same rules as a sign-up, applied to the merged details
            clean = SignUp.clean(
                st.config, next(iter(st.config.cities)), email=subscriber.email, **merged
            )
        except SubscriptionError as exc:
            raise _invalid(exc) from exc
        for name in DETAILS:
            setattr(subscriber, name, getattr(clean, name))
        if body.interested_in_visit is not None:
            note_interest(subscriber, visit=body.interested_in_visit, now=datetime.now(UTC))
        session.flush()
        return _out(subscriber, who)


@router.delete("/subscribers/{email}", status_code=204)
def delete_subscriber(request: Request, who: Auth, email: Email) -> Response:
    """GDPR erasure: every row about the address goes; a suppression hash stays."""
    if who.cities:
        raise HTTPException(
            403, "erasing an address in every city needs a key for every city; "
            "end this city's subscription instead",
        )  # fmt: skip
    with state(request).session() as session:
        _find(session, email, who)
        forget(session, state(request).settings, email, detail=who.detail)
    return Response(status_code=204)


@router.post("/subscribers/{email}/subscriptions", status_code=201, response_model=SubscriberOut)
def add_subscription(
    request: Request, who: Auth, email: Email, body: SubscriptionIn
) -> SubscriberOut:
    st = state(request)
    _check_city(st, who, body.city)
    with st.session() as session:
        subscriber = _find(session, email, who)
        if suppressed_in(session, st.settings, st.config, body.city, subscriber.email):
            raise HTTPException(409, "the address is on the suppression list")
        fields = SubscriberFields(language=subscriber.language)
        _add(st, session, who, subscriber.email, fields, body)
        session.refresh(subscriber)
        return _out(subscriber, who)


def _subscription(subscriber: Subscriber, city: str) -> Subscription:
    for sub in subscriber.subscriptions:
        if sub.city.slug == city:
            return sub
    raise HTTPException(404, "no such subscription")


class TopicsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    topics: list[str] = Field(min_length=1, max_length=20)


@router.patch("/subscribers/{email}/subscriptions/{city}", response_model=SubscriberOut)
def update_subscription(
    request: Request, who: Auth, email: Email, city: CitySlug, body: TopicsIn
) -> SubscriberOut:
    st = state(request)
    with st.session() as session:
        who.require(city)
        subscriber = _find(session, email, who)
        sub = _subscription(subscriber, city)
        known = st.config.cities[city].topics if city in st.config.cities else []
        unknown = [t for t in body.topics if t not in known]
        if unknown:
            raise HTTPException(422, f"unknown topics {unknown[:5]} (known: {known})")
        sub.topics = sorted(set(body.topics))
        session.flush()
        return _out(subscriber, who)


@router.delete("/subscribers/{email}/subscriptions/{city}", response_model=SubscriberOut)
def delete_subscription(request: Request, who: Auth, email: Email, city: CitySlug) -> SubscriberOut:
    """Unsubscribe (consent withdrawn, channel ``api``); the history is kept."""
    with state(request).session() as session:
        who.require(city)
        subscriber = _find(session, email, who)
        withdraw(session, [_subscription(subscriber, city)], "api", detail=who.detail)
        return _out(subscriber, who)
