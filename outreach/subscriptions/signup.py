"""Validated subscriber data and the cities it belongs to.

:class:`SignUp` (build it with :meth:`SignUp.clean`), :data:`SUBSCRIBER_FIELDS`
(the one list of a subscriber's own fields, for show, export and the API),
free-text cleaning, the newsletter languages a city offers
(:func:`offered_language`), and a city's configuration, names and row.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from outreach.campaigns import CityConfig, Config
from outreach.errors import SubscriptionError, msg
from outreach.l10n import LANGUAGES
from outreach.models import City
from outreach.validation import has_control_chars, normalise_email
from outreach.validation import validate_business_id as _business_id

SIZE_CLASSES = ("micro", "small", "medium", "large")
MAX_TEXT = 200

#: A subscriber's own fields that :meth:`SignUp.clean` checks (besides address and topics).
DETAIL_FIELDS = (
    "company_name",
    "business_id",
    "contact_name",
    "size_class",
    "industry_code",
    "language",
)
#: Every field of a subscriber besides the address: the one list that show, export,
#: the JSON API and the console read.
SUBSCRIBER_FIELDS = (*DETAIL_FIELDS, "interested_in_visit")


def clean_text(value: str | None, what: str, *, limit: int = MAX_TEXT) -> str | None:
    """Strip a free-text field; None if empty; no control characters; bounded length."""
    if value is None:
        return None
    if has_control_chars(value):
        raise SubscriptionError(f"{what} must be on one line without control characters")
    value = value.strip()
    if len(value) > limit:
        raise SubscriptionError(f"{what} is longer than {limit} characters")
    return value or None


@dataclass
class SignUp:
    """Validated subscriber data for one city; build it with :meth:`clean`."""

    email: str
    topics: list[str]
    language: str = "fi"
    company_name: str | None = None
    business_id: str | None = None
    contact_name: str | None = None
    size_class: str | None = None
    industry_code: str | None = None

    @classmethod
    def clean(
        cls,
        config: Config,
        city_slug: str,
        *,
        email: str,
        topics: Iterable[str] = (),
        language: str | None = None,
        company_name: str | None = None,
        business_id: str | None = None,
        contact_name: str | None = None,
        size_class: str | None = None,
        industry_code: str | None = None,
    ) -> SignUp:
        city = city_config(config, city_slug)
        known = list(city.topics)
        chosen = [t.strip() for t in topics if t and t.strip()]
        for topic in chosen:
            if topic not in known:
                raise SubscriptionError(
                    msg("unknown topic {topic} (known: {known})"),
                    topic=repr(topic[:40]),
                    known=", ".join(known),
                )
        lang = (language or city.languages[0]).strip().lower()
        if lang not in LANGUAGES:
            raise SubscriptionError(
                msg("unknown language {lang} (known: fi, sv, en)"), lang=repr(lang[:10])
            )
        bid = clean_text(business_id, "the business ID", limit=20)
        size = clean_text(size_class, "the size class", limit=20)
        if size is not None and size.lower() not in SIZE_CLASSES:
            raise SubscriptionError(
                msg("unknown size class {size} (known: {known})"),
                size=repr(size),
                known=", ".join(SIZE_CLASSES),
            )
        industry = clean_text(industry_code, "the industry code", limit=10)
        if industry is not None and not industry.replace(".", "").isalnum():
            raise SubscriptionError(msg("the industry code must be a TOL 2008 code like 62010"))
        return cls(
            email=normalise_email(email),
            topics=sorted(set(chosen)) or known[:1],
            language=lang,
            company_name=clean_text(company_name, "the company name"),
            business_id=_business_id(bid) if bid else None,
            contact_name=clean_text(contact_name, "the contact name"),
            size_class=size.lower() if size else None,
            industry_code=industry,
        )


class LanguageNotOffered(SubscriptionError):
    """A newsletter language the city does not send in (``offered`` are the ones it does)."""

    def __init__(self, city_slug: str, language: str, offered: list[str]) -> None:
        self.city = city_slug
        self.language = language
        self.offered = offered
        super().__init__(
            f"language {language[:10]!r}: {city_slug} sends its newsletter in "
            f"{', '.join(offered)} only"
        )


def offered_language(config: Config, city_slug: str, language: str | None) -> str:
    """``language`` (None: the city's first) when the city sends its newsletter in it.

    Raises :class:`LanguageNotOffered` for any other: a subscriber of another
    language would get a confirmation mail in it and the newsletter in the
    city's first language. The sign-up form, ``subscribers add`` and the API
    refuse such a language; the CSV import uses the city's first one instead.
    """
    offered = [str(lang) for lang in city_config(config, city_slug).languages]
    lang = (language or offered[0]).strip().lower()
    if lang not in offered:
        raise LanguageNotOffered(city_slug, lang, offered)
    return lang


def city_config(config: Config, slug: str) -> CityConfig:
    try:
        return config.cities[slug]
    except KeyError:
        known = ", ".join(sorted(config.cities))
        raise SubscriptionError(
            msg('no city "{city}" (known: {known})'), city=slug[:40], known=known
        ) from None


def city_name(config: Config, slug: str, lang: str) -> str:
    """The city's name in ``lang``, else in its first language."""
    names: dict[str, str] = {str(k): v for k, v in city_config(config, slug).name.items()}
    return names.get(lang) or next(iter(names.values()), slug)


def city_texts(config: Config, slug: str, lang: str) -> dict[str, str]:
    """The city's name for page texts: ``city_name`` and its genitive ``city_gen``
    (``Vantaan``, ``Vandas``), so a translation can put it in a natural sentence, and
    ``place_kind`` (``city``, ``municipality``), the noun its texts call it by."""
    cfg = city_config(config, slug)
    return {
        "city_name": city_name(config, slug, lang),
        "city_gen": cfg.genitive(lang),
        "place_kind": cfg.kind,
    }


def city_row(session: Session, config: Config, slug: str) -> City:
    """The City row for ``slug``, created from the campaigns config when missing."""
    cfg = city_config(config, slug)
    row = session.scalar(select(City).where(City.slug == slug))
    if row is None:
        row = City(slug=slug, names=dict(cfg.name), languages=list(cfg.languages))
        row.timezone = cfg.timezone
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError:  # created by a concurrent request
            row = session.scalars(select(City).where(City.slug == slug)).one()
    return row
