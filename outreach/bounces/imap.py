"""A mailbox poller for bounces over IMAP with TLS (``outreach bounces poll``).

Each message of the folder is parsed and acted on in its own transaction.
Once committed it moves to the done folder (created if missing); so do
auto-replies, which are ignored. A message that is no report it can read,
or whose processing failed, stays where it is, flagged (``\\Flagged``), and
is reported: nothing is ever deleted. Flagged messages are skipped on
later polls until someone looks at them and clears the flag.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass, field

from imapclient import IMAPClient
from sqlalchemy.exc import SQLAlchemyError

from outreach.bounces.act import Outcome, process_message
from outreach.bounces.parse import message_from_bytes
from outreach.db import get_engine, session_scope, unavailable
from outreach.errors import ConfigError
from outreach.errors import msg as _msg
from outreach.settings import Settings

log = logging.getLogger(__name__)
_RETURN_HEADERS = ("X-Original-To", "Delivered-To", "Envelope-To", "To")


@dataclass
class PollReport:
    processed: int = 0
    failed: list[str] = field(default_factory=list)  # subjects of flagged messages
    outcome: Outcome = field(default_factory=Outcome)


def _return_path(data: bytes) -> str | None:
    msg = message_from_bytes(data)
    for name in _RETURN_HEADERS:
        for value in msg.get_all(name) or []:
            text = str(value).strip().strip("<>")
            if "+" in text.partition("@")[0]:
                return text
    return None


def imap_configured(settings: Settings) -> bool:
    """Whether a bounce mailbox is set up (host and user): the daemon polls it then."""
    return bool(settings.bounce_imap_host and settings.bounce_imap_user)


def poll(settings: Settings, *, limit: int = 500) -> PollReport:
    """Process up to ``limit`` unflagged messages of the bounce mailbox."""
    if not imap_configured(settings):
        raise ConfigError(_msg("set OUTREACH_BOUNCE_IMAP_HOST and OUTREACH_BOUNCE_IMAP_USER"))
    password = settings.bounce_imap_password
    context = ssl.create_default_context(
        cafile=str(settings.bounce_imap_cafile) if settings.bounce_imap_cafile else None
    )
    report = PollReport()
    with IMAPClient(
        settings.bounce_imap_host,
        port=settings.bounce_imap_port,
        ssl=True,
        ssl_context=context,
        timeout=30,
    ) as client:
        client.login(settings.bounce_imap_user, password.get_secret_value() if password else "")
        done = settings.bounce_imap_done_folder
        if not client.folder_exists(done):
            client.create_folder(done)
        client.select_folder(settings.bounce_imap_folder)
        uids = client.search(["UNFLAGGED"])[:limit]
        engine = get_engine(settings)
        for uid in uids:
            fetched = client.fetch([uid], ["RFC822", "ENVELOPE"])
            data = fetched.get(uid, {}).get(b"RFC822")
            if not isinstance(data, bytes):
                continue
            try:
                with session_scope(engine) as session:
                    outcome = process_message(
                        session, settings, data, return_path=_return_path(data), source="imap"
                    )
            except Exception as exc:
                if isinstance(exc, SQLAlchemyError):  # the database is down: one line
                    log.warning(
                        "bounce message %s could not be processed: %s", uid, unavailable(exc)
                    )
                else:
                    log.exception("bounce message %s could not be processed", uid)
                client.add_flags([uid], [b"\\Flagged"])
                subject = str(message_from_bytes(data).get("Subject", ""))[:100]
                report.failed.append(f"{uid}: {subject} ({type(exc).__name__})")
                continue
            if outcome.unrecognised:
                # Neither a report nor an auto-reply: it stays for a person to read.
                client.add_flags([uid], [b"\\Flagged"])
                subject = str(message_from_bytes(data).get("Subject", ""))[:100]
                report.failed.append(f"{uid}: {subject} (not a bounce report)")
                continue
            report.outcome.add(outcome)
            report.processed += 1
            client.copy([uid], done)
            client.delete_messages([uid])
        client.expunge()
    return report
