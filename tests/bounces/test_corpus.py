"""flufl.bounce's test messages (tests/data/bounces/flufl/, Apache 2.0): every one
classified as the table says; auto-replies yield nothing; a message that names
no address is left for a person, not guessed at.

The addresses are those flufl.bounce's own tests expect of its detectors, but
for one: simple_42 is a delivery-status report that names ``david...@gmail.com``,
an address no delivery can have, which the report's own parser reads as given.
Soft (``False``) bounces are the messages flufl.bounce reads as warnings, or
reports of a failure with a 4.x.x status (dsn_02: 4.4.7, expired); DEFERRED
are reports with ``Action: delayed``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from outreach.bounces import EventKind
from outreach.bounces.parse import is_auto_reply, message_from_bytes, parse

CORPUS = Path(__file__).parents[1] / "data" / "bounces" / "flufl"
BOUNCED, DEFERRED = EventKind.BOUNCED, EventKind.DEFERRED
AUTO_REPLY = "auto-reply"  # no events, and recognised as an auto-reply
UNRECOGNISED = "unrecognised"  # no events, and left for a person to read

Expected = list[tuple[EventKind, str, bool]] | str

EXPECTED: dict[str, Expected] = {
    "aol_01": [(BOUNCED, "screenname@aol.com", True)],
    "bounce_01": UNRECOGNISED,
    "bounce_02": [(BOUNCED, "userx@example.com", True)],
    "bounce_03": [(BOUNCED, "userx@example.uk", True)],
    "caiwireless_01": [(BOUNCED, "userx@example.com", True)],
    "dsn_01": [(BOUNCED, "userx@example.com", True)],
    "dsn_02": [(BOUNCED, "zzzzz@example.uk", False)],
    "dsn_03": [(BOUNCED, "userx@example.be", True)],
    "dsn_04": [(BOUNCED, "userx@example.ch", True)],
    "dsn_05": [(DEFERRED, "userx@example.cz", False)],
    "dsn_06": [(DEFERRED, "userx@example.com", False)],
    "dsn_07": [(DEFERRED, "userx@example.nz", False)],
    "dsn_08": [(DEFERRED, "userx@example.de", False)],
    "dsn_09": [(BOUNCED, "userx@example.com", True)],
    "dsn_10": [(BOUNCED, "anne.person@dom.ain", True)],
    "dsn_11": [(BOUNCED, "joem@example.com", True)],
    "dsn_12": [(BOUNCED, "userx@example.jp", True)],
    "dsn_13": [(BOUNCED, "userx@example.com", True)],
    "dsn_14": [(BOUNCED, "userx@example.com.dk", True)],
    "dsn_15": [(BOUNCED, "userx@example.com", True)],
    "dsn_16": [(BOUNCED, "userx@example.com", True)],
    "dsn_17": [(DEFERRED, "userx@example.fi", False)],
    "dsn_18": [(BOUNCED, "email@replaced.net", True)],
    "dumbass_01": UNRECOGNISED,
    "exim_01": [(BOUNCED, "userx@its.example.nl", True)],
    "groupwise_01": [(BOUNCED, "userx@example.edu", True)],
    "groupwise_02": [(BOUNCED, "userx@example.com", True)],
    "groupwise_03": UNRECOGNISED,
    "hotpop_01": [(BOUNCED, "userx@example.com", True)],
    "llnl_01": [(BOUNCED, "user1@example.gov", True)],
    "microsoft_01": [(BOUNCED, "userx@example.com", True)],
    "microsoft_02": [(BOUNCED, "userx@example.com", True)],
    "microsoft_03": [(BOUNCED, "userx@example.com", True)],
    "microsoft_04": [(BOUNCED, "userx@example.com", True)],
    "netscape_01": [(BOUNCED, "aaaaa@corel.com", True), (BOUNCED, "bbbbb@corel.com", True)],
    "newmailru_01": [(BOUNCED, "zzzzz@newmail.ru", True)],
    "postfix_01": [(BOUNCED, "xxxxx@local.ie", True)],
    "postfix_02": [(BOUNCED, "yyyyy@digicool.com", True)],
    "postfix_03": [(BOUNCED, "ttttt@ggggg.com", True)],
    "postfix_04": [(BOUNCED, "userx@mail1.example.com", True)],
    "postfix_05": [(BOUNCED, "userx@example.net", True)],
    "qmail_01": [(BOUNCED, "userx@example.de", True)],
    "qmail_02": [(BOUNCED, "userx@example.com", True)],
    "qmail_03": [(BOUNCED, "userx@example.jp", True)],
    "qmail_04": [(BOUNCED, "userx@example.au", True)],
    "qmail_05": [(BOUNCED, "userx@example.com", True)],
    "qmail_06": [(BOUNCED, "ntl@xxx.com", True)],
    "qmail_07": [(BOUNCED, "user@example.net", True)],
    "qmail_08": AUTO_REPLY,
    "sendmail_01": [(BOUNCED, "zzzzz@nfg.nl", True), (BOUNCED, "zzzzz@shaft.coal.nl", True)],
    "simple_01": [(BOUNCED, "bbbsss@example.com", True)],
    "simple_02": [(BOUNCED, "userx@example.net", True)],
    "simple_03": [(BOUNCED, "userx@example.za", False)],
    "simple_04": [(BOUNCED, "userx@example.com", True)],
    "simple_05": [(BOUNCED, "userx@example.net", True)],
    "simple_06": [(BOUNCED, "userx@example.com", True)],
    "simple_07": [(BOUNCED, "userx@example.net", True)],
    "simple_08": [(BOUNCED, "userx@example.de", True)],
    "simple_09": [(BOUNCED, "userx@example.de", True)],
    "simple_10": [(BOUNCED, "userx@example.com", True)],
    "simple_11": [(BOUNCED, "userx@example.com", True)],
    "simple_12": [(BOUNCED, "userx@example.ac.jp", True)],
    "simple_13": [(BOUNCED, "userx@example.fr", True)],
    "simple_14": [(BOUNCED, "userx@example.com", True), (BOUNCED, "usery@example.com", True)],
    "simple_15": [(BOUNCED, "userx@example.be", True)],
    "simple_16": [(BOUNCED, "userx@example.com", True)],
    "simple_17": [(BOUNCED, "userx@example.com", True)],
    "simple_18": [(BOUNCED, "userx@example.com", True)],
    "simple_19": [(BOUNCED, "userx@example.com.ar", True)],
    "simple_20": [(BOUNCED, "userx@example.com", True)],
    "simple_21": [(BOUNCED, "userx@example.com", False)],
    "simple_22": [(BOUNCED, "user@example.org", False)],
    "simple_23": [(BOUNCED, "userx@example.it", True)],
    "simple_24": [(BOUNCED, "userx@example.com", True)],
    "simple_25": [(BOUNCED, "userx@example.com", True)],
    "simple_26": [(BOUNCED, "userx@example.it", True)],
    "simple_27": [(BOUNCED, "userx@example.net.py", True)],
    "simple_28": [(BOUNCED, "userx@example.com", False)],
    "simple_29": [(BOUNCED, "userx@example.com", True)],
    "simple_30": [(BOUNCED, "userx@example.com", True)],
    "simple_31": [(BOUNCED, "userx@example.fr", True)],
    "simple_32": [(BOUNCED, "userx@example.com", True)],
    "simple_33": [(BOUNCED, "userx@example.com", True)],
    "simple_34": [(BOUNCED, "roland@example.com", True)],
    "simple_35": [(BOUNCED, "calvin@example.com", False)],
    "simple_36": [(BOUNCED, "userx@example.com", True)],
    "simple_37": [(BOUNCED, "user@example.edu", True)],
    "simple_38": [(BOUNCED, "userx@example.com", True)],
    "simple_39": [(BOUNCED, "userx@example.ru", True)],
    "simple_40": [(BOUNCED, "user@example.com", False)],
    "simple_41": [(BOUNCED, "userx@example.com", True)],
    "simple_42": [(BOUNCED, "david...@gmail.com", True)],
    "simple_43": UNRECOGNISED,
    "simple_44": [(BOUNCED, "user@example.com", True)],
    "simple_45": [(BOUNCED, "subscriber@earthlink.net", True)],
    "sina_01": [(BOUNCED, "userx@sina.com", True), (BOUNCED, "usery@sina.com", True)],
    "smtp32_01": [(BOUNCED, "userx@example.ph", True)],
    "smtp32_02": [(BOUNCED, "userx@example.com", True)],
    "smtp32_03": [(BOUNCED, "userx@example.com", True)],
    "smtp32_04": [
        (BOUNCED, "after_another@example.net", True),
        (BOUNCED, "one_bad_address@example.net", True),
    ],
    "smtp32_05": [(BOUNCED, "userx@example.com", True)],
    "smtp32_06": [(BOUNCED, "absolute_garbage_addr@example.net", True)],
    "smtp32_07": [(BOUNCED, "userx@example.com", True)],
    "yahoo_01": [(BOUNCED, "userx@example.com", True)],
    "yahoo_02": [(BOUNCED, "userx@example.es", True)],
    "yahoo_03": [(BOUNCED, "userx@example.com", True)],
    "yahoo_04": [(BOUNCED, "userx@example.es", True), (BOUNCED, "usery@example.uk", True)],
    "yahoo_05": [(BOUNCED, "userx@example.com", True), (BOUNCED, "usery@example.com", True)],
    "yahoo_06": [
        (BOUNCED, "usera@example.com", True),
        (BOUNCED, "userx@example.com", True),
        (BOUNCED, "usery@example.com", True),
        (BOUNCED, "userz@example.com", True),
    ],
    "yahoo_07": [
        (BOUNCED, "userw@example.com", True),
        (BOUNCED, "userx@example.com", True),
        (BOUNCED, "usery@example.com", True),
        (BOUNCED, "userz@example.com", True),
    ],
    "yahoo_08": [
        (BOUNCED, "usera@example.com", True),
        (BOUNCED, "userb@example.com", True),
        (BOUNCED, "userc@example.com", True),
        (BOUNCED, "userd@example.com", True),
        (BOUNCED, "usere@example.com", True),
        (BOUNCED, "userf@example.com", True),
    ],
    "yahoo_09": [(BOUNCED, "userx@example.com", True), (BOUNCED, "usery@example.com", True)],
    "yahoo_10": [
        (BOUNCED, "userx@example.com", True),
        (BOUNCED, "usery@example.com", True),
        (BOUNCED, "userz@example.com", True),
    ],
    "yahoo_11": [(BOUNCED, "bad_user@aol.com", True)],
    "yahoo_12": [(BOUNCED, "user@yahoo.com", True)],
    "yahoo_13": [(BOUNCED, "bogus-address@example.net", True)],
    "yale_01": [(BOUNCED, "userx@cs.yale.edu", True), (BOUNCED, "userx@yale.edu", True)],
}


def test_the_table_covers_the_corpus() -> None:
    assert sorted(EXPECTED) == sorted(p.stem for p in CORPUS.glob("*.txt"))
    assert (CORPUS / "LICENSE").read_text().count("Apache License, Version 2.0") == 1


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_classified(name: str) -> None:
    data = (CORPUS / f"{name}.txt").read_bytes()
    events = parse(data)
    expected = EXPECTED[name]
    if isinstance(expected, str):
        assert events == []
        assert is_auto_reply(message_from_bytes(data)) is (expected == AUTO_REPLY)
    else:
        assert [(e.kind, e.recipient, e.hard) for e in events] == expected


def test_a_bounce_marked_as_an_auto_reply_is_still_a_bounce() -> None:
    """simple_45 says ``Auto-Submitted: auto-replied``; its permanent failure counts."""
    data = (CORPUS / "simple_45.txt").read_bytes()
    assert is_auto_reply(message_from_bytes(data))
    assert [(e.kind, e.hard) for e in parse(data)] == [(BOUNCED, True)]


def test_a_recipient_reported_many_times_is_one_event() -> None:
    data = (CORPUS / "dsn_11.txt").read_bytes()
    assert data.count(b"Final-Recipient") == 11
    assert len(parse(data)) == 1
