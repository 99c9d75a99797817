"""The console's subscriber actions: each calls the subscriptions stage and is audited.

A subscriber's details and erasure reach every city they subscribe to, so
editing the details needs the edit permission, and forgetting the approve
permission, in each of the person's cities (a person with a role in one city
ends that city's subscription instead). Uploaded import files wait under
``var/imports`` between the preview and the commit, named by a random token
and kept for the person and city that uploaded them.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from outreach.campaigns import Config
from outreach.errors import StaffError, SubscriptionError
from outreach.settings import Settings
from outreach.staff import audit
from outreach.staff.policy import Permission, Principal
from outreach.staff.workflow import Actor
from outreach.subscriptions import (
    ImportAborted,
    ImportReport,
    Mailer,
    SignUp,
    add_subscriber,
    city_subscription,
    edit_subscriber,
    forget,
    import_csv,
    mark_contacted,
    person,
    show,
    withdraw,
)

#: How long an uploaded file waits for its commit.
UPLOAD_HOURS = 2


def _check_every_city(principal: Principal, cities: list[str], permission: Permission) -> None:
    missing = [c for c in cities if not principal.can(permission, c)]
    if missing:
        raise StaffError(
            "this person also subscribes in another city; only someone with a role in every "
            "one of their cities can do this. End this city's subscription instead"
        )


def add(
    session: Session, settings: Settings, config: Config, mailer: Mailer | None, city: str,
    actor: Actor, signup: SignUp, *, confirmed: bool, consent_note: str | None, now: datetime,
) -> int | None:  # fmt: skip
    """Add a subscriber to ``city`` (pending with a confirmation mail, or confirmed on a
    stated legal basis); their id, or None when the address is suppressed. An address
    the city already has raises AlreadySubscribed: nothing changed, nothing audited
    (staff of the city may see their own subscribers)."""
    sub = add_subscriber(
        session, settings, config, city, signup, mailer, confirmed=confirmed,
        consent_note=consent_note, channel="staff", detail=f"staff console: {actor.email}",
        now=now, refuse_existing=True,
    )  # fmt: skip
    if sub is None:
        return None
    audit.record(session, "subscriber.add", actor.email, city=city, ip=actor.ip,
                 subscriber_id=sub.subscriber_id, detail={"confirmed": confirmed},
                 now=now)  # fmt: skip
    return sub.subscriber_id


def edit(
    session: Session, config: Config, principal: Principal, city: str, subscriber_id: int,
    actor: Actor, *, details: dict[str, str | None], topics: list[str], visit: bool,
    cooperation: bool, now: datetime,
) -> list[str]:  # fmt: skip
    found = city_subscription(session, city, subscriber_id)
    if found is None:
        raise LookupError(subscriber_id)
    subscriber, sub = found
    _check_every_city(principal, [s.city.slug for s in subscriber.subscriptions], Permission.EDIT)
    changed = edit_subscriber(
        session, config, city, subscriber, sub, details=details, topics=topics, visit=visit,
        cooperation=cooperation, now=now,
    )  # fmt: skip
    audit.record(session, "subscriber.edit", actor.email, city=city, ip=actor.ip,
                 subscriber_id=subscriber_id, detail={"fields": changed}, now=now)  # fmt: skip
    return changed


def unsubscribe(
    session: Session, city: str, subscriber_id: int, actor: Actor, now: datetime
) -> bool:
    """End the city's subscription (the consent log says staff did it); False if it had."""
    found = city_subscription(session, city, subscriber_id)
    if found is None:
        raise LookupError(subscriber_id)
    changed = withdraw(session, [found[1]], "staff", detail=f"staff console: {actor.email}",
                       now=now)  # fmt: skip
    audit.record(session, "subscriber.unsubscribe", actor.email, city=city, ip=actor.ip,
                 subscriber_id=subscriber_id, now=now)  # fmt: skip
    return bool(changed)


def forget_person(
    session: Session, settings: Settings, principal: Principal, city: str, subscriber_id: int,
    actor: Actor, now: datetime,
) -> None:  # fmt: skip
    """GDPR erasure through :func:`outreach.subscriptions.forget`; the audit event keeps
    the id only, never the address."""
    found = city_subscription(session, city, subscriber_id)
    if found is None:
        raise LookupError(subscriber_id)
    subscriber = found[0]
    cities = [s.city.slug for s in subscriber.subscriptions]
    _check_every_city(principal, cities, Permission.APPROVE)
    forget(session, settings, subscriber.email, detail=f"staff console: {actor.email}")
    audit.record(session, "subscriber.forget", actor.email, city=city, ip=actor.ip,
                 subscriber_id=subscriber_id, detail={"cities": cities}, now=now)  # fmt: skip


def export_person(
    session: Session, settings: Settings, principal: Principal, city: str, subscriber_id: int,
    actor: Actor, now: datetime,
) -> dict[str, Any]:  # fmt: skip
    """Everything held about the person (:func:`outreach.subscriptions.show`), limited to
    the cities the person exporting sees; audited with the purpose ``gdpr-request``."""
    view = person(session, settings, city, subscriber_id)
    if view is None:
        raise LookupError(subscriber_id)
    data = show(session, settings, view.subscriber.email) or {}
    data["subscriptions"] = [s for s in data.get("subscriptions", []) if principal.sees(s["city"])]
    if any(not principal.sees(c) for c in view.other_cities):
        own = {d.issue_id for d in view.deliveries}
        data["deliveries"] = [d for d in data.get("deliveries", []) if d["issue_id"] in own]
    audit.record(session, "subscriber.export", actor.email, city=city, ip=actor.ip,
                 subscriber_id=subscriber_id, purpose="gdpr-request", now=now)  # fmt: skip
    return data


