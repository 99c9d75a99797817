"""No data from a feed, a form or a CSV can add or alter a header; display
names with ä, ö, commas and quotes survive RFC 2047 as one address."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from outreach.campaigns import Sender
from outreach.delivery import send_issue
from outreach.delivery.backends import get_backend, memory
from outreach.delivery.message import (
    IssueMessages,
    MessageTemplate,
    Recipient,
    build_transactional,
    send_transactional,
)
from outreach.errors import ConfigError, PermanentDeliveryError
from outreach.models import Subscriber
from tests.delivery.conftest import FakeRendered

EVIL = "x\r\nBcc: victim@evil.example\r\nX-Injected: yes"
HEADERS = {
    "Feedback-ID",
    "To",
    "Message-ID",
    "List-Unsubscribe",
    "From",
    "Subject",
    "Date",
    "List-Id",
    "List-Unsubscribe-Post",
    "Precedence",
    "MIME-Version",
    "Content-Type",
    "Content-Language",
    "Reply-To",
}
SENDER = Sender(name={"fi": "Vantaan kaupunki"}, address="ilmasto@vantaa.fi")


def parse(data: bytes) -> EmailMessage:
    msg = message_from_bytes(data, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def assert_clean(msg: EmailMessage, text_in: str = "") -> None:
    """No header was added; the evil text shows up only inside ``text_in``."""
    assert set(msg.keys()) <= HEADERS
    assert msg["Bcc"] is None and msg["X-Injected"] is None
    for name, value in msg.items():
        if name != text_in:
            assert "victim" not in str(value), name


def rendered(subject: str = "Aihe", body: str = "Hei@@CONTACT_NAME@@") -> FakeRendered:
    return FakeRendered("fi", subject, "", f"<p>{body}</p>", body)


def test_contact_name_from_csv_stays_in_the_body(world_factory: Any) -> None:
    w = world_factory(1)
    with w.session() as s:
        s.execute(update(Subscriber).values(contact_name=EVIL + " <script>"))
        s.commit()
    send_issue(w.settings, w.config, w.issue_id)
    msg = memory.outbox[0].message
    assert_clean(msg)
    html = msg.get_body(("html",)).get_content()
    assert "&lt;script&gt;" in html and "<script>" not in html


def test_subject_from_feed_data_is_one_line() -> None:
    t = MessageTemplate(SENDER, "fi", rendered(subject="Uutiset" + EVIL), list_id="<a.b.outreach>")
    msg = parse(
        t.fill(Recipient("a@example.fi", "<1@vantaa.fi>", "https://x/u", "https://x/p")).data
    )
    assert_clean(msg, text_in="Subject")
    assert msg["Subject"].startswith("Uutisetx Bcc: victim")


def test_sender_name_bypassing_validation_is_one_line() -> None:
    sender = Sender.model_construct(name={"fi": "Vantaa" + EVIL}, address="ilmasto@vantaa.fi")
    t = MessageTemplate(sender, "fi", rendered())
    msg = parse(t.fill(Recipient("a@example.fi", "<1@vantaa.fi>", "", "")).data)
    assert_clean(msg, text_in="From")
    assert len(msg["From"].addresses) == 1


@pytest.mark.parametrize(
    "to",
    [
        "a@example.fi\r\nBcc: victim@evil.example",
        "a@example.fi\nBcc: victim@evil.example",
        "a@example.fi, victim@evil.example",
        '"x" <victim@evil.example>',
        "",
    ],
)
def test_recipient_addresses_are_validated(to: str) -> None:
    with pytest.raises(PermanentDeliveryError):
        build_transactional(SENDER, "fi", to, rendered())


def test_addresses_from_config_are_validated() -> None:
    sender = Sender.model_construct(name={"fi": "V"}, address="a@b.fi\r\nBcc: victim@evil.example")
    with pytest.raises(PermanentDeliveryError):
        MessageTemplate(sender, "fi", rendered())
    with pytest.raises(PermanentDeliveryError):
        MessageTemplate(SENDER, "fi", rendered(), verp="b@x.fi\r\nBcc: victim@evil.example")


def test_per_recipient_links_and_ids_cannot_break_lines() -> None:
    t = MessageTemplate(SENDER, "fi", rendered(), list_id="<a.b.outreach>")
    with pytest.raises(ValueError, match="Message-ID"):
        t.fill(Recipient("a@example.fi", "<1@v.fi>" + EVIL, "https://x/u", ""))
    with pytest.raises(ValueError, match="unsubscribe URL"):
        t.fill(Recipient("a@example.fi", "<1@v.fi>", "https://x/u" + EVIL, ""))
    with pytest.raises(ValueError, match="unsubscribe URL"):
        t.fill(Recipient("a@example.fi", "<1@v.fi>", "https://x/u>, <https://evil", ""))


def test_base_url_and_mail_url_are_checked(world_factory: Any, config: Any) -> None:
    w = world_factory(1)
    bad = w.settings.model_copy(update={"base_url": "https://x.fi/\r\nBcc: victim@evil.example"})
    # one_line() joins it into one line, and the URL check then refuses the space.
    with pytest.raises(ConfigError, match="OUTREACH_BASE_URL"):
        IssueMessages(
            bad,
            config,
            city_slug="vantaa",
            campaign_slug="vantaa-monthly",
            issue_id=1,
            lang="fi",
            rendered=rendered(),
            mail_url="memory:",
        )
    with pytest.raises(ConfigError, match="one line"):
        get_backend("memory:?x=1\r\nBcc: victim@evil.example")


def test_transactional_send_refuses_form_input(world_factory: Any, config: Any) -> None:
    w = world_factory(0)
    result = send_transactional(w.settings, config, "vantaa", "a@b.fi\r\nBcc: v@e.fi", rendered())
    assert result.status == "permanent" and memory.outbox == []
    result = send_transactional(w.settings, config, "vantaa", "a@b.fi", rendered())
    assert result.status == "sent"
    msg = memory.outbox[0].message
    assert (
        msg["List-Unsubscribe"] is None
        and msg["From"].addresses[0].addr_spec == "ilmasto@vantaa.fi"
    )


NAME_CHARS = st.sampled_from(list("abcÄäÖöÅå,\"'\\().;:@<> -Zé€"))


@settings(max_examples=150, deadline=None)
@given(name=st.text(NAME_CHARS, min_size=1, max_size=40), subject=st.text(NAME_CHARS, max_size=60))
def test_rfc2047_round_trip_of_display_names(name: str, subject: str) -> None:
    sender = Sender(name={"fi": name}, address="ilmasto@vantaa.fi")
    t = MessageTemplate(sender, "fi", rendered(subject=subject))
    data = t.fill(Recipient("a@example.fi", "<1@vantaa.fi>", "", "")).data
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))
    msg = parse(data)
    [address] = msg["From"].addresses
    assert address.addr_spec == "ilmasto@vantaa.fi"
    assert " ".join(address.display_name.split()) == " ".join(name.split())
    assert " ".join(str(msg["Subject"]).split()) == " ".join(subject.split())
