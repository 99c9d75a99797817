"""Email and business ID validation, with hypothesis properties."""

from __future__ import annotations

import hashlib
import hmac
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from outreach.errors import SubscriptionError
from outreach.settings import Settings
from outreach.suppression import suppression_key
from outreach.validation import (
    TOL_DIVISIONS,
    business_id_check_digit,
    email_hash,
    normalise_email,
    tol_code,
    validate_business_id,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" Matti.Meikalainen@Yritys.FI ", "matti.meikalainen@yritys.fi"),
        ("info+news@example.com", "info+news@example.com"),
        ("a@bücher.de", "a@xn--bcher-kva.de"),
        ("o'brien@sub.example.fi", "o'brien@sub.example.fi"),
    ],
)
def test_normalise_email_accepts(raw: str, expected: str) -> None:
    assert normalise_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "plain",
        "@example.fi",
        "matti@",
        "matti@localhost",
        "mätti@example.fi",
        "a..b@example.fi",
        ".a@example.fi",
        "a@-example.fi",
        "a@example..fi",
        "a@example.fi.",
        "a@1.2.3.4",
        "a b@example.fi",
        "victim@example.fi\r\nBcc: everyone@example.fi",
        "victim@example.fi\n",
        "x" * 65 + "@example.fi",
        "a@" + "b" * 250 + ".fi",
    ],
)
def test_normalise_email_rejects(raw: str) -> None:
    with pytest.raises(SubscriptionError):
        normalise_email(raw)


def test_email_error_is_one_line() -> None:
    with pytest.raises(SubscriptionError) as info:
        normalise_email("bad\r\naddress")
    assert "\n" not in str(info.value)


@given(st.text(max_size=300))
def test_normalise_email_raises_only_subscription_error(text: str) -> None:
    try:
        result = normalise_email(text)
    except SubscriptionError:
        return
    assert result == result.lower()
    assert result.isascii() and result.isprintable()
    assert len(result) <= 254 and result.count("@") >= 1
    assert normalise_email(result) == result  # idempotent


ATEXT = string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-"


@given(
    st.text(ATEXT, min_size=1, max_size=30),
    st.lists(
        st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=20),
        min_size=1,
        max_size=3,
    ),
)
def test_valid_addresses_round_trip(local: str, labels: list[str]) -> None:
    address = f"{local}@{'.'.join(labels)}.fi"
    assert normalise_email(address) == address.lower()
    assert normalise_email(address.upper()) == address.lower()


def test_email_hash_is_a_keyed_hmac_of_the_normalised_address(settings: Settings) -> None:
    key = suppression_key(settings)
    context = b"outreach suppression list v1"
    assert key == hmac.new(settings.secret(), context, hashlib.sha256).digest()
    value = email_hash(" Matti@Yritys.FI\t", key)
    assert value == email_hash("matti@yritys.fi", key)
    assert value == hmac.new(key, b"matti@yritys.fi", hashlib.sha256).hexdigest()
    assert value != hashlib.sha256(b"matti@yritys.fi").hexdigest()  # not a dictionary lookup
    assert len(value) == 64


def test_a_different_secret_gives_a_different_hash(settings: Settings) -> None:
    other = settings.model_copy(update={"secret_key": SecretStr("another-secret-" * 3)})
    assert suppression_key(other) != suppression_key(settings)
    mine = email_hash("matti@yritys.fi", suppression_key(settings))
    assert email_hash("matti@yritys.fi", suppression_key(other)) != mine
    assert suppression_key(settings.model_copy()) == suppression_key(settings)  # stable


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0112038-9", "0112038-9"),  # Nokia Oyj
        ("112038-9", "0112038-9"),  # the old form without the leading zero
        ("01120389", "0112038-9"),
        ("FI01120389", "0112038-9"),
        (" 1572860-0 ", "1572860-0"),
    ],
)
def test_business_id_accepts(raw: str, expected: str) -> None:
    assert validate_business_id(raw) == expected


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("0112038-8", "check digit"),
        ("1234567", "ambiguous"),
        ("12345-6", "7 digits"),
        ("abcdefg-h", "7 digits"),
        ("", "empty"),
    ],
)
def test_business_id_rejects(raw: str, fragment: str) -> None:
    with pytest.raises(SubscriptionError, match=fragment):
        validate_business_id(raw)


bodies = st.text("0123456789", min_size=7, max_size=7)


@given(bodies)
def test_business_id_check_digit_property(body: str) -> None:
    check = business_id_check_digit(body)
    if check is None:  # remainder 1: no ID has this body
        with pytest.raises(SubscriptionError):
            validate_business_id(f"{body}-0")
        return
    canonical = f"{body}-{check}"
    assert validate_business_id(canonical) == canonical
    assert validate_business_id(body + str(check)) == canonical
    for wrong in set(range(10)) - {check}:
        with pytest.raises(SubscriptionError):
            validate_business_id(f"{body}-{wrong}")


@given(bodies, st.integers(0, 6), st.integers(1, 9))
def test_single_digit_typo_is_caught(body: str, position: int, delta: int) -> None:
    check = business_id_check_digit(body)
    if check is None:
        return
    typo = body[:position] + str((int(body[position]) + delta) % 10) + body[position + 1 :]
    with pytest.raises(SubscriptionError):
        validate_business_id(f"{typo}-{check}")


@given(st.text(max_size=40))
def test_business_id_raises_only_subscription_error(text: str) -> None:
    try:
        result = validate_business_id(text)
    except SubscriptionError:
        return
    assert len(result) == 9 and result[7] == "-"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("62010", "62010"), (" 47.11 ", "4711"), ("47111", "47111"), ("471", "471"), ("01", "01"),
     ("99000", "99000"), ("G", "G"), ("u", "U"), ("35.1", "351")],
)  # fmt: skip
def test_tol_code_accepts(raw: str, expected: str) -> None:
    assert tol_code(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["Kauppa", "abc", "04123", "34000", "40", "89100", "00000", "V", "4", "471111", "47.",
     "62-01-0", "47.11.1", "６２０１０", "G47"],
)  # fmt: skip
def test_tol_code_rejects(raw: str) -> None:
    assert tol_code(raw) is None


def test_the_tol_2008_divisions() -> None:
    missing = {"00", "04", "34", "40", "44", "48", "54", "57", "67", "76", "83", "89"}
    assert len(TOL_DIVISIONS) == 88
    every = {f"{n:02d}" for n in range(100)}
    assert every - missing == TOL_DIVISIONS
