"""The console's issue page and its actions; the work is in ``outreach.staff.workflow``.

Every action is a POST form with the CSRF token; the answer is a redirect back
to the page with ``?done=`` or ``?refused=`` (a code the page words in the
person's language), or, when a form is refused for what was typed (a subject,
the test list, a time to send), the page again with the values kept and the
error at its field (:mod:`outreach.web.staff.form_refused`). An issue loaded by id
must belong to the path's city.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, BackgroundTasks, Depends, Form, Request
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from outreach.campaigns import form
from outreach.errors import OutreachError
from outreach.models import Issue
from outreach.staff import Permission, sessions
from outreach.staff import issue_view as view_of_issue
from outreach.staff import workflow as flow
from outreach.web.common import RowId, check_csrf, state
from outreach.web.staff import form_refused
from outreach.web.staff.guard import Require, not_found, now
from outreach.web.staff.view import client, lang_of, page

log = logging.getLogger(__name__)
router = APIRouter()
Viewer = Annotated[sessions.Current, Depends(Require(Permission.VIEW))]
Editor = Annotated[sessions.Current, Depends(Require(Permission.EDIT))]
Approver = Annotated[sessions.Current, Depends(Require(Permission.APPROVE))]
FormStr = Annotated[str | None, Form()]
BASE = "/staff/{city}/issues/{issue_id}"
#: The test list's field, for each refusal of it.
ADDRESS_FIELDS = {"bad_address": "addresses", "too_many_addresses": "addresses"}
WIDTHS = ("desktop", "phone")
#: The preview document: no script, no request but images, framed only by the console.
PREVIEW_CSP = (
    "default-src 'none'; img-src https: http: data:; style-src 'unsafe-inline'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'self'; sandbox"
)


def _load(session: Session, city: str, issue_id: int) -> Issue:
    issue = flow.city_issue(session, city, issue_id)
    if issue is None:
        raise not_found()
    return issue


def _back(request: Request, city: str, issue_id: int, **query: object) -> RedirectResponse:
    params = {"lang": lang_of(request), **{k: str(v) for k, v in query.items()}}
    url = f"/staff/{city}/issues/{issue_id}?{urlencode(params)}"
    return RedirectResponse(url, status_code=303)


def _actor(request: Request, current: sessions.Current) -> flow.Actor:
    return flow.Actor(current.user.email, client(request))


@router.get(BASE)
def issue_view(
    request: Request,
    city: str,
    issue_id: RowId,
    current: Viewer,
    background: BackgroundTasks,
    edition: str | None = None,
    width: str = "desktop",
    part: str = "html",
) -> Response:
    return _issue_page(request, city, issue_id, current, background, edition, width, part)


def _issue_page(
    request: Request,
    city: str,
    issue_id: int,
    current: sessions.Current,
    background: BackgroundTasks,
    edition: str | None = None,
    width: str = "desktop",
    part: str = "html",
    *,
    status: int = 200,
    **again: object,
) -> Response:
    st = state(request)
    with st.session() as session:
        issue = _load(session, city, issue_id)
        view = view_of_issue.issue_page(session, st.settings, st.config, issue, now=now(request))
    checking = view.needs_check
    if checking and not view_of_issue.checking(issue_id):  # the last report now, a fresh one after
        background.add_task(view_of_issue.check_in_background, st.settings, st.config, issue_id)
    langs = [v.lang for v in view.languages]
    # the edition asked for, else the reader's language where the issue has it
    default = lang_of(request) if lang_of(request) in langs else (langs[0] if langs else None)
    shown = edition if edition in langs else default
    context = {
        "view": view,
        "ov": view.overview,
        "edition": shown,
        "width": width if width in WIDTHS else "desktop",
        "part": "text" if part == "text" else "html",
        "done": request.query_params.get("done"),
        "refused": request.query_params.get("refused"),
        "count": request.query_params.get("n"),
        "checking": checking,
        "at": request.query_params.get("at"),
        "tz": view.overview.timezone,
        "may_approve": current.principal.can(Permission.APPROVE, city),
        "may_edit": current.principal.can(Permission.EDIT, city),
        "base": f"/staff/{city}/issues/{issue_id}",
        "placeholders": form.PLACEHOLDERS,
        **again,
    }
    response = page(request, "staff/issue.html", context, current=current, city=city,
                    status=status)  # fmt: skip
    response.headers["Content-Security-Policy"] = response.headers[
        "Content-Security-Policy"
    ].replace("script-src 'none'", "script-src 'self'; connect-src 'self'; frame-src 'self'")
    return response


def refused_again(
    request: Request,
    city: str,
    issue_id: int,
    current: sessions.Current,
    code: str,
    fields: Mapping[str, str],
    typed: Mapping[str, object],
    detail: str = "",
) -> Response:
    """The issue page again after a form's input was refused: the values typed kept,
    the refusal ``code`` at the field ``fields`` names for it."""
    tasks = BackgroundTasks()
    shown = form_refused.shown_again(form_refused.at(code, fields), typed, detail)
    response = _issue_page(request, city, issue_id, current, tasks, status=form_refused.STATUS,
                           **shown)  # fmt: skip
    response.background = tasks  # a stale check starts after the answer, as on a GET
    return response


@router.get(BASE + "/preview/{edition}")
def issue_preview(
    request: Request, city: str, issue_id: RowId, edition: str, current: Viewer, part: str = "html"
) -> Response:
    st = state(request)
    with st.session() as session:
        issue = _load(session, city, issue_id)
        if edition not in flow.languages_of(st.config, issue):
            raise not_found()
        try:
            body = view_of_issue.preview_of(
                st.settings, st.config, issue, edition, text=part == "text"
            )
        except OutreachError as exc:
            body, part = str(exc), "text"
    headers = {
        "Content-Security-Policy": PREVIEW_CSP,
        "X-Frame-Options": "SAMEORIGIN",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
    }
    if part == "text":
        return PlainTextResponse(body, headers=headers)
    return Response(body, media_type="text/html; charset=utf-8", headers=headers)


@router.get(BASE + "/progress")
def issue_progress(request: Request, city: str, issue_id: RowId, current: Viewer) -> Response:
    st = state(request)
    with st.session() as session:
        counts = view_of_issue.progress(session, _load(session, city, issue_id))
    return JSONResponse(counts, headers={"Cache-Control": "no-store"})


def _act(
    request: Request,
    city: str,
    issue_id: RowId,
    csrf_token: str | None,
    work: Callable[[Session, Issue], object],
) -> tuple[object | None, str | None]:
    """Run ``work`` on the city's issue in one transaction; (its result, refusal code)."""
    check_csrf(request, csrf_token)
    st = state(request)
    with st.session() as session:
        issue = _load(session, city, issue_id)
        try:
            result = work(session, issue)
        except flow.Refused as exc:
            session.commit()  # the refusal's audit event stays
            return None, exc.code
        except OutreachError as exc:
            session.rollback()
            log.info("console action on issue %s refused: %s", issue_id, exc)
            return None, "state"
        session.commit()
    return result, None


