"""The console's draft editor and send schedule; the work is in ``outreach.staff.drafts``.

``GET …/edit`` shows one language of the draft: its introduction, every item
with buttons to move, pin or drop it and a form for its title and summary, a
form to add a manual item, and the preview as it is now. Every change is a
POST form with the CSRF token answered by a redirect back to the editor.
Scheduling (and cancelling a schedule) belongs to approvers, on the issue page.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, BackgroundTasks, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from outreach.models import Issue
from outreach.staff import drafts
from outreach.web.common import RowId, state
from outreach.web.staff.guard import now
from outreach.web.staff.issues import BASE, Approver, Editor, _act, _actor, _back, _load
from outreach.web.staff.view import lang_of, page

router = APIRouter()
FormStr = Annotated[str | None, Form()]
ITEM = BASE + "/items/{item_id}"


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
) -> RedirectResponse:
    extra: dict[str, Any] = {"item": item} if item is not None else {}
    _, refused = _act(request, city, issue_id, csrf_token, work)
    if refused:
        return _to_editor(request, city, issue_id, edition, refused=refused, **extra)
    return _to_editor(request, city, issue_id, edition, done="saved", **extra)


@router.get(BASE + "/edit")
def editor(
    request: Request, city: str, issue_id: RowId, current: Editor, edition: str | None = None
) -> Response:
    st = state(request)
    with st.session() as session:
        issue = _load(session, city, issue_id)
        langs = list(drafts.languages_of(st.config, issue))
        shown = edition if edition in langs else (langs[0] if langs else "")
        data = ((issue.snapshot or {}).get("languages") or {}).get(shown) or {}
        context = {
            "issue": issue,
            "status": issue.status.value,
            "langs": langs,
            "edition": shown,
            "data": data,
            "sections": data.get("sections") or [],
            "done": request.query_params.get("done"),
            "refused": request.query_params.get("refused"),
            "base": f"/staff/{city}/issues/{issue_id}",
        }
    response = page(request, "staff/edit.html", context, current=current, city=city)
    csp = response.headers["Content-Security-Policy"]
    response.headers["Content-Security-Policy"] = csp.replace(
        "script-src 'none'", "script-src 'none'; frame-src 'self'"
    )
    return response


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
        drafts.drop(session, issue, item_id, _actor(request, current))
        return None

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

    return _edit(request, city, issue_id, csrf_token, edition, work, item_id)


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

    return _edit(request, city, issue_id, csrf_token, edition, work)


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

    return _edit(request, city, issue_id, csrf_token, edition, work)


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
