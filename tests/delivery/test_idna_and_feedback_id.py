"""Internationalised domains are encoded with IDNA 2008 wherever an address is
encoded; campaign mail names its campaign, city and sender in ``Feedback-ID``."""

from __future__ import annotations

from email import message_from_bytes, policy
from pathlib import Path

import pytest

from outreach.campaigns import Config, Sender
from outreach.delivery.backends import memory
from outreach.delivery.message import (
    IssueMessages,
    build_transactional,
    check_address,
    feedback_id,
    verp_address,
)
from outreach.errors import ConfigError, PermanentDeliveryError, SubscriptionError
from outreach.settings import Settings
from outreach.validation import normalise_email
from tests.delivery.conftest import FakeRendered

SENDER = Sender(name={"fi": "Vantaa"}, address="ilmasto@vantaa.fi")
RENDERED = FakeRendered("fi", "Aihe", "", "<p>Hei @@CONTACT_NAME@@</p>", "Hei @@CONTACT_NAME@@")


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("user@faß.de", "user@xn--fa-hia.de"),  # IDNA 2003 would say fass.de
        ("User@FAß.DE", "user@xn--fa-hia.de"),
        ("info@yritys.fi", "info@yritys.fi"),
        ("info@äänekoski.fi", "info@xn--nekoski-4waa.fi"),
        ("a@xn--fa-hia.de", "a@xn--fa-hia.de"),
    ],
)
def test_addresses_use_idna_2008(typed: str, stored: str) -> None:
    assert normalise_email(typed) == stored


@pytest.mark.parametrize("typed", ["a@xn--zz.fi", "a@b_c.fi", "a@\u200d.fi", "a@-x.fi"])
def test_domains_that_are_not_idna_2008_are_refused(typed: str) -> None:
    with pytest.raises(SubscriptionError, match="domain"):
        normalise_email(typed)


def test_message_building_encodes_the_domain_with_idna_2008() -> None:
    assert check_address("user@faß.de") == "user@xn--fa-hia.de"
    message = build_transactional(SENDER, "fi", "user@faß.de", RENDERED)
    assert message.recipients == ["user@xn--fa-hia.de"]
    parsed = message_from_bytes(message.data, policy=policy.default)
    assert parsed["To"] == "user@xn--fa-hia.de"
    assert (
        verp_address("bounces@vantaa.fi", "user@faß.de") == "bounces+user=xn--fa-hia.de@vantaa.fi"
    )
    with pytest.raises(PermanentDeliveryError):
        check_address("user@b_c.fi")


def test_the_envelope_goes_to_the_idna_2008_domain() -> None:
    memory.outbox.clear()
    message = build_transactional(SENDER, "fi", "user@faß.de", RENDERED)
    from outreach.delivery.message import send_batch

    assert send_batch("memory:", [message])[0].ok
    assert memory.outbox[-1].recipients == ["user@xn--fa-hia.de"]
    assert b"fass.de" not in memory.outbox[-1].data


def test_campaign_mail_carries_a_feedback_id_built_once_per_language(
    settings: Settings, config: Config, tmp_path: Path
) -> None:
    messages = IssueMessages(
        settings, config, city_slug="vantaa", campaign_slug="vantaa-monthly", issue_id=7,
        lang="fi", rendered=RENDERED, mail_url="memory:",
    )  # fmt: skip
    expected = b"Feedback-ID: vantaa-monthly:vantaa:announcement:vantaa.fi\r\n"
    assert expected in messages.template.head  # in the skeleton: no per-recipient work
    one = messages.build(email="a@y.fi", subscriber_id=1, subscription_id=1, token_salt="s")
    two = messages.build(email="b@y.fi", subscriber_id=2, subscription_id=2, token_salt="t")
    for message in (one, two):
        parsed = message_from_bytes(message.data, policy=policy.default)
        assert parsed.get_all("Feedback-ID") == ["vantaa-monthly:vantaa:announcement:vantaa.fi"]
    confirmation = build_transactional(SENDER, "fi", "a@y.fi", RENDERED)
    assert b"Feedback-ID" not in confirmation.data  # one-off mail is no campaign


def test_feedback_id_parts_cannot_carry_colons_or_line_breaks() -> None:
    assert feedback_id("a", "b", "c", "vantaa.fi") == "a:b:c:vantaa.fi"
    for bad in ("a:b", "x\r\nBcc: y@z.fi", ""):
        with pytest.raises(ConfigError, match="Feedback-ID"):
            feedback_id(bad, "b", "c", "d")
