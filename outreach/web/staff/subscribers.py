"""The console's subscribers: the list, one person's page and its actions, list exports.

Only parsing, calling and answering: the queries are ``outreach.subscriptions``
(:func:`search`, :func:`person`, :func:`rows_of`), the audited actions
``outreach.staff.people``. Every action is a POST form with the CSRF token that
redirects back with ``?done=`` or ``?refused=`` (worded in the page's language);
a form refused for what was typed shows its page again with the values kept and
each error at its field (:mod:`outreach.web.staff.form_refused`). Downloads are POST
too, since each is recorded in the audit log.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections.abc import Iterator
from typing import IO, Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from outreach.errors import AlreadySubscribed, StaffError, SubscriptionError
from outreach.l10n import LANGUAGES
from outreach.staff import Actor, Permission, people, sessions
from outreach.subscriptions import (
    CHANNELS,
    DETAIL_FIELDS,
    EXPORT_FIELDS,
    PURPOSES,
    SIZE_CLASSES,
    Filters,
    SignUp,
    check_purpose,
    city_name,
    person,
    rows_of,
    safe_cell,
    search,
    write_xlsx,
)
from outreach.subscriptions import (
    XLSX_MEDIA_TYPE as MEDIA_TYPE,
)
from outreach.web.common import RowId, check_csrf, state
from outreach.web.staff import form_refused
from outreach.web.staff.guard import Require, not_found, now
from outreach.web.staff.subscriber_fields import EDIT_IDS, NEW_IDS, refused_fields
from outreach.web.staff.view import acting, client, lang_of, page

router = APIRouter()
Viewer = Annotated[sessions.Current, Depends(Require(Permission.VIEW))]
Editor = Annotated[sessions.Current, Depends(Require(Permission.EDIT))]
Approver = Annotated[sessions.Current, Depends(Require(Permission.APPROVE))]
FormStr = Annotated[str | None, Form()]
FormList = Annotated[list[str] | None, Form()]
LIST = "/staff/{city}/subscribers"
ONE = LIST + "/{subscriber_id}"


def actor(request: Request, current: sessions.Current) -> Actor:
    return Actor(current.user.email, client(request))


def back(request: Request, path: str, **query: object) -> RedirectResponse:
    params = {"lang": lang_of(request), **{k: str(v) for k, v in query.items()}}
    return RedirectResponse(f"{path}?{urlencode(params)}", status_code=303)


def refusal(exc: Exception) -> str:
    """A code the pages word for a refused change."""
    text = str(exc)
    if isinstance(exc, StaffError):
        return "other-cities"
    if "consent note" in text or "consent-note" in text:
        return "consent"
    if "business ID" in text:
        return "business-id"
    if "e-mail" in text or "email" in text or "address" in text:
        return "email"
    return "invalid"


def city_choices(request: Request, city: str) -> dict[str, Any]:
    """The values the forms offer: the city's topics and languages, sizes, channels;
    and every topic's name in the page's language (a subscription may keep a topic
    the city no longer offers)."""
    config = state(request).config
    lang = lang_of(request)
    cfg = config.cities[city]
    names = {t: str(given.get(lang) or t) for t, given in config.topics.items()}
    topics = [(t, names.get(t, t)) for t in cfg.topics]
    return {"topics": topics, "topic_names": names,
            "languages": [c for c in LANGUAGES if c in cfg.languages],
            "all_languages": list(LANGUAGES), "sizes": list(SIZE_CLASSES),
            "channels": list(CHANNELS), "purposes": list(PURPOSES)}  # fmt: skip


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and len(value) < 19 else None


@router.get(LIST)
def subscriber_list(request: Request, city: str, current: Viewer) -> Response:
    return _list_page(request, city, current, Filters.parse(dict(request.query_params)))


def _list_page(
    request: Request, city: str, current: sessions.Current, filters: Filters, *,
    status: int = 200, **shown: Any,
) -> Response:  # fmt: skip
    params = request.query_params
    st = state(request)
    with st.session() as session:
        found = search(
            session, city, filters, after=_int(params.get("after")),
            before=_int(params.get("before")), last=params.get("last") == "1",
        )  # fmt: skip
    base = {"lang": lang_of(request), **filters.query()}
    context = {
        "found": found, "filters": filters, "filter_query": urlencode(base),
        "may_edit": current.principal.can(Permission.EDIT, city),
        "done": params.get("done"), "refused": params.get("refused"),
        **city_choices(request, city), **shown,
    }  # fmt: skip
    return page(request, "staff/subscribers.html", context, current=current, city=city,
                status=status)  # fmt: skip


@router.post(LIST + "/export")
def export_list(
    request: Request, city: str, current: Editor, csrf_token: FormStr = None,
    fmt: FormStr = "csv", purpose: FormStr = "crm", q: FormStr = None, status: FormStr = None,
    topic: FormStr = None, language: FormStr = None, size_class: FormStr = None,
    industry: FormStr = None, visit: FormStr = None, channel: FormStr = None,
) -> Response:  # fmt: skip
    check_csrf(request, csrf_token)
    filters = Filters.parse({"q": q, "status": status, "topic": topic, "language": language,
                             "size_class": size_class, "industry": industry, "visit": visit,
                             "channel": channel})  # fmt: skip
    try:
        check_purpose(purpose or "", filters.status or None)
    except SubscriptionError:
        shown = form_refused.shown_again([("purpose", "purpose")], {"purpose": purpose, "fmt": fmt})
        return _list_page(request, city, current, filters, status=form_refused.STATUS, **shown)
    kind = "xlsx" if fmt == "xlsx" else "csv"
    st = state(request)
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=4 << 20)  # noqa: SIM115
    with st.session() as session:
        rows = ([data[name] for name in EXPORT_FIELDS]
                for data in rows_of(session, city, filters))  # fmt: skip
        if kind == "xlsx":
            count = write_xlsx(spool, EXPORT_FIELDS, rows, sheet=city)
        else:
            text = io.TextIOWrapper(spool, encoding="utf-8", newline="", write_through=True)
            writer = csv.writer(text)
            writer.writerow(EXPORT_FIELDS)
            count = 0
            for row in rows:
                writer.writerow([safe_cell(v) for v in row])
                count += 1
            text.detach()
        people.exported(session, city, actor(request, current), what="subscribers.export",
                        purpose=purpose, detail={"format": kind, "rows": count,
                                                 **filters.query()}, now=now(request))  # fmt: skip
        session.commit()
    spool.seek(0)
    media = MEDIA_TYPE if kind == "xlsx" else "text/csv; charset=utf-8"
    return _download(spool, media, f"{city}-subscribers.{kind}")


def _download(spool: IO[bytes], media: str, name: str) -> StreamingResponse:
    def chunks() -> Iterator[bytes]:
        with spool:
            while chunk := spool.read(1 << 16):
                yield chunk

    headers = {"Content-Disposition": f'attachment; filename="{name}"',
               "Cache-Control": "no-store"}  # fmt: skip
    return StreamingResponse(chunks(), media_type=media, headers=headers)


@router.get(LIST + "/new")
def new_form(request: Request, city: str, current: Editor) -> Response:
    return _new_page(request, city, current)


def _new_page(
    request: Request, city: str, current: sessions.Current, *, status: int = 200, **shown: Any
) -> Response:
    context = {"refused": request.query_params.get("refused"), **city_choices(request, city),
               **shown}  # fmt: skip
    return page(request, "staff/subscriber_new.html", context, current=current, city=city,
                status=status)  # fmt: skip


def _new_again(
    request: Request, city: str, current: sessions.Current, given: dict[str, Any],
    exc: Exception | None,
) -> Response:  # fmt: skip
    """The add form again with what was typed and where it goes wrong."""
    problems = refused_fields(refusal(exc) if exc else None, str(exc or ""), given, NEW_IDS)
    typed = {NEW_IDS.get(k, k): v for k, v in given.items()}
    return _new_page(request, city, current, status=form_refused.STATUS,
                     **form_refused.shown_again(problems, typed))  # fmt: skip


@router.post(LIST + "/new")
def add(
    request: Request, city: str, current: Editor, csrf_token: FormStr = None,
    email: FormStr = None, topics: FormList = None, language: FormStr = None,
    company_name: FormStr = None, business_id: FormStr = None, contact_name: FormStr = None,
    size_class: FormStr = None, industry_code: FormStr = None, confirmed: FormStr = None,
    consent_note: FormStr = None,
) -> Response:  # fmt: skip
    check_csrf(request, csrf_token)
    st = state(request)
    given = {"email": email, "company_name": company_name, "business_id": business_id,
             "contact_name": contact_name, "industry_code": industry_code, "language": language,
             "size_class": size_class, "topics": topics or [], "confirmed": bool(confirmed),
             "consent_note": consent_note}  # fmt: skip
    with st.session() as session:
        try:
            signup = SignUp.clean(
                st.config, city, email=email or "", topics=topics or [], language=language,
                company_name=company_name, business_id=business_id, contact_name=contact_name,
                size_class=size_class or None, industry_code=industry_code,
            )  # fmt: skip
            added = people.add(session, st.settings, st.config, st.mailer, city,
                               actor(request, current), signup, confirmed=bool(confirmed),
                               consent_note=consent_note, now=now(request))  # fmt: skip
        except AlreadySubscribed as exc:  # their page, saying so; nothing was changed
            session.rollback()
            return back(request, ONE.format(city=city, subscriber_id=exc.subscriber_id),
                        refused="already-subscribed")  # fmt: skip
        except SubscriptionError as exc:
            session.rollback()
            return _new_again(request, city, current, given, exc)
        session.commit()
    if added is None:
        return _new_again(request, city, current, given, None)
    return back(request, ONE.format(city=city, subscriber_id=added), done="added")


@router.get(ONE)
def subscriber_page(request: Request, city: str, subscriber_id: RowId, current: Viewer) -> Response:
    return _person_page(request, city, subscriber_id, current)


def _person_page(
    request: Request, city: str, subscriber_id: int, current: sessions.Current, *,
    status: int = 200, **shown: Any,
) -> Response:  # fmt: skip
    st = state(request)
    with st.session() as session:
        view = person(session, st.settings, city, subscriber_id)
        if view is None:
            raise not_found()
        principal = current.principal
        context = {
            "p": view, "s": view.subscriber, "sub": view.subscription,
            "others_hidden": sum(1 for c in view.other_cities if not principal.sees(c)),
            "others_seen": [city_name(st.config, c, lang_of(request))
                            for c in view.other_cities if principal.sees(c)],
            "may_edit": principal.can(Permission.EDIT, city),
            "may_forget": principal.can(Permission.APPROVE, city),
            "done": request.query_params.get("done"),
            "refused": request.query_params.get("refused"),
            "base": ONE.format(city=city, subscriber_id=subscriber_id),
            "tz": st.config.cities[city].timezone, **city_choices(request, city), **shown,
        }  # fmt: skip
        return page(request, "staff/subscriber.html", context, current=current, city=city,
                    status=status)  # fmt: skip


@router.post(ONE + "/edit")
def edit(
    request: Request, city: str, subscriber_id: RowId, current: Editor, csrf_token: FormStr = None,
    topics: FormList = None, language: FormStr = None, company_name: FormStr = None,
    business_id: FormStr = None, contact_name: FormStr = None, size_class: FormStr = None,
    industry_code: FormStr = None, visit: FormStr = None, cooperation: FormStr = None,
) -> Response:  # fmt: skip
    st = state(request)
    given = {"language": language, "company_name": company_name, "business_id": business_id,
             "contact_name": contact_name, "size_class": size_class or None,
             "industry_code": industry_code}  # fmt: skip
    here = ONE.format(city=city, subscriber_id=subscriber_id)
    with acting(request, csrf_token) as session:
        try:
            people.edit(session, st.config, current.principal, city, subscriber_id,
                        actor(request, current), details={n: given[n] for n in DETAIL_FIELDS},
                        topics=topics or [], visit=bool(visit), cooperation=bool(cooperation),
                        now=now(request))  # fmt: skip
        except StaffError as exc:  # not a field's fault: a role in another city is missing
            session.rollback()
            return back(request, here, refused=refusal(exc))
        except SubscriptionError as exc:
            session.rollback()
            typed = {**given, "topics": topics or [], "visit": bool(visit),
                     "cooperation": bool(cooperation)}  # fmt: skip
            return _edit_again(request, city, subscriber_id, current, typed, exc)
    return back(request, here, done="saved")


def _edit_again(
    request: Request, city: str, subscriber_id: int, current: sessions.Current,
    given: dict[str, Any], exc: Exception,
) -> Response:  # fmt: skip
    """The person's page again with the edit as typed and where it goes wrong."""
    problems = refused_fields(refusal(exc), str(exc), given, EDIT_IDS)
    typed = {EDIT_IDS.get(k, k): v for k, v in given.items()}
    return _person_page(request, city, subscriber_id, current, status=form_refused.STATUS,
                        **form_refused.shown_again(problems, typed))  # fmt: skip


