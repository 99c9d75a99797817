"""The console's draft editor and send schedule; the work is in ``outreach.staff.drafts``.

``GET …/edit`` shows one language of the draft: its introduction, every item
with buttons to move, pin or drop it and a form for its title and summary, a
form to add a manual item, and the preview as it is now. Every change is a
POST form with the CSRF token answered by a redirect back to the editor; a text
refused (a title, a summary, a link, the introduction) shows the editor again
with what was typed and the error at its field. Scheduling (and cancelling a
schedule) belongs to approvers, on the issue page.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, BackgroundTasks, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from outreach.models import Issue
from outreach.staff import drafts, sessions
from outreach.web.common import RowId, state
from outreach.web.staff import form_refused
from outreach.web.staff.guard import now
from outreach.web.staff.issues import (
    BASE,
    Approver,
    Editor,
    _act,
    _actor,
    _back,
    _load,
    refused_again,
)
from outreach.web.staff.view import lang_of, page

router = APIRouter()
FormStr = Annotated[str | None, Form()]
ITEM = BASE + "/items/{item_id}"
#: The field of the form to add an item by hand that each refusal is about.
ADD_FIELDS = {"bad_title": "add-title", "bad_summary": "add-summary", "bad_url": "add-url",
              "no_section": "add-section", "events_section": "add-section"}  # fmt: skip
#: The field of the schedule form that each refusal is about.
WHEN_FIELDS = {"bad_time": "send-day", "past": "send-day", "too_far": "send-day"}


def _to_editor(request: Request, city: str, issue_id: int, edition: str | None, **query: object
               ) -> RedirectResponse:  # fmt: skip
    params: dict[str, str] = {"lang": lang_of(request)}
    if edition:
        params["edition"] = edition
    params.update({k: str(v) for k, v in query.items()})
    anchor = f"#item-{query['item']}" if "item" in query else ""
    url = f"/staff/{city}/issues/{issue_id}/edit?{urlencode(params)}{anchor}"
    return RedirectResponse(url, status_code=303)


def _edit(
    request: Request,
    city: str,
    issue_id: int,
    csrf_token: str | None,
    edition: str | None,
    work: Callable[[Session, Issue], object],
    item: int | None = None,
    *,
    typed: Mapping[str, str] | None = None,
    fields: Mapping[str, str] | None = None,
    current: sessions.Current | None = None,
) -> Response:
    """Do ``work``; a text form refused for what was typed (``typed``: its values by
    element id, ``fields``: the element id of each such refusal code) comes back with it."""
    extra: dict[str, Any] = {"item": item} if item is not None else {}
    result, refused = _act(request, city, issue_id, csrf_token, work)
    if refused and refused in (fields or {}) and typed is not None and current is not None:
        shown = form_refused.shown_again(form_refused.at(refused, fields or {}), typed)
        return _editor_page(request, city, issue_id, current, edition,
                            status=form_refused.STATUS, **shown)  # fmt: skip
    if refused:
        return _to_editor(request, city, issue_id, edition, refused=refused, **extra)
    said = result if isinstance(result, dict) else {"done": "saved"}  # what the flash says
    return _to_editor(request, city, issue_id, edition, **said, **extra)


@router.get(BASE + "/edit")
def editor(
    request: Request, city: str, issue_id: RowId, current: Editor, edition: str | None = None
) -> Response:
    return _editor_page(request, city, issue_id, current, edition)


def _editor_page(
    request: Request,
    city: str,
    issue_id: int,
    current: sessions.Current,
    edition: str | None,
    *,
    status: int = 200,
    **again: object,
) -> Response:
    st = state(request)
    with st.session() as session:
        issue = _load(session, city, issue_id)
        langs = list(drafts.languages_of(st.config, issue))
        default = lang_of(request) if lang_of(request) in langs else (langs[0] if langs else "")
        shown = edition if edition in langs else default  # else the reader's language
        data = ((issue.snapshot or {}).get("languages") or {}).get(shown) or {}
        context = {
            "issue": issue,
            "status": issue.status.value,
            "langs": langs,
            "edition": shown,
            "data": data,
            "sections": data.get("sections") or [],
            "recurring": drafts.recurring_dates(data.get("sections") or []),
            "done": request.query_params.get("done"),
            "dates": _count(request.query_params.get("dates")),
            "refused": request.query_params.get("refused"),
            "base": f"/staff/{city}/issues/{issue_id}",
            **again,
        }
    response = page(request, "staff/edit.html", context, current=current, city=city,
                    status=status)  # fmt: skip
    csp = response.headers["Content-Security-Policy"]
    response.headers["Content-Security-Policy"] = csp.replace(
        "script-src 'none'", "script-src 'none'; frame-src 'self'"
    )
    return response


def _count(value: str | None) -> int:
    """A count from the address (the dates a drop took out): digits, else 0."""
    return int(value) if value and value.isascii() and value.isdigit() and len(value) < 6 else 0


@router.post(ITEM + "/move")
def move(
    request: Request,
    city: str,
    issue_id: RowId,
    item_id: RowId,
    current: Editor,
    csrf_token: FormStr = None,
    edition: FormStr = None,
    direction: FormStr = None,
) -> Response:
    offset = -1 if direction == "up" else 1

    def work(session: Session, issue: Issue) -> object:
        drafts.move(session, issue, item_id, offset, _actor(request, current))
        return None

    return _edit(request, city, issue_id, csrf_token, edition, work, item_id)


@router.post(ITEM + "/drop")
def drop(
    request: Request,
    city: str,
    issue_id: RowId,
    item_id: RowId,
    current: Editor,
    csrf_token: FormStr = None,
    edition: FormStr = None,
) -> Response:
    def work(session: Session, issue: Issue) -> object:
        dates = drafts.drop(session, issue, item_id, _actor(request, current))
        return {"done": "series", "dates": dates} if dates else None  # a recurring event

    return _edit(request, city, issue_id, csrf_token, edition, work)


@router.post(ITEM + "/pin")
def pin(
    request: Request,
    city: str,
    issue_id: RowId,
    item_id: RowId,
    current: Editor,
    csrf_token: FormStr = None,
    edition: FormStr = None,
    pinned: FormStr = None,
) -> Response:
    def work(session: Session, issue: Issue) -> object:
        drafts.pin(session, issue, item_id, pinned == "yes", _actor(request, current))
        return None

    return _edit(request, city, issue_id, csrf_token, edition, work, item_id)


@router.post(ITEM + "/text")
def item_text(
    request: Request,
    city: str,
    issue_id: RowId,
    item_id: RowId,
    current: Editor,
    csrf_token: FormStr = None,
    edition: FormStr = None,
    title: FormStr = None,
    summary: FormStr = None,
) -> Response:
    def work(session: Session, issue: Issue) -> object:
        actor = _actor(request, current)
        drafts.edit(session, issue, item_id, edition or "", title or "", summary or "", actor)
        return None

    at = {"bad_title": f"title-{item_id}", "bad_summary": f"summary-{item_id}"}
    typed = {f"title-{item_id}": title or "", f"summary-{item_id}": summary or ""}
    return _edit(request, city, issue_id, csrf_token, edition, work, item_id, typed=typed,
                 fields=at, current=current)  # fmt: skip


@router.post(BASE + "/items")
def add(
    request: Request,
    city: str,
    issue_id: RowId,
    current: Editor,
    csrf_token: FormStr = None,
    edition: FormStr = None,
    section: FormStr = None,
    title: FormStr = None,
    summary: FormStr = None,
    url: FormStr = None,
) -> Response:
    def work(session: Session, issue: Issue) -> object:
        actor = _actor(request, current)
        return drafts.add(
            session, issue, section or "", title or "", summary or "", url or "", actor
        )

    typed = {"add-section": section or "", "add-title": title or "",
             "add-summary": summary or "", "add-url": url or ""}  # fmt: skip
    return _edit(request, city, issue_id, csrf_token, edition, work, typed=typed,
                 fields=ADD_FIELDS, current=current)  # fmt: skip


@router.post(BASE + "/intro")
def intro(
    request: Request,
    city: str,
    issue_id: RowId,
    current: Editor,
    csrf_token: FormStr = None,
    edition: FormStr = None,
    intro: FormStr = None,
) -> Response:
    def work(session: Session, issue: Issue) -> object:
        drafts.intro(session, issue, edition or "", intro or "", _actor(request, current))
        return None

    return _edit(request, city, issue_id, csrf_token, edition, work, typed={"intro": intro or ""},
                 fields={"bad_intro": "intro"}, current=current)  # fmt: skip


@router.post(BASE + "/check")
def check(
    request: Request,
    city: str,
    issue_id: RowId,
    current: Editor,
    background: BackgroundTasks,
    csrf_token: FormStr = None,
) -> Response:
    """Run the pre-flight check again after the answer; the page shows it when done."""
    st = state(request)

    def work(session: Session, issue: Issue) -> object:
        if issue.status.value not in ("draft", "held"):
            raise drafts.Refused("not_draft")
        return None

    _, refused = _act(request, city, issue_id, csrf_token, work)
    if refused:
        return _back(request, city, issue_id, refused=refused)
    background.add_task(drafts.check_in_background, st.settings, st.config, issue_id)
    return _back(request, city, issue_id, done="checking")


@router.post(BASE + "/schedule")
def schedule(
    request: Request,
    city: str,
    issue_id: RowId,
    current: Approver,
    csrf_token: FormStr = None,
    day: FormStr = None,
    time: FormStr = None,
) -> Response:
    st = state(request)
    tz = st.config.cities[city].timezone

    def work(session: Session, issue: Issue) -> object:
        when = drafts.local_moment(day or "", time or "", tz)
        drafts.schedule(session, st.config, issue, when, _actor(request, current), now(request))
        return when

    when, refused = _act(request, city, issue_id, csrf_token, work)
    if refused in WHEN_FIELDS:
        typed = {"send-day": day or "", "send-time": time or ""}
        return refused_again(request, city, issue_id, current, refused, WHEN_FIELDS, typed)
    if refused:
        return _back(request, city, issue_id, refused=refused)
    assert isinstance(when, datetime)
    local = when.astimezone(ZoneInfo(tz))
    return _back(request, city, issue_id, done="scheduled", at=local.strftime("%Y-%m-%dT%H:%M"))


@router.post(BASE + "/unschedule")
def unschedule(
    request: Request, city: str, issue_id: RowId, current: Approver, csrf_token: FormStr = None
) -> Response:
    def work(session: Session, issue: Issue) -> object:
        drafts.unschedule(session, issue, _actor(request, current), now(request))
        return None

    _, refused = _act(request, city, issue_id, csrf_token, work)
    if refused:
        return _back(request, city, issue_id, refused=refused)
    return _back(request, city, issue_id, done="unscheduled")
