"""The issue workflow of the console: approve (with the four-eyes rule), request
approval, test sends, send now, pause, resume, cancel, discard.

The console's routes call these and nothing else; each action is written to the
audit log in the caller's transaction. They call the same stage functions as
the ``outreach issue`` commands. A refusal the person can act on is a
:class:`Refused` with a code the page turns into a sentence in their language.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.campaigns import EMAIL_RE, Config
from outreach.checks import Approval, approve_checked
from outreach.db import get_engine
from outreach.delivery import (
    SendReport,
    cancel_issue,
    pause_issue,
    require_base_url,
    resume_issue,
    send_issue,
    send_test,
    send_transactional,
    start_outbox,
    tell_approvers,
)
from outreach.errors import OutreachError, RenderError
from outreach.issues import (
    check_cancelled,
    discard_issue,
    edited_subject,
    history,
    record_event,
    record_send_start,
)
from outreach.l10n import gettext_for
from outreach.models import Campaign, City, Issue, IssueStatus, StaffTestAddress
from outreach.render import render_email
from outreach.sandbox import check_text_template
from outreach.settings import Settings
from outreach.staff import audit
from outreach.stats import settle

#: History actions that make a person the issue's last editor (the four-eyes rule).
EDIT_ACTIONS = ("built", "rebuilt", "edited")
#: The most addresses a city's test list holds.
MAX_TEST_ADDRESSES = 20


__all__ = ["Actor", "Approval", "Refused"]


class Refused(OutreachError):
    """An action the person may not take now; ``code`` names the sentence to show."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Actor:
    """Who acts and from where, as the audit log keeps it."""

    email: str
    ip: str | None = None


def city_issue(session: Session, city: str, issue_id: int) -> Issue | None:
    """The issue ``issue_id`` when it belongs to ``city``, else None (a 404)."""
    return session.scalar(
        select(Issue)
        .join(Campaign, Campaign.id == Issue.campaign_id)
        .join(City, City.id == Campaign.city_id)
        .where(Issue.id == issue_id, City.slug == city)
    )


def _audit(session: Session, action: str, actor: Actor, issue: Issue, **detail: object) -> None:
    audit.record(
        session,
        action,
        actor.email,
        city=issue.campaign.city.slug,
        ip=actor.ip,
        issue_id=issue.id,
        detail={k: v for k, v in detail.items() if v is not None},
    )


def last_editor(session: Session, issue: Issue) -> str | None:
    """Who last built or edited the issue (from its history), or None."""
    for event in reversed(history(session, issue.id)):
        if event.action in EDIT_ACTIONS:
            return event.actor
    return None


def four_eyes(config: Config, issue: Issue) -> bool:
    city = config.cities.get(issue.campaign.city.slug)
    return city is not None and city.approval == "four_eyes"


def approve(
    session: Session,
    settings: Settings,
    config: Config,
    issue: Issue,
    actor: Actor,
    *,
    override: str | None = None,
    now: datetime | None = None,
) -> Approval:
    """Approve after the pre-flight check; refused for the last editor under four eyes.

    ``Approval.issue`` is None when the check has errors and no override reason
    was given (nothing is approved, nothing audited but the refusal).
    """
    if four_eyes(config, issue):
        editor = last_editor(session, issue)
        if editor is not None and editor.strip().lower() == actor.email.strip().lower():
            _audit(session, "issue.approve.refused", actor, issue, reason="four_eyes")
            raise Refused("four_eyes")
    if override is not None and not " ".join(override.split()):
        raise Refused("override_reason")
    outcome = approve_checked(
        session, settings, config, issue, by=actor.email, override=override, now=now
    )
    if outcome.issue is None:
        _audit(session, "issue.approve.refused", actor, issue, errors=len(outcome.report.errors))
    else:
        _audit(session, "issue.approve", actor, issue, override=override or None)
    return outcome


def request_approval(
    session: Session, settings: Settings, config: Config, issue: Issue, actor: Actor
) -> int:
    """Mail the city's approvers that the draft waits for them; how many mails went out."""
    if issue.status != IssueStatus.DRAFT:
        raise Refused("not_draft")
    city = config.cities[issue.campaign.city.slug]
    if not city.approvers:
        raise Refused("no_approvers")
    lang = city.languages[0]
    ref = f"{issue.campaign.slug}/{issue.period}"
    subject = gettext_for(lang, "email", "Approval requested: %(ref)s") % {"ref": ref}
    link = f"{settings.base_url_clean}/staff/{city.slug}/issues/{issue.id}?lang={lang}"
    context = {"ref": ref, "by": actor.email, "link": link}
    rendered = render_email(settings, config, city.slug, lang, "approval_request", context, subject)
    sent = 0
    for to in city.approvers:
        if send_transactional(settings, config, city.slug, to, rendered).ok:
            sent += 1
    record_event(session, issue, "approval asked", by=actor.email)
    _audit(session, "issue.request_approval", actor, issue, mailed=sent)
    return sent


def test_addresses(session: Session, city: str) -> list[str]:
    query = select(StaffTestAddress.address).where(StaffTestAddress.city == city)
    return sorted(session.scalars(query))


def save_test_addresses(session: Session, city: str, text: str, actor: Actor) -> list[str]:
    """Replace the city's test list with the addresses in ``text`` (one a line or comma)."""
    wanted: list[str] = []
    for part in text.replace(",", "\n").splitlines():
        address = part.strip().lower()
        if not address or address in wanted:
            continue
        if len(address) > 254 or not EMAIL_RE.match(address):
            raise Refused("bad_address", part.strip()[:80])  # as typed: the page names it
        wanted.append(address)
    if len(wanted) > MAX_TEST_ADDRESSES:
        raise Refused("too_many_addresses", str(MAX_TEST_ADDRESSES))
    rows = session.scalars(select(StaffTestAddress).where(StaffTestAddress.city == city)).all()
    for row in rows:
        if row.address not in wanted:
            session.delete(row)
    have = {row.address for row in rows}
    for address in wanted:
        if address not in have:
            session.add(StaffTestAddress(city=city, address=address, added_by=actor.email[:100]))
    session.flush()
    audit.record(
        session, "staff.test_addresses", actor.email, city=city, ip=actor.ip,
        detail={"count": len(wanted)},
    )  # fmt: skip
    return sorted(wanted)


