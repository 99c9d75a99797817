"""What the cells of a CRM export mean: column names and values in fi, sv and en.

Staff export contacts from whatever CRM the city uses, in Finnish more often
than not: ``Yrityksen koko`` holds ``mikro``, ``pk-yritys`` or ``iso``, ``Kieli``
holds ``suomi`` or ``svenska``, ``Aiheet`` holds the topics' Finnish names. This
module maps such headers to fields and such values to the codes the rest of
the project uses. :class:`Vocabulary` is built once per import (the city's
topics are part of it); :meth:`Vocabulary.row` turns one row into a
:class:`~outreach.subscriptions.signup.SignUp`, or into the reason it is skipped,
plus a note for every optional field it had to leave out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from outreach.campaigns import Config
from outreach.errors import SubscriptionError
from outreach.subscriptions.import_report import Note
from outreach.subscriptions.signup import MAX_TEXT, SignUp
from outreach.validation import (
    has_control_chars,
    normalise_email,
    tol_code,
    validate_business_id,
)

FIELDS = (
    "email", "company_name", "business_id", "contact_name", "first_name", "last_name",
    "language", "topics", "size_class", "industry_code", "consent",
)  # fmt: skip
HEADER_ALIASES = {
    "email": ("email", "sähköposti", "sahkoposti", "sähköpostiosoite", "emailaddress", "epost",
              "epostadress", "mail"),
    "company_name": ("company", "companyname", "yritys", "yrityksennimi", "yritysnimi",
                     "organisaatio", "organization", "organisation", "företag", "företagsnamn"),
    "business_id": ("businessid", "ytunnus", "yritystunnus", "fonummer", "företagsid"),
    "contact_name": ("name", "nimi", "kokonimi", "yhteyshenkilö", "yhteyshenkilo", "contact",
                     "contactname", "fullname", "kontaktperson", "namn"),
    "first_name": ("etunimi", "firstname", "förnamn", "givenname"),
    "last_name": ("sukunimi", "lastname", "surname", "efternamn", "familyname"),
    "language": ("language", "kieli", "asiointikieli", "viestintäkieli", "yhteyskieli", "språk",
                 "kontaktspråk", "lang"),
    "topics": ("topics", "aiheet", "aihe", "aihealueet", "kiinnostuksenkohteet", "ämnen",
               "intressen", "interests"),
    "size_class": ("size", "sizeclass", "companysize", "koko", "kokoluokka", "yrityksenkoko",
                   "yrityskoko", "henkilöstö", "henkilöstömäärä", "storlek", "storleksklass",
                   "företagetsstorlek", "employees"),
    "industry_code": ("industry", "industrycode", "toimiala", "toimialakoodi", "tol", "tol2008",
                      "bransch", "branschkod"),
    "consent": ("consent", "marketingconsent", "suostumus", "markkinointilupa",
                "markkinointisuostumus", "uutiskirjelupa", "sähköpostilupa", "samtycke",
                "marknadsföringstillstånd"),
}  # fmt: skip

SIZE_WORDS = {
    "micro": ("micro", "microenterprise", "mikro", "mikroyritys", "mikroföretag"),
    "small": ("small", "smallenterprise", "pieni", "pieniyritys", "pienyritys", "pk", "pkyritys",
              "sme", "smf", "liten", "litet", "små", "småföretag"),
    "medium": ("medium", "mediumsized", "keskisuuri", "keskisuuriyritys", "keskikokoinen",
               "medelstor", "medelstort", "medelstortföretag"),
    "large": ("large", "big", "suuri", "suuriyritys", "suuryritys", "iso", "isoyritys", "stor",
              "stort", "storföretag"),
}  # fmt: skip
LANGUAGE_WORDS = {
    "fi": ("fi", "fin", "finnish", "suomi", "suomeksi", "suomenkieli", "suomenkielinen", "finska",
           "finsk", "påfinska", "finskspråkig", "fifi"),
    "sv": ("sv", "swe", "sve", "swedish", "ruotsi", "ruotsiksi", "ruotsinkieli",
           "ruotsinkielinen", "svenska", "svensk", "påsvenska", "svenskspråkig", "svfi", "svse"),
    "en": ("en", "eng", "english", "inenglish", "englanti", "englanniksi", "englanninkieli",
           "englanninkielinen", "engelska", "engelsk", "påengelska", "engelskspråkig", "engb",
           "enus"),
}  # fmt: skip
#: Yes in a consent column: the words, and TRUE as Finnish and Swedish Excel write it
#: (TOSI, SANT). Their FALSE (EPÄTOSI, FALSKT) is no consent, as ``false`` is.
CONSENT_YES = frozenset(
    ("kyllä", "kylla", "k", "joo", "on", "annettu", "x", "✓", "✔", "yes", "y", "true", "tosi",
     "1", "ok", "given", "ja", "j", "givet", "sant", "sann")
)  # fmt: skip
#: A date (1.3.2024, 01/03/2024, 2024-03-01), perhaps with the time of day.
_DATE = re.compile(
    r"(?:\d{1,2}\.\d{1,2}\.\d{2,4}|\d{1,2}/\d{1,2}/\d{2,4})"
    r"(?:,?\s+(?:klo\s*|kl\.?\s*|at\s+)?\d{1,2}[:.]\d{2}(?:[:.]\d{2})?)?"
    r"|\d{4}-\d{2}-\d{2}.*"
)
#: A head count: ``12``, ``10-49``, ``10–49 hlö``, ``250+``, ``alle 10``, ``yli 250``,
#: ``över 250``, ``50-249 työntekijää``, ``1–9 anställda``.
_EMPLOYEES = re.compile(
    r"(?:(?P<under>alle|under|vähemmän kuin|färre än|mindre än|less than|fewer than|<)"
    r"|(?P<over>yli|över|fler än|mer än|more than|over|>)"
    r"|vähintään|minst|at least|>=|≥)?\s*"
    r"(?P<count>\d+)\s*"
    r"(?:(?:[-–—]|\.\.|to)\s*\d+|\+|(?:tai|eller|or)\s+(?:yli|enemmän|fler|mer|more))?\s*"
    r"(?:henkilöä|henkilöt|henkilö|hengen|hlöä|hlö\.?|htv|työntekijää|työntekijöitä|työntekijä"
    r"|anställda|anst\.?|personer|pers\.?|employees|persons|people|staff)?"
)
_TOPIC_SPLIT = re.compile(r"[|,;/]")


def header_key(header: str) -> str:
    """``"Y-tunnus"``, ``"y tunnus"`` and ``"Y_Tunnus"`` are all ``"ytunnus"``."""
    return re.sub(r"[\s_\-.]+", "", header.strip().lower())


def _word(value: str) -> str:
    return re.sub(r"[\s_\-.()]+", "", value.strip().lower())


ALIAS_INDEX = {header_key(a): name for name, aliases in HEADER_ALIASES.items() for a in aliases}
SIZE_INDEX = {word: size for size, words in SIZE_WORDS.items() for word in words}
LANGUAGE_INDEX = {word: lang for lang, words in LANGUAGE_WORDS.items() for word in words}


@lru_cache(maxsize=1024)
def size_class(value: str) -> str | None:
    """``"pk-yritys"`` → ``"small"``; a head count (``"12"``, ``"50-249"``) by the EU bands."""
    word = _word(value)
    found = SIZE_INDEX.get(word) or SIZE_INDEX.get(word.removesuffix("yritys"))
    if found is not None:
        return found
    match = _EMPLOYEES.fullmatch(value.strip().lower())
    if match is None:
        return None
    count = int(match["count"]) - (1 if match["under"] else 0) + (1 if match["over"] else 0)
    bands = ((10, "micro"), (50, "small"), (250, "medium"))
    return next((size for limit, size in bands if count < limit), "large")


@lru_cache(maxsize=1024)  # a column holds a handful of spellings, 100,000 times
def language(value: str) -> str | None:
    return LANGUAGE_INDEX.get(_word(value))


def consent_given(value: str) -> bool:
    """``Kyllä``, ``x``, ``ja``, ``yes``, ``1``, ``TOSI``, the date consent was given, or a
    yes and that date (``Kyllä 1.3.2024``, ``ja, 2024-03-01``)."""
    text = value.strip().lower()
    if text in CONSENT_YES or _DATE.fullmatch(text):
        return True
    word, _, rest = text.partition(" ")
    return word.rstrip(",:;") in CONSENT_YES and bool(_DATE.fullmatch(rest.strip(" ,:;()")))


@dataclass
class Vocabulary:
    """The columns of one file and the topics of one city."""

    columns: dict[int, str]
    known_topics: list[str]
    default_language: str
    extra: dict[str, list[int]] = field(default_factory=dict)  # read where the first is empty
    #: The languages the city sends its newsletter in; another falls back to the first.
    offered_languages: tuple[str, ...] = ("fi", "sv", "en")
    topic_names: list[tuple[str, str]] = field(default_factory=list)  # (name, topic), longest first
    topic_words: dict[str, str] = field(default_factory=dict)
    _patterns: list[tuple[re.Pattern[str], str]] = field(default_factory=list, repr=False)
    _seen: dict[str, tuple[list[str], list[str]]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._patterns = [
            (re.compile(rf"(?<![\w']){re.escape(name)}(?![\w'])"), topic)
            for name, topic in self.topic_names
        ]

    @classmethod
    def build(
        cls,
        config: Config,
        city_slug: str,
        columns: dict[int, str],
        extra: dict[str, list[int]] | None = None,
    ) -> Vocabulary:
        city = config.cities[city_slug]
        known = list(city.topics)
        names: dict[str, str] = {}
        words: dict[str, set[str]] = {}
        for topic in known:
            texts = [topic, *(str(t) for t in config.topics.get(topic, {}).values())]
            for text in texts:
                name = " ".join(text.lower().split())
                names[name] = topic
                short = re.split(r",| ja | och | and ", name)[0].strip()
                names.setdefault(short, topic)
                for word in re.findall(r"[\w']{4,}", name):
                    words.setdefault(word, set()).add(topic)
        return cls(
            columns=columns,
            extra=extra or {},
            known_topics=known,
            default_language=city.languages[0],
            offered_languages=tuple(city.languages),
            topic_names=sorted(names.items(), key=lambda item: -len(item[0])),
            topic_words={w: next(iter(t)) for w, t in words.items() if len(t) == 1},
        )

    def topics(self, raw: str) -> tuple[list[str], list[str]]:
        """Topic keys in ``raw`` and the parts no topic answers to (cached per spelling).

        A topic is named by its key, any of its names (which may hold commas), the
        part of a name before its first comma or "and", or a word only it uses.
        """
        cached = self._seen.get(raw)
        if cached is not None:
            return cached
        text = " ".join(raw.lower().split())
        found: set[str] = set()
        for pattern, topic in self._patterns:
            text, hits = pattern.subn("|", text)
            if hits:
                found.add(topic)
        unknown: list[str] = []
        for part in _TOPIC_SPLIT.split(text):
            part = part.strip()
            if not part:
                continue
            words = {self.topic_words.get(w) for w in re.findall(r"[\w']{4,}", part)}
            only = words.pop() if len(words) == 1 else None
            if only is None:
                unknown.append(part)
            else:
                found.add(only)
        result = (sorted(found), unknown)
        if len(self._seen) < 10_000:
            self._seen[raw] = result
        return result

    def row(self, cells: list[str], line: int) -> tuple[SignUp | None, list[Note]]:
        """The sign-up of one row, or None and the note that says why it is skipped.

        Its ``topics`` are empty when the row names none the city has (an empty
        cell, no column, only unknown topics): the writer gives a new subscription
        the city's first topic and leaves a held one's topics as they are.
        """
        values = {name: cells[i].strip() for i, name in self.columns.items() if i < len(cells)}
        for name, more in self.extra.items():  # a second column of the same field
            if not values.get(name):
                values[name] = next(
                    (value for i in more if i < len(cells) and (value := cells[i].strip())), ""
                )
        notes: list[Note] = []
        raw_email = values.get("email", "")
        if not raw_email:
            return None, [Note.skip(line, "email", "")]
        try:
            email = normalise_email(raw_email)
        except SubscriptionError:
            return None, [Note.skip(line, "email", raw_email)]
        if "consent" in values or "consent" in self.columns.values():
            answer = values.get("consent", "")
            if not consent_given(answer):
                return None, [Note.skip(line, "consent", answer)]
        lang = self.default_language
        if raw := values.get("language"):
            found = language(raw)
            if found is None:
                notes.append(Note.warn(line, "language", value=raw, default=lang))
            elif found not in self.offered_languages:
                offered = ", ".join(self.offered_languages)
                notes.append(Note.warn(line, "language_offered", value=raw, default=lang,
                                       offered=offered))  # fmt: skip
            else:
                lang = found
        business_id = None
        if raw := values.get("business_id"):
            try:
                business_id = validate_business_id(raw)
            except SubscriptionError:
                notes.append(Note.warn(line, "business_id", value=raw))
        size = None
        if raw := values.get("size_class"):
            size = size_class(raw)
            if size is None:
                notes.append(Note.warn(line, "size_class", value=raw))
        industry = None
        if raw := values.get("industry_code"):
            industry = tol_code(raw)
            if industry is None:
                notes.append(Note.warn(line, "industry_code", value=raw))
        contact = values.get("contact_name") or " ".join(
            part for part in (values.get("first_name"), values.get("last_name")) if part
        )
        topics, unknown = self.topics(values.get("topics", ""))
        known = ", ".join(self.known_topics)
        notes.extend(Note.warn(line, "topics", value=part, known=known) for part in unknown)
        signup = SignUp(
            email=email,
            topics=topics,  # none: the city's first for a new subscription, kept for one held
            language=lang,
            company_name=_text(values.get("company_name"), line, "company_name", notes),
            business_id=business_id,
            contact_name=_text(contact, line, "contact_name", notes),
            size_class=size,
            industry_code=industry,
        )
        return signup, notes


def _text(value: str | None, line: int, what: str, notes: list[Note]) -> str | None:
    """A name as stored: on one line (a line break typed in the cell, Excel's Alt+Enter,
    is a space), or None with a note when it is too long or holds control characters."""
    if not value:
        return None
    if has_control_chars(value):
        value = " ".join(value.split())
    if len(value) > MAX_TEXT or has_control_chars(value):
        notes.append(Note.warn(line, what, value=value))
        return None
    return value