@router.post(BASE + "/approve")
def approve(
    request: Request,
    city: str,
    issue_id: RowId,
    current: Approver,
    csrf_token: FormStr = None,
    override: FormStr = None,
) -> Response:
    st = state(request)
    reason = override if override and override.strip() else None

    def work(session: Session, issue: Issue) -> object:
        actor = _actor(request, current)
        return flow.approve(session, st.settings, st.config, issue, actor, override=reason)

    outcome, refused = _act(request, city, issue_id, csrf_token, work)
    if refused:
        return _back(request, city, issue_id, refused=refused)
    assert isinstance(outcome, flow.Approval)
    if outcome.issue is None:
        return _back(request, city, issue_id, refused="check", n=len(outcome.report.errors))
    return _back(request, city, issue_id, done="override" if reason else "approved")


@router.post(BASE + "/request-approval")
def request_approval(
    request: Request, city: str, issue_id: RowId, current: Editor, csrf_token: FormStr = None
) -> Response:
    st = state(request)

    def work(session: Session, issue: Issue) -> object:
        actor = _actor(request, current)
        return flow.request_approval(session, st.settings, st.config, issue, actor)

    sent, refused = _act(request, city, issue_id, csrf_token, work)
    if refused:
        return _back(request, city, issue_id, refused=refused)
    return _back(request, city, issue_id, done="requested", n=sent)


