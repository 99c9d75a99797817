"""Every message of the corpus is classified right; auto-replies yield nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from outreach.bounces import EventKind
from outreach.bounces.parse import is_auto_reply, message_from_bytes, parse

CORPUS = Path(__file__).parents[1] / "data" / "bounces"
EXPECTED = json.loads((CORPUS / "expected.json").read_text())


def test_the_corpus_is_complete() -> None:
    assert sorted(EXPECTED) == sorted(p.name for p in CORPUS.glob("*.eml"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_classified(name: str) -> None:
    events = parse((CORPUS / name).read_bytes())
    got = [[e.kind.value, e.recipient, e.hard] for e in events] or "ignored"
    assert got == EXPECTED[name]


def test_report_quotes_the_original_message_id() -> None:
    [event] = parse((CORPUS / "arf-redacted-headers-only.eml").read_bytes())
    assert event.message_id == "<issue-7.sub-42@news.example.fi>"
    [event] = parse((CORPUS / "exim-nonstandard.eml").read_bytes())
    assert event.message_id == "<issue-2.sub-6@news.example.fi>"


def test_dsn_status_and_diagnostic() -> None:
    events = parse((CORPUS / "rfc3464-multiple-recipients.eml").read_bytes())
    assert events[0].status == "5.0.0"
    assert "not a registered gateway user" in (events[0].diagnostic or "")


def test_a_report_with_an_auto_reply_subject_is_still_a_report() -> None:
    data = (CORPUS / "rfc3464-delayed.eml").read_bytes()
    data = data.replace(b"Subject: Warning: message delayed", b"Subject: Automatic reply")
    assert not is_auto_reply(message_from_bytes(data))
    assert [e.kind.value for e in parse(data)] == ["deferred"]


def test_same_report_same_keys_other_report_other_keys() -> None:
    data = (CORPUS / "rfc3464-multiple-recipients.eml").read_bytes()
    first = [e.key() for e in parse(data)]
    assert first == [e.key() for e in parse(data)]
    assert len(set(first)) == 3
    other = data.replace(b"JAA16290", b"JAA16291")
    assert not set(first) & {e.key() for e in parse(other)}


def test_plain_mail_is_nothing() -> None:
    data = b"From: a@example.org\r\nTo: b@example.fi\r\nSubject: hello\r\n\r\nHi!\r\n"
    assert parse(data) == []


def test_servers_dsns_marked_auto_replied_keep_their_soft_bounces_and_delays() -> None:
    # Postfix, Gmail and Exchange mark their DSNs "Auto-Submitted: auto-replied"
    # (RFC 3834): a report is still a report, its soft bounce counts.
    for name in ("postfix-soft-auto-submitted.eml", "gmail-delayed-auto-submitted.eml"):
        msg = message_from_bytes((CORPUS / name).read_bytes())
        assert msg["Auto-Submitted"] == "auto-replied"
        assert not is_auto_reply(msg)
    [soft] = parse((CORPUS / "postfix-soft-auto-submitted.eml").read_bytes())
    assert (soft.kind, soft.hard, soft.status) == (EventKind.BOUNCED, False, "4.2.2")
    assert soft.message_id == "<issue-42.sub-7@vantaa.fi>"


@pytest.mark.parametrize("name", sorted(n for n in EXPECTED if n.startswith("out-of-office")))
def test_every_absence_notice_is_an_auto_reply_not_mail_for_a_person(name: str) -> None:
    assert is_auto_reply(message_from_bytes((CORPUS / name).read_bytes()))


def test_a_read_receipt_is_an_auto_reply() -> None:
    receipt = (
        b"From: a@yritys.example.fi\r\nTo: bounces+1-x@news.example.fi\r\n"
        b"Subject: Luettu: Ilmastouutiset\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=disposition-notification; boundary="b"\r\n'
        b"\r\n--b\r\nContent-Type: text/plain\r\n\r\nLuettu.\r\n"
        b"--b\r\nContent-Type: message/disposition-notification\r\n\r\n"
        b"Final-Recipient: rfc822; a@yritys.example.fi\r\nDisposition: manual-action/"
        b"MDN-sent-manually; displayed\r\n\r\n--b--\r\n"
    )
    assert is_auto_reply(message_from_bytes(receipt))
    assert parse(receipt) == []