@router.post(ONE + "/unsubscribe")
def unsubscribe(
    request: Request, city: str, subscriber_id: RowId, current: Editor, csrf_token: FormStr = None
) -> Response:
    with acting(request, csrf_token) as session:
        people.unsubscribe(session, city, subscriber_id, actor(request, current), now(request))
    return back(request, ONE.format(city=city, subscriber_id=subscriber_id), done="unsubscribed")


@router.get(ONE + "/forget")
def forget_confirm(
    request: Request, city: str, subscriber_id: RowId, current: Approver
) -> Response:
    st = state(request)
    with st.session() as session:
        view = person(session, st.settings, city, subscriber_id)
        if view is None:
            raise not_found()
        context = {"s": view.subscriber, "base": ONE.format(city=city, subscriber_id=subscriber_id),
                   "refused": request.query_params.get("refused")}  # fmt: skip
        return page(request, "staff/subscriber_forget.html", context, current=current, city=city)


@router.post(ONE + "/forget")
def forget(
    request: Request, city: str, subscriber_id: RowId, current: Approver,
    csrf_token: FormStr = None, confirm: FormStr = None,
) -> Response:  # fmt: skip
    here = ONE.format(city=city, subscriber_id=subscriber_id)
    st = state(request)
    with acting(request, csrf_token) as session:
        if confirm != "erase":  # the confirmation page's button sends it
            return back(request, here + "/forget")
        try:
            people.forget_person(session, st.settings, current.principal, city, subscriber_id,
                                 actor(request, current), now(request))  # fmt: skip
        except StaffError as exc:
            session.rollback()
            return back(request, here, refused=refusal(exc))
    return back(request, LIST.format(city=city), done="forgotten")


@router.post(ONE + "/export")
def export_person(
    request: Request, city: str, subscriber_id: RowId, current: Editor, csrf_token: FormStr = None
) -> Response:
    st = state(request)
    with acting(request, csrf_token) as session:
        data = people.export_person(
            session, st.settings, current.principal, city, subscriber_id,
            actor(request, current), now(request),
        )  # fmt: skip
    body = json.dumps(data, ensure_ascii=False, indent=2)
    headers = {"Content-Disposition": f'attachment; filename="subscriber-{subscriber_id}.json"',
               "Cache-Control": "no-store"}  # fmt: skip
    return Response(body, media_type="application/json", headers=headers)