@router.post(BASE + "/test")
def test_send(
    request: Request,
    city: str,
    issue_id: RowId,
    current: Editor,
    csrf_token: FormStr = None,
    to_list: FormStr = None,
) -> Response:
    st = state(request)

    def work(session: Session, issue: Issue) -> object:
        actor = _actor(request, current)
        listed = to_list == "yes"
        return flow.send_tests(session, st.settings, st.config, issue, actor, to_list=listed)

    results, refused = _act(request, city, issue_id, csrf_token, work)
    if refused:
        return _back(request, city, issue_id, refused=refused)
    assert isinstance(results, list)
    failed = sum(1 for r in results if not r.ok)
    return _back(request, city, issue_id, done="test_failed" if failed else "test", n=len(results))


@router.post("/staff/{city}/test-addresses")
def save_test_addresses(
    request: Request,
    city: str,
    current: Editor,
    csrf_token: FormStr = None,
    addresses: FormStr = None,
    issue: FormStr = None,
) -> Response:
    check_csrf(request, csrf_token)
    st = state(request)
    refusal = None
    with st.session() as session:
        try:
            flow.save_test_addresses(session, city, addresses or "", _actor(request, current))
            session.commit()
        except flow.Refused as exc:
            refusal = exc
    back = int(issue) if issue and issue.isdigit() else None
    if back is None:
        return RedirectResponse(f"/staff/{city}/?lang={lang_of(request)}", status_code=303)
    if refusal is not None:
        return refused_again(request, city, back, current, refusal.code, ADDRESS_FIELDS,
                             {"addresses": addresses or ""}, refusal.detail)  # fmt: skip
    return _back(request, city, back, done="addresses")


def _send_after(background: BackgroundTasks, request: Request, issue_id: int) -> None:
    st = state(request)
    background.add_task(flow.run_send, st.settings, st.config, issue_id)


@router.post(BASE + "/send")
def send_now(
    request: Request,
    city: str,
    issue_id: RowId,
    current: Approver,
    background: BackgroundTasks,
    csrf_token: FormStr = None,
) -> Response:
    st = state(request)

    def work(session: Session, issue: Issue) -> object:
        return flow.start_send(session, st.settings, st.config, issue, _actor(request, current))

    queued, refused = _act(request, city, issue_id, csrf_token, work)
    if refused:
        return _back(request, city, issue_id, refused=refused)
    _send_after(background, request, issue_id)
    return _back(request, city, issue_id, done="sending", n=queued)


def _control(action: str) -> Callable[..., Response]:
    def handler(
        request: Request,
        city: str,
        issue_id: RowId,
        current: Approver,
        background: BackgroundTasks,
        csrf_token: FormStr = None,
    ) -> Response:
        def work(session: Session, issue: Issue) -> object:
            flow.control(session, issue, action, _actor(request, current))
            return None

        _, refused = _act(request, city, issue_id, csrf_token, work)
        if refused:
            return _back(request, city, issue_id, refused=refused)
        if action == "resume":
            _send_after(background, request, issue_id)
        return _back(request, city, issue_id, done=action)

    handler.__name__ = f"issue_{action}"
    return handler


for _action in ("pause", "resume", "cancel"):
    router.add_api_route(BASE + f"/{_action}", _control(_action), methods=["POST"])


@router.post(BASE + "/discard")
def discard(
    request: Request, city: str, issue_id: RowId, current: Editor, csrf_token: FormStr = None
) -> Response:
    def work(session: Session, issue: Issue) -> object:
        return flow.discard(session, issue, _actor(request, current))

    released, refused = _act(request, city, issue_id, csrf_token, work)
    if refused:
        return _back(request, city, issue_id, refused=refused)
    return _back(request, city, issue_id, done="discarded", n=released)


@router.post(BASE + "/subject")
def edit_subject(
    request: Request,
    city: str,
    issue_id: RowId,
    current: Editor,
    csrf_token: FormStr = None,
    edition: FormStr = None,
    subject: FormStr = None,
) -> Response:
    def work(session: Session, issue: Issue) -> object:
        actor = _actor(request, current)
        flow.edit_subject(session, issue, edition or "", subject or "", actor)
        return None

    _, refused = _act(request, city, issue_id, csrf_token, work)
    if refused == "bad_subject":
        at, typed = {refused: f"subject-{edition}"}, {f"subject-{edition}": subject or ""}
        return refused_again(request, city, issue_id, current, refused, at, typed)
    if refused:
        return _back(request, city, issue_id, refused=refused)
    return _back(request, city, issue_id, done="edited")
