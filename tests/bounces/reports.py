"""Bounce and complaint messages about a given message, as receivers write them."""

from __future__ import annotations


def dsn(
    recipient: str,
    message_id: str,
    *,
    status: str = "5.1.1",
    action: str = "failed",
    attempt: int = 0,
    auto_submitted: bool = False,
) -> bytes:
    """``attempt``: another report of the same failure (its own Message-ID);
    ``auto_submitted``: marked ``Auto-Submitted: auto-replied``, as Postfix,
    Gmail and Exchange mark theirs."""
    mark = "Auto-Submitted: auto-replied\n" if auto_submitted else ""
    return f"""\
From: Mail Delivery System <MAILER-DAEMON@mx.example.org>
To: bounces@news.example.fi
Subject: Undelivered Mail Returned to Sender
Message-ID: <dsn-{recipient}-{status}-{attempt}@mx.example.org>
{mark}MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b"

--b
Content-Type: text/plain

Your message could not be delivered.

--b
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.org

Final-Recipient: rfc822; {recipient}
Action: {action}
Status: {status}
Diagnostic-Code: smtp; 550 {status} mailbox unavailable

--b
Content-Type: text/rfc822-headers

Message-ID: {message_id}
To: {recipient}
Subject: Ilmastouutiset

--b--
""".replace("\n", "\r\n").encode()


def arf(recipient: str, message_id: str) -> bytes:
    return f"""\
From: fbl@isp.example
To: complaints@news.example.fi
Subject: complaint
Message-ID: <arf-{recipient}@isp.example>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="f"

--f
Content-Type: text/plain

This is an email abuse report.

--f
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: ISP-FBL/1.0
Version: 1
Original-Rcpt-To: <{recipient}>

--f
Content-Type: text/rfc822-headers

Message-ID: {message_id}
To: {recipient}

--f--
""".replace("\n", "\r\n").encode()
