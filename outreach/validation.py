"""Validation of what subscribers type: email addresses and Finnish business IDs.

Both functions return the canonical form or raise :class:`SubscriptionError`
with a one-line message that says what to fix. No DNS lookups are made: an
address is checked for syntax only (ASCII local part, IDNA-encodable domain).
:func:`email_hash` is the keyed hash an address is kept under (on the
suppression list, see :mod:`outreach.suppression`); :func:`without_addresses`
takes addresses out of text bound for a log.

Domains are encoded with IDNA 2008 and UTS #46 (the ``idna`` package, as
email-validator does), never with Python's ``idna`` codec: that one is IDNA
2003 and maps ``faß.de`` to ``fass.de``, someone else's domain.
:func:`ascii_domain` is the one place a domain is encoded; validation and
message building both use it.
"""

from __future__ import annotations

import re
from functools import lru_cache

import idna

from outreach.errors import SubscriptionError, msg
from outreach.tokens import keyed_hash

MAX_EMAIL = 254
MAX_LOCAL = 64
# RFC 5322 dot-atom: atext characters separated by single dots.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LOCAL_RE = re.compile(rf"^{_ATEXT}(\.{_ATEXT})*$")
_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f\u0080-\u009f\u2028\u2029]")

BUSINESS_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2)

#: The sections (A-U) and the 88 divisions (two digits) of TOL 2008, Statistics
#: Finland's classification of industries (NACE Rev. 2 with a fifth digit). The
#: numbers between the ranges (00, 04, 34, 40, 44, 48, 54, 57, 67, 76, 83, 89) are
#: no division.
TOL_SECTIONS = frozenset("ABCDEFGHIJKLMNOPQRSTU")
TOL_DIVISIONS = frozenset(
    f"{number:02d}"
    for first, last in ((1, 3), (5, 9), (10, 33), (35, 35), (36, 39), (41, 43), (45, 47),
                        (49, 53), (55, 56), (58, 63), (64, 66), (68, 68), (69, 75), (77, 82),
                        (84, 84), (85, 85), (86, 88), (90, 93), (94, 96), (97, 98), (99, 99))
    for number in range(first, last + 1)
)  # fmt: skip
_TOL_CODE = re.compile(r"(\d\d)(?:\.?(\d{1,3}))?", re.ASCII)


def has_control_chars(text: str) -> bool:
    """True if ``text`` holds CR, LF or any other control character."""
    return bool(_CONTROL_RE.search(text))


@lru_cache(maxsize=4096)  # a CRM export repeats its domains; an import checks each once
def ascii_domain(domain: str) -> str:
    """``Faß.DE`` → ``xn--fa-hia.de``: IDNA 2008 with UTS #46 mapping, lower case.

    Raises :class:`SubscriptionError` naming the part that is not a domain name.
    """
    if not domain or len(domain) > 253:
        raise SubscriptionError(msg("the email address has no valid domain after @"))
    if domain.endswith("."):
        raise SubscriptionError(msg("the email address's domain must not end with a dot"))
    out = []
    for label in domain.split("."):
        if not label:
            raise SubscriptionError(msg("the email address's domain has an empty part (..)"))
        try:
            ascii_label = (
                label.lower()
                if label.isascii()
                else idna.encode(label, uts46=True, transitional=False).decode("ascii").lower()
            )
        except (idna.IDNAError, UnicodeError):
            ascii_label = ""
        if not _LABEL_RE.match(ascii_label) or (
            ascii_label.startswith("xn--") and not _valid_a_label(ascii_label)
        ):
            raise SubscriptionError(
                msg("the email address's domain part {label} is not a valid domain name"),
                label=repr(label),
            )
        out.append(ascii_label)
    if len(out) < 2:
        raise SubscriptionError(msg("the email address's domain needs a dot, e.g. example.fi"))
    if out[-1].isdigit():
        raise SubscriptionError(
            msg("the email address's domain must end with a name, not a number")
        )
    return ".".join(out)


def _valid_a_label(label: str) -> bool:
    """An ``xn--`` label must decode to a valid IDNA 2008 label."""
    try:
        idna.decode(label)
    except (idna.IDNAError, UnicodeError):
        return False
    return True


def ascii_address(address: str) -> str:
    """``user@faß.de`` → ``user@xn--fa-hia.de``; the local part is left as it is."""
    local, at, domain = address.rpartition("@")
    if not at:
        raise SubscriptionError(msg("the email address needs the form name@example.fi"))
    return f"{local}@{ascii_domain(domain)}"


#: Providers that deliver ``f.i.r.s.t@`` to ``first@``, and their aliases.
DOTLESS_DOMAINS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}


def canonical_mailbox(address: str) -> str:
    """The mailbox an address reaches: a normalised address with its ``+tag`` cut off,
    dots folded and ``googlemail.com`` → ``gmail.com`` where the provider ignores them.

    ``Matti.Meikalainen+news@GoogleMail.com`` → ``mattimeikalainen@gmail.com``.
    Used for limits only; mail goes to the address as given.
    """
    return mailbox_of(normalise_email(address))


def mailbox_of(address: str) -> str:
    """:func:`canonical_mailbox` of an address :func:`normalise_email` gave (not checked
    again); most addresses are their own mailbox and come back as they are."""
    local, _, domain = address.rpartition("@")
    local = local.split("+", 1)[0] or local
    domain = DOTLESS_DOMAINS.get(domain, domain)
    if domain in DOTLESS_DOMAINS.values():
        local = local.replace(".", "") or local
    return f"{local}@{domain}"


