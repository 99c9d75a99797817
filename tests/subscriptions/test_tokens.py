"""Emailed-link tokens through the subscription stage: hypothesis against forgery."""

from __future__ import annotations

import hmac
import string

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from pydantic import SecretStr
from sqlalchemy.orm import Session

from outreach.campaigns import Config
from outreach.errors import InvalidTokenError
from outreach.settings import Settings
from outreach.subscriptions import RecordingMailer, load_token, subscribe, token_for
from outreach.tokens import KeyedHash, make_token
from tests.subscriptions.conftest import signup

PURPOSES = ["confirm", "unsubscribe", "preferences"]
HS = hsettings(
    max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None
)


@pytest.fixture
def tokens(session: Session, settings: Settings, config: Config) -> dict[str, str]:
    sub = subscribe(session, settings, config, "vantaa", signup(config), RecordingMailer())
    assert sub.subscription is not None
    return {p: token_for(settings, sub.subscription, p) for p in PURPOSES}


@HS
@given(st.text(string.ascii_letters + string.digits + "._-", max_size=80))
def test_random_tokens_are_rejected(
    session: Session, settings: Settings, tokens: dict[str, str], text: str
) -> None:
    for purpose in PURPOSES:
        if text == tokens[purpose]:
            continue
        with pytest.raises(InvalidTokenError):
            load_token(session, settings, text, purpose)


@HS
@given(st.sampled_from(PURPOSES), st.integers(0, 200), st.characters(codec="ascii"))
def test_any_changed_character_is_rejected(
    session: Session,
    settings: Settings,
    tokens: dict[str, str],
    purpose: str,
    pos: int,
    char: str,
) -> None:
    token = tokens[purpose]
    pos %= len(token)
    if token[pos] == char:
        return
    forged = token[:pos] + char + token[pos + 1 :]
    with pytest.raises(InvalidTokenError):
        load_token(session, settings, forged, purpose)


def test_tokens_are_bound_to_purpose_subscription_and_key(
    session: Session, settings: Settings, config: Config, tokens: dict[str, str]
) -> None:
    for purpose in PURPOSES:
        assert load_token(session, settings, tokens[purpose], purpose).id
        for other in set(PURPOSES) - {purpose}:
            with pytest.raises(InvalidTokenError):
                load_token(session, settings, tokens[purpose], other)
    other = subscribe(
        session, settings, config, "vantaa", signup(config, "b@y.fi"), RecordingMailer()
    ).subscription
    assert other is not None
    # a MAC for another subscription's salt does not open this one
    spoof = make_token(settings.secret(), "unsubscribe", other.id + 1, other.token_salt)
    with pytest.raises(InvalidTokenError):
        load_token(session, settings, spoof, "unsubscribe")
    foreign_key = settings.model_copy(update={"secret_key": SecretStr("another-key-" + "x" * 40)})
    with pytest.raises(InvalidTokenError):
        load_token(session, foreign_key, tokens["unsubscribe"], "unsubscribe")
    mac = tokens["confirm"].rsplit(".", 1)[1]
    assert len(mac) >= 22  # 128 bits in base64


@hsettings(max_examples=200, deadline=None)
@given(key=st.binary(max_size=200), message=st.binary(max_size=300))
def test_keyed_hash_is_hmac_sha256(key: bytes, message: bytes) -> None:
    """The precomputed pads give RFC 2104's HMAC, for short and long keys alike."""
    assert KeyedHash(key).digest(message) == hmac.digest(key, message, "sha256")