@dataclass(frozen=True)
class TestResult:
    lang: str
    address: str
    ok: bool
    reply: str


def send_tests(
    session: Session,
    settings: Settings,
    config: Config,
    issue: Issue,
    actor: Actor,
    *,
    to_me: bool = True,
    to_list: bool = True,
) -> list[TestResult]:
    """A [TEST] copy in each language to the person and to the city's test list."""
    city = issue.campaign.city.slug
    to: list[str] = [actor.email] if to_me else []
    if to_list:
        to += [a for a in test_addresses(session, city) if a not in to]
    if not to:
        raise Refused("no_test_addresses")
    results: list[TestResult] = []
    for lang in languages_of(config, issue):  # the issue's, as built
        answers = send_test(settings, config, issue, lang, to)
        for address, answer in zip(to, answers, strict=True):
            results.append(TestResult(lang, address, answer.ok, answer.reply or ""))
    _audit(
        session, "issue.test", actor, issue,
        to=len(to), failed=sum(1 for r in results if not r.ok),
    )  # fmt: skip
    return results


def start_send(
    session: Session, settings: Settings, config: Config, issue: Issue, actor: Actor
) -> int:
    """Queue an approved issue's audience now (as ``outreach issue send`` does).

    The caller commits and then runs :func:`run_send`. An item cancelled at its
    source since approval holds the issue instead (approvers are told).
    """
    if issue.status != IssueStatus.APPROVED:
        raise Refused("not_approved")
    require_base_url(settings, config, issue.campaign.city.slug)
    notices = check_cancelled(session, config, [issue.id])
    if notices:
        tell_approvers(settings, config, notices)
        _audit(session, "issue.send.held", actor, issue)
        raise Refused("held")
    issue.scheduled_at, issue.scheduled_by, issue.kept_back = None, None, False
    queued = start_outbox(session, settings, config, issue, workers=settings.send_workers)
    record_send_start(session, issue, by=actor.email, manual=True)
    _audit(session, "issue.send", actor, issue, queued=queued)
    return queued


def run_send(settings: Settings, config: Config, issue_id: int) -> SendReport:
    """Send the queued deliveries (resumable; safe beside another worker); a send
    that settled is folded for the statistics (``outreach.stats.settle``)."""
    report = send_issue(settings, config, issue_id, workers=settings.send_workers)
    settle(get_engine(settings), config, [issue_id])
    return report


CONTROLS: dict[str, Callable[[Session, int], object]] = {
    "pause": pause_issue,
    "resume": resume_issue,
    "cancel": cancel_issue,
}


def control(session: Session, issue: Issue, action: str, actor: Actor) -> None:
    """Pause, resume or cancel the issue's send."""
    if action not in CONTROLS:
        raise Refused("unknown_action")
    CONTROLS[action](session, issue.id)
    _audit(session, f"issue.{action}", actor, issue)


def discard(session: Session, issue: Issue, actor: Actor) -> int:
    """Throw a draft away; its items go back to the pool."""
    if issue.status != IssueStatus.DRAFT:
        raise Refused("not_draft")
    _, released = discard_issue(session, issue.id, by=actor.email, now=datetime.now(UTC))
    _audit(session, "issue.discard", actor, issue, released=released)
    return released


#: The longest subject a draft may be given.
MAX_SUBJECT = 200


def edit_subject(session: Session, issue: Issue, lang: str, subject: str, actor: Actor) -> None:
    """Give the draft's ``lang`` version a new subject (one line); approved issues never change.

    The subject may use the placeholders of a campaign's subject (``{{ issue.period_label }}``
    …), rendered here with the issue's values as the campaign's are when it is built: what
    is stored is what goes out. A placeholder that cannot be read (``subject_template``) or
    names nothing known (``subject_placeholder``) is refused."""
    if issue.status != IssueStatus.DRAFT:
        raise Refused("not_draft")
    languages = dict((issue.snapshot or {}).get("languages") or {})
    if lang not in languages:
        raise Refused("state")
    text = " ".join(subject.split())
    if not text or len(text) > MAX_SUBJECT:
        raise Refused("bad_subject")
    if check_text_template(text) is not None:
        raise Refused("subject_template")
    try:
        text = edited_subject(issue.snapshot, lang, text)
    except RenderError:
        raise Refused("subject_placeholder") from None
    if not text or len(text) > MAX_SUBJECT:
        raise Refused("bad_subject")
    before = str(languages[lang].get("subject") or "")
    if text == before:
        return
    languages[lang] = {**languages[lang], "subject": text, "subject_edited": True}
    issue.snapshot = {**issue.snapshot, "languages": languages}  # a new value: saved
    session.flush()
    record_event(session, issue, "edited", by=actor.email, detail=f"subject ({lang})")
    _audit(session, "issue.edit", actor, issue, field="subject", lang=lang)


def languages_of(config: Config, issue: Issue) -> Sequence[str]:
    """The issue's languages as it was built (a later change to its campaign adds none)."""
    built = list((issue.snapshot or {}).get("languages") or [])
    campaign = config.campaigns.get(issue.campaign.slug)
    return built or (list(campaign.languages) if campaign is not None else [])