TOO_LONG = msg("the email address is longer than {limit} characters")


def normalise_email(text: str) -> str:
    """``" Matti@Esimerkki.FI "`` → ``"matti@esimerkki.fi"``; raises SubscriptionError."""
    if not isinstance(text, str):
        raise SubscriptionError(msg("an email address is required"))
    if has_control_chars(text):
        raise SubscriptionError(
            msg("the email address must not contain line breaks or control chars")
        )
    value = text.strip()
    if not value:
        raise SubscriptionError(msg("an email address is required"))
    if len(value) > MAX_EMAIL:
        raise SubscriptionError(TOO_LONG, limit=MAX_EMAIL)
    local, at, domain = value.rpartition("@")
    if not at or not local:
        raise SubscriptionError(msg("the email address needs the form name@example.fi"))
    if len(local) > MAX_LOCAL:
        raise SubscriptionError(
            msg("the part before @ is longer than {limit} characters"), limit=MAX_LOCAL
        )
    if not local.isascii():
        raise SubscriptionError(msg("the part before @ may contain only ASCII letters and digits"))
    if not _LOCAL_RE.match(local):
        raise SubscriptionError(
            msg("the part before @ has a character or dot that is not allowed there")
        )
    result = f"{local.lower()}@{ascii_domain(domain)}"
    if len(result) > MAX_EMAIL:
        raise SubscriptionError(TOO_LONG, limit=MAX_EMAIL)
    return result


def email_hash(email: str, key: bytes) -> str:
    """The keyed hash of an address: hex HMAC-SHA256 under ``key`` of the
    address, stripped and lowercased (the suppression list keeps addresses so,
    under :func:`outreach.suppression.suppression_key`).

    SQL computes the same value with :class:`outreach.suppression.email_hmac`.
    """
    message = email.strip().lower().encode("utf-8")
    return keyed_hash(key).digest(message).hex()


#: Anything shaped like an address in free text: a mail server's reply, an error.
_ADDRESS_IN_TEXT = re.compile(r"[^\s<>\"'(),;:\[\]]+@[^\s<>\"'(),;:\[\]]+")


def without_addresses(text: str) -> str:
    """``text`` with every e-mail address in it replaced by ``[email]``.

    For what goes into logs: a server's reply often quotes the recipient
    (``550 5.1.1 <x@y.fi>: no such user``), and a person erased must not stay
    in the logs.
    """
    return _ADDRESS_IN_TEXT.sub("[email]", text)


def business_id_check_digit(body: str) -> int | None:
    """The check digit of a 7-digit body, or None if no ID can have that body."""
    total = sum(int(d) * w for d, w in zip(body, BUSINESS_ID_WEIGHTS, strict=True))
    remainder = total % 11
    if remainder == 0:
        return 0
    if remainder == 1:
        return None
    return 11 - remainder


@lru_cache(maxsize=1024)  # a CRM export holds a few hundred codes, each many times
def tol_code(value: str) -> str | None:
    """A TOL 2008 code as stored, or None when ``value`` is none.

    A section letter (``G``), or a division, group, class or subclass: 2 to 5
    digits whose first two are a division (``47``, ``471``, ``4711``, ``47111``),
    with or without a dot after the division (``47.11`` is stored ``4711``, so
    that audiences and statistics, which read the digits from the start, find it).
    """
    text = value.strip()
    if len(text) == 1:
        return text.upper() if text.upper() in TOL_SECTIONS else None
    match = _TOL_CODE.fullmatch(text)
    if match is None or match[1] not in TOL_DIVISIONS:
        return None
    return match[1] + (match[2] or "")


def validate_business_id(text: str) -> str:
    """A Finnish business ID (Y-tunnus) in the canonical form ``1234567-8``.

    Accepts ``12345678`` (no hyphen), ``FI12345678`` (the VAT form) and the old
    form without a leading zero (``123456-7``); rejects anything ambiguous.
    """
    if not isinstance(text, str) or has_control_chars(text):
        raise SubscriptionError(msg("the business ID must be digits like 1234567-8"))
    value = text.strip().replace(" ", "")
    if not value:
        raise SubscriptionError(msg("the business ID is empty"))
    if value[:2].upper() == "FI" and value[2:].isdigit() and len(value) == 10:
        value = value[2:]
    if re.fullmatch(r"\d{7}-\d", value):
        body, check = value[:7], value[8]
    elif re.fullmatch(r"\d{6}-\d", value):
        body, check = "0" + value[:6], value[7]
    elif re.fullmatch(r"\d{8}", value):
        body, check = value[:7], value[7]
    elif re.fullmatch(r"\d{7}", value):
        raise SubscriptionError(
            msg("the business ID {value} is ambiguous: write it with the hyphen, like 1234567-8"),
            value=repr(value),
        )
    else:
        raise SubscriptionError(
            msg(
                "the business ID {value} must have 7 digits, a hyphen and a check digit, "
                "like 1234567-8"
            ),
            value=repr(text.strip()[:20]),
        )
    expected = business_id_check_digit(body)
    if expected is None:
        raise SubscriptionError(
            msg("the business ID {value} cannot exist (no check digit)"), value=f"{body}-{check}"
        )
    if int(check) != expected:
        raise SubscriptionError(
            msg("the business ID {value} has a wrong check digit (a typo?)"),
            value=f"{body}-{check}",
        )
    return f"{body}-{check}"