def contacted(session: Session, city: str, subscriber_id: int, actor: Actor, now: datetime) -> None:
    if mark_contacted(session, city, subscriber_id, actor.email, now) is None:
        raise LookupError(subscriber_id)
    audit.record(session, "lead.contacted", actor.email, city=city, ip=actor.ip,
                 subscriber_id=subscriber_id, now=now)  # fmt: skip


def exported(
    session: Session, city: str, actor: Actor, *, what: str, purpose: str | None,
    detail: dict[str, Any], now: datetime,
) -> None:  # fmt: skip
    """Record a list or leads export (before its first row is written)."""
    audit.record(session, what, actor.email, city=city, ip=actor.ip, purpose=purpose,
                 detail=detail, now=now)  # fmt: skip


@dataclass(frozen=True)
class Upload:
    token: str
    path: Path
    name: str
    confirmed: bool
    consent_note: str


def _uploads(settings: Settings) -> Path:
    folder = Path(settings.var_dir) / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    cutoff = time.time() - UPLOAD_HOURS * 3600
    for old in folder.glob("*"):
        if old.stat().st_mtime < cutoff:
            old.unlink(missing_ok=True)
    return folder


def save_upload(
    settings: Settings, city: str, actor: Actor, name: str, data: IO[bytes], *,
    confirmed: bool, consent_note: str | None,
) -> Upload:  # fmt: skip
    """Keep an uploaded CSV for its preview and commit."""
    note = " ".join((consent_note or "").split())
    if confirmed and not note:
        raise SubscriptionError("a confirmed import needs a consent note stating the legal basis")
    token = secrets.token_urlsafe(24)
    folder = _uploads(settings)
    path = folder / f"{token}.csv"
    with path.open("wb") as out:
        while chunk := data.read(1 << 20):
            out.write(chunk)
    safe_name = "".join(ch for ch in Path(name or "import.csv").name if ch.isprintable())[:100]
    meta: dict[str, Any] = {"city": city, "by": actor.email, "name": safe_name or "import.csv",
            "confirmed": confirmed, "consent_note": note}  # fmt: skip
    (folder / f"{token}.json").write_text(json.dumps(meta), encoding="utf-8")
    return Upload(token, path, str(meta["name"]), confirmed, note)


def load_upload(settings: Settings, city: str, actor: Actor, token: str) -> Upload | None:
    """The upload ``token`` names when the same person uploaded it for ``city``."""
    if not token or not token.replace("-", "").replace("_", "").isalnum() or len(token) > 64:
        return None
    folder = _uploads(settings)
    meta_path, path = folder / f"{token}.json", folder / f"{token}.csv"
    if not meta_path.is_file() or not path.is_file():
        return None
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta.get("city") != city or meta.get("by") != actor.email:
        return None
    return Upload(token, path, meta["name"], bool(meta["confirmed"]), meta["consent_note"])


def preview_import(
    engine: Engine, settings: Settings, config: Config, city: str, upload: Upload
) -> ImportReport:
    """The importer's dry run of the upload: what would be added, updated, skipped.
    A file the importer refuses (``ImportRefused``, ``ImportAborted``) is not kept."""
    try:
        return import_csv(engine, settings, config, upload.path, city,
                          confirmed=upload.confirmed, consent_note=upload.consent_note or None,
                          dry_run=True, name=upload.name)  # fmt: skip
    except SubscriptionError:
        _discard(upload)
        raise


def commit_import(
    engine: Engine, session: Session, settings: Settings, config: Config, city: str,
    upload: Upload, actor: Actor, mailer: Mailer | None, now: datetime,
) -> ImportReport:  # fmt: skip
    """Import the upload for real, audit it, and delete the file.

    The importer commits its rows itself, so a file that cannot be read past a line
    (``ImportAborted``) keeps the rows before it: they are audited too, with the line,
    in ``session`` (the caller commits it) before the error goes on.
    """
    try:
        report = import_csv(engine, settings, config, upload.path, city,
                            confirmed=upload.confirmed, consent_note=upload.consent_note or None,
                            mailer=mailer, name=upload.name)  # fmt: skip
    except ImportAborted as exc:
        _audit_import(session, city, upload, actor, exc.report, now, stopped_at=exc.line)
        _discard(upload)
        raise
    except SubscriptionError:
        _discard(upload)
        raise
    _audit_import(session, city, upload, actor, report, now)
    _discard(upload)
    return report


def _audit_import(
    session: Session, city: str, upload: Upload, actor: Actor, report: ImportReport,
    now: datetime, stopped_at: int | None = None,
) -> None:  # fmt: skip
    detail: dict[str, Any] = {
        "file": upload.name, "confirmed": upload.confirmed, "imported": report.imported,
        "updated": report.updated, "skipped": len(report.skipped),
        "mail_failed": report.mail_failed,
    }  # fmt: skip
    if stopped_at is not None:
        detail["stopped_at_line"] = stopped_at
    audit.record(session, "subscribers.import", actor.email, city=city, ip=actor.ip,
                 detail=detail, now=now)  # fmt: skip


def _discard(upload: Upload) -> None:
    for suffix in (".csv", ".json"):
        (upload.path.parent / f"{upload.token}{suffix}").unlink(missing_ok=True)
