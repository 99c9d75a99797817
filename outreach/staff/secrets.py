"""Password hashing (argon2id), TOTP codes (RFC 6238) and random credentials.

An unknown address and a wrong password take the same work: :func:`verify_password`
with no stored hash checks the password against :func:`dummy_hash`, made with
the same parameters as every real hash. It is made once per process when first
needed (hashing takes 64 MiB and a third of a second, which a command that never
checks a password should not pay at start-up); the staff console makes it when
it is installed (:func:`outreach.staff.signin.prepare`), so even the first
unknown address takes the same work.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from datetime import datetime
from functools import cache
from urllib.parse import quote

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

#: argon2id with the library's defaults (RFC 9106's second recommendation:
#: t=3, m=64 MiB, p=4); ``check_needs_rehash`` upgrades older hashes at sign-in.
HASHER = PasswordHasher()
MIN_PASSWORD = 12
TOTP_PERIOD = 30
#: Codes one step before and after now are accepted (clock drift).
TOTP_WINDOW = 1
PASSWORD_ALPHABET = string.ascii_letters + string.digits


@cache
def dummy_hash() -> str:
    """A hash of a random password, checked when there is no stored hash (made with
    the library's defaults, as :data:`HASHER`'s)."""
    return PasswordHasher().hash(secrets.token_urlsafe(24))


def hash_password(password: str) -> str:
    return HASHER.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored``; the same work when ``stored`` is None."""
    try:
        return HASHER.verify(stored or dummy_hash(), password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return HASHER.check_needs_rehash(stored)


def new_password() -> str:
    """A random password of 20 letters and digits (about 119 bits)."""
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(20))


def new_totp_secret() -> str:
    return pyotp.random_base32(32)


def totp_uri(secret: str, email: str, issuer: str) -> str:
    """The ``otpauth://`` URI an authenticator app takes (typed or pasted, no QR code)."""
    label = quote(f"{issuer}:{email}", safe="@:")
    return f"otpauth://totp/{label}?secret={secret}&issuer={quote(issuer, safe='')}"


def totp_step(secret: str, code: str, at: datetime, last_step: int | None) -> int | None:
    """The time step ``code`` belongs to, if it is valid at ``at`` and newer than
    ``last_step`` (a code works once); None otherwise."""
    code = "".join(code.split())
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, interval=TOTP_PERIOD)
    now_step = int(at.timestamp()) // TOTP_PERIOD
    for step in range(now_step - TOTP_WINDOW, now_step + TOTP_WINDOW + 1):
        expected = totp.generate_otp(step)
        if hmac.compare_digest(expected, code) and (last_step is None or step > last_step):
            return step
    return None


def totp_code(secret: str, at: datetime) -> str:
    """The code an authenticator shows at ``at`` (tests and the demo)."""
    return pyotp.TOTP(secret, interval=TOTP_PERIOD).at(at)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def keyed_hash(key: bytes, *parts: str) -> str:
    return hmac.new(key, "\x1f".join(parts).encode(), hashlib.sha256).hexdigest()
